"""`evaluate` module: BLEU-1..4, METEOR, ROUGE-L and CIDEr-D as radiology report generation reports them."""

import datasets
import evaluate

from lrrg.metrics.nlg import compute_nlg

_CITATION = """\
@inproceedings{papineni2002bleu, title={BLEU: a method for automatic evaluation of machine translation},
  author={Papineni, Kishore and Roukos, Salim and Ward, Todd and Zhu, Wei-Jing}, booktitle={ACL}, year={2002}}
@inproceedings{banerjee2005meteor, title={METEOR: An automatic metric for MT evaluation with improved correlation
  with human judgments}, author={Banerjee, Satanjeev and Lavie, Alon}, booktitle={ACL Workshop}, year={2005}}
@inproceedings{lin2004rouge, title={ROUGE: A package for automatic evaluation of summaries}, author={Lin, Chin-Yew},
  booktitle={Text Summarization Branches Out}, year={2004}}
@inproceedings{vedantam2015cider, title={CIDEr: Consensus-based image description evaluation},
  author={Vedantam, Ramakrishna and Zitnick, C. Lawrence and Parikh, Devi}, booktitle={CVPR}, year={2015}}
@inproceedings{chen2020r2gen, title={Generating Radiology Reports via Memory-driven Transformer},
  author={Chen, Zhihong and Song, Yan and Chang, Tsung-Hui and Wan, Xiang}, booktitle={EMNLP}, year={2020}}
"""

_DESCRIPTION = """\
The natural-language-generation metrics of radiology report generation, equal (to 1e-4) to pycocoevalcap's
scorers on the same token strings. Default: the R2Gen convention (the report text as given, whitespace tokens,
no PTB tokenizer), which the R2Gen lineage (R2Gen, CMN, R2GenGPT, PromptMRG, ...) reports. `tokenizer="ptb"`
gives the COCO-caption convention (PTB tokenizer, punctuation dropped), which yields lower BLEU on the same
reports. `normalize="r2gen"` applies R2Gen's report cleaning to raw reports. METEOR needs Java; without it the
result has `meteor: None` and `meteor_unavailable` with the reason.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of str): generated reports.
    references (list of str or list of list of str): one reference (or several) per prediction.
    tokenizer (str): "none" (default, R2Gen convention) or "ptb" (COCO convention; needs Java).
    normalize (str or None): None (default) or "r2gen" (R2Gen's IU X-ray report cleaning).
    meteor (bool): compute METEOR (Java). Default True.
    return_per_example (bool): also return per-example values. Default False.
Returns:
    bleu_1, bleu_2, bleu_3, bleu_4, meteor, rouge_l, cider (floats; meteor None when unavailable),
    meteor_unavailable (str, only when METEOR could not run), num_examples, convention.
Examples:
    >>> nlg = evaluate.load("metrics/nlg")
    >>> result = nlg.compute(predictions=["the lungs are clear ."], references=["the lungs are clear ."],
    ...                      meteor=False)
    >>> round(result["bleu_4"], 4), round(result["rouge_l"], 4)
    (1.0, 1.0)
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Nlg(evaluate.Metric):
    """BLEU-1..4, METEOR, ROUGE-L, CIDEr-D (pycocoevalcap conventions)."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=[
                datasets.Features(
                    {
                        "predictions": datasets.Value("string"),
                        "references": datasets.Sequence(datasets.Value("string")),
                    }
                ),
                datasets.Features(
                    {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
                ),
            ],
            codebase_urls=["https://github.com/salaniz/pycocoevalcap", "https://github.com/zhjohnchan/R2Gen"],
            reference_urls=["https://arxiv.org/abs/2010.16056"],
        )

    def _compute(
        self, predictions, references, tokenizer="none", normalize=None, meteor=True, return_per_example=False
    ):
        return compute_nlg(
            predictions,
            references,
            tokenizer=tokenizer,
            normalize=normalize,
            meteor=meteor,
            return_per_example=return_per_example,
        )
