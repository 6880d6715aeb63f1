"""`evaluate` module: per-stratum scores with bootstrap CIs and the HQ->LQ drop of per-sample metric values."""

import datasets
import evaluate

from lrrg.metrics.robustness import bootstrap_ci, drop_with_ci

_CITATION = """\
@book{efron1994bootstrap, title={An Introduction to the Bootstrap}, author={Efron, Bradley and Tibshirani, Robert J},
  publisher={CRC press}, year={1994}}
@inproceedings{riezler2005some, title={On some pitfalls in automatic evaluation and significance testing for MT},
  author={Riezler, Stefan and Maxwell, John T}, booktitle={ACL Workshop}, year={2005}}
"""

_DESCRIPTION = """\
Robustness of a report generator to image quality: given per-sample values of any metric and each sample's
quality stratum (e.g. "hq", "lq", "synthetic"), the mean per stratum with a seeded percentile-bootstrap 95% CI
and the drop from HQ to LQ (absolute and relative) with its CI. The plain functions in
`lrrg.metrics.robustness` add per-kind / per-severity tables, the paired approximate-randomisation test,
markdown tables and plots.
"""

_KWARGS_DESCRIPTION = """
Args:
    scores (list of float): per-sample metric values.
    strata (list of str): each sample's quality stratum.
    hq (str): the high-quality stratum name ("hq"). lq (str): the low-quality one ("lq").
    num_resamples (int): bootstrap resamples (1000). seed (int): seed (0).
Returns:
    per_stratum: stratum -> {estimate, low, high, ...}; drop: the `drop_with_ci` result (when both strata exist).
Examples:
    >>> rob = evaluate.load("metrics/robustness")
    >>> out = rob.compute(scores=[0.5, 0.7, 0.2, 0.4], strata=["hq", "hq", "lq", "lq"])
    >>> round(out["drop"]["abs_drop"], 4)
    0.3
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Robustness(evaluate.Metric):
    """Per-stratum bootstrap CIs and the HQ->LQ drop."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"scores": datasets.Value("float64"), "strata": datasets.Value("string")}
            ),
        )

    def _compute(self, scores, strata, hq="hq", lq="lq", num_resamples=1000, seed=0):
        groups = {}
        for score, stratum in zip(scores, strata):
            groups.setdefault(stratum, []).append(score)
        out = {
            "per_stratum": {
                name: bootstrap_ci(values, num_resamples=num_resamples, seed=seed)
                for name, values in sorted(groups.items())
            }
        }
        if hq in groups and lq in groups:
            out["drop"] = drop_with_ci(groups[hq], groups[lq], num_resamples=num_resamples, seed=seed)
        return out
