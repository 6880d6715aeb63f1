"""`evaluate` module: RadGraph F1 (F1RadGraph reward, simple / partial / complete)."""

import datasets
import evaluate

from lrrg.metrics.radgraph import compute_radgraph, f1radgraph

_CITATION = """\
@inproceedings{delbrouck2022improving, title={Improving the Factual Correctness of Radiology Report Generation with
  Semantic Rewards}, author={Delbrouck, Jean-Benoit and others}, booktitle={Findings of EMNLP}, year={2022}}
@inproceedings{jain2021radgraph, title={RadGraph: Extracting Clinical Entities and Relations from Radiology Reports},
  author={Jain, Saahil and others}, booktitle={NeurIPS Datasets and Benchmarks}, year={2021}}
"""

_DESCRIPTION = """\
RadGraph F1: the F1RadGraph reward between the RadGraph annotations (entities with labels, and relations) of a
generated and a reference report, averaged over pairs. simple: entity (tokens, label) sets; partial: entities
with a flag for having relations; complete: entities without relations plus (entity, label, relation, target)
tuples. Annotations come from the RadGraph model (the `radgraph` package and its checkpoint) or are passed in.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of str): generated reports.
    references (list of str): reference reports.
    hyp_annotations, ref_annotations (list of dict, optional): RadGraph annotations of each side; when given
        the model is not run.
    model_type (str): "radgraph" (default), "radgraph-xl" or "modern-radgraph-xl".
    model_dir (str, optional): folder with the extracted checkpoint `<model_type>/{config.json,weights.th,...}`.
Returns:
    radgraph_simple, radgraph_partial, radgraph_complete (floats in [0, 1]), num_examples.
Examples:
    >>> rg = evaluate.load("metrics/radgraph")
    >>> ann = {"entities": {"1": {"tokens": "effusion", "label": "Observation::definitely absent",
    ...                           "relations": []}}}
    >>> rg.compute(predictions=["no effusion"], references=["no effusion"], hyp_annotations=[ann],
    ...            ref_annotations=[ann])["radgraph_complete"]
    1.0
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Radgraph(evaluate.Metric):
    """RadGraph F1 (simple / partial / complete)."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
            codebase_urls=["https://github.com/Stanford-AIMI/radgraph"],
            reference_urls=["https://arxiv.org/abs/2210.12186"],
        )

    def _compute(
        self, predictions, references, hyp_annotations=None, ref_annotations=None, model_type="radgraph",
        model_dir=None,
    ):  # fmt: skip
        if (hyp_annotations is None) != (ref_annotations is None):
            raise ValueError("pass both hyp_annotations and ref_annotations, or neither (to run the model)")
        if hyp_annotations is not None:
            if len(hyp_annotations) != len(predictions):
                raise ValueError(f"{len(hyp_annotations)} hyp_annotations for {len(predictions)} predictions")
            return f1radgraph(hyp_annotations, ref_annotations)
        return compute_radgraph(predictions, references, model_type=model_type, model_dir=model_dir)
