"""AQAA judge plumbing: defensive parsing, borderline-only consultation, a tiny random local model."""

from __future__ import annotations

import pytest

from lrrg.dataset_scripts.aqaa import QualityAgent
from lrrg.dataset_scripts.degradations import degrade
from lrrg.dataset_scripts.phantoms import generate_phantom
from lrrg.dataset_scripts.quality_judge import JudgeVerdict, build_prompt, parse_verdict


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ('{"quality": "low", "reason": "noisy"}', "low"),
        ('Sure! ```json\n{"quality": "HIGH", "reason": "fine"}\n```', "high"),
        ("Quality: poor, too much noise.", "low"),
        ("quality: high. answer: low", None),  # contradictory -> abstain
        ("the the the <unk> lorem", None),
        ("", None),
        (None, None),
        ('{"quality": 3}', None),
        ("{not json", None),
    ],
)
def test_parse_verdict_is_defensive(text, label):
    verdict = parse_verdict(text)
    assert verdict.label == label
    if label is None:
        assert verdict.error


class _ScriptedJudge:
    """A stand-in judge that always answers the same and counts calls."""

    name = "scripted"

    def __init__(self, label):
        self.label, self.calls = label, 0

    def judge(self, image, flags):
        self.calls += 1
        assert "noise" in build_prompt(flags)
        return JudgeVerdict(self.label, reason="scripted")


def test_judge_only_for_borderline_and_can_override():
    image = generate_phantom(3, size=256).image
    judge = _ScriptedJudge("low")
    agent = QualityAgent(judge=judge)
    clear_low = agent.assess(degrade(image, "gaussian_noise", 5, 0))
    assert judge.calls == 0 and clear_low.judge is None
    threshold = agent.calibration["criteria"]["noise"]["threshold"]
    borderline = None
    for sigma_severity in (1, 2, 3):
        report = agent.assess(degrade(image, "gaussian_noise", sigma_severity, 0))
        if report.judge is not None:
            borderline = report
            break
    assert borderline is not None, f"no borderline case found around the noise threshold {threshold}"
    assert judge.calls == 1 and borderline.label == "low" and borderline.judge["label"] == "low"


@pytest.mark.slow
def test_tiny_random_local_model_abstains_without_crashing(tmp_path):
    torch = pytest.importorskip("torch")
    import lrrg.modeling_lrrg  # noqa: F401  (registers the LRRG classes with the Auto factories)
    from lrrg.dataset_scripts.quality_judge import QualityJudge
    from lrrg.modeling_lrrg.presets import build_model_and_processor

    corpus = [generate_phantom(i, size=32).findings for i in range(40)]
    model, processor = build_model_and_processor("tiny", corpus=corpus, seed=0)
    model.save_pretrained(tmp_path / "judge")
    processor.save_pretrained(tmp_path / "judge")
    torch.manual_seed(0)
    judge = QualityJudge(str(tmp_path / "judge"), max_new_tokens=8)
    image = generate_phantom(1, size=128).image
    verdict = judge.judge(image, QualityAgent().assess(image).flags)
    assert verdict.label in (None, "high", "low") and isinstance(verdict.raw, str)
    agent = QualityAgent(judge=judge, borderline=(0.0, 1e9))  # consult on every image
    report = agent.assess(image)
    assert report.judge is not None and report.label in ("high", "low")


def test_judge_load_error_is_clear(tmp_path):
    from lrrg.dataset_scripts.quality_judge import QualityJudge

    with pytest.raises(RuntimeError, match="cannot load the AQAA judge"):
        QualityJudge(str(tmp_path / "no-model"))
