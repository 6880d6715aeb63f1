"""`evaluate` module: clinical efficacy (CheXpert-label precision / recall / F1) of generated reports."""

import datasets
import evaluate

from lrrg.metrics.chexbert import compute_clinical_efficacy

_CITATION = """\
@inproceedings{irvin2019chexpert, title={CheXpert: A large chest radiograph dataset with uncertainty labels and
  expert comparison}, author={Irvin, Jeremy and others}, booktitle={AAAI}, year={2019}}
@inproceedings{smit2020chexbert, title={CheXbert: Combining Automatic Labelers and Expert Annotations for Accurate
  Radiology Report Labeling Using BERT}, author={Smit, Akshay and others}, booktitle={EMNLP}, year={2020}}
@inproceedings{miura2021improving, title={Improving Factual Completeness and Consistency of Image-to-Text
  Radiology Report Generation}, author={Miura, Yasuhide and others}, booktitle={NAACL}, year={2021}}
"""

_DESCRIPTION = """\
Clinical efficacy of generated radiology reports: both the generated and the reference report are labelled with
the 14 CheXpert observations (by an offline CheXpert-style rule labeller, default, or by the CheXbert model when
its weights are available); the labels are compared as binary positives (uncertain counted as negative by
default). Reports micro / macro F1 over all 14 observations and over the 5 common ones, example-based precision /
recall / F1, exact-match accuracy and per-observation precision / recall / F1.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of str): generated reports.
    references (list of str): reference reports.
    labeller (str): "rules" (default, offline) or "chexbert" (needs `checkpoint`).
    uncertain (str): "negative" (default) or "positive": how an uncertain label counts.
    checkpoint (str, optional): CheXbert `chexbert.pth`, HF-format folder or Hub id (labeller="chexbert").
    tokenizer (str, optional): CheXbert tokenizer path or Hub id (default "bert-base-uncased").
Returns:
    chexbert_14_micro_f1, chexbert_14_macro_f1, chexbert_5_micro_f1, chexbert_5_macro_f1, micro precision /
    recall, example_precision, example_recall, example_f1, accuracy, per_observation, uncertain_policy, labeller.
Examples:
    >>> ce = evaluate.load("metrics/chexbert")
    >>> result = ce.compute(predictions=["Mild cardiomegaly. No pleural effusion."],
    ...                     references=["The heart is mildly enlarged. No effusion."])
    >>> result["chexbert_14_micro_f1"]
    1.0
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Chexbert(evaluate.Metric):
    """Clinical efficacy from CheXpert labels (rule labeller or CheXbert)."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
            codebase_urls=["https://github.com/stanfordmlgroup/CheXbert"],
            reference_urls=["https://arxiv.org/abs/2004.09167"],
        )

    def _compute(
        self, predictions, references, labeller="rules", uncertain="negative", checkpoint=None, tokenizer=None
    ):
        kwargs = {}
        if labeller == "chexbert":
            kwargs["checkpoint"] = checkpoint
            if tokenizer is not None:
                kwargs["tokenizer"] = tokenizer
        elif checkpoint is not None or tokenizer is not None:
            raise ValueError('checkpoint / tokenizer apply to labeller="chexbert" only')
        return compute_clinical_efficacy(
            predictions, references, backend=labeller, uncertain=uncertain, **kwargs
        )
