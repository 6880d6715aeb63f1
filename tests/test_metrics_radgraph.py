"""Tests of `lrrg.metrics.radgraph`: the F1RadGraph reward on the oracle annotations, errors."""

from __future__ import annotations

import importlib.util
import json

import pytest

from lrrg.metrics.radgraph import RadGraphAnnotator, f1radgraph, radgraph_reward


@pytest.fixture(scope="module")
def oracle_annotations(shared_data):
    reports = json.loads(
        (shared_data / "metric_oracles" / "radgraph" / "expected_processed_annotations.json").read_text()
    )
    return [r["processed_annotations"]["radgraph_annotations"]["0"] for r in reports]


@pytest.mark.shared_data
def test_reward_on_oracle_annotations(oracle_annotations):
    a = oracle_annotations
    # values of the radgraph package's `compute_reward(..., "all")` on the same annotations (checked once)
    assert tuple(radgraph_reward(a[0], a[2]).values()) == pytest.approx((0.32, 0.32, 0.2962962962962963))
    assert tuple(radgraph_reward(a[0], a[4]).values()) == pytest.approx((1 / 12, 1 / 12, 0.0))
    assert tuple(radgraph_reward(a[0], a[1]).values()) == (0.0, 0.0, 0.0)
    for ann in a:
        assert set(radgraph_reward(ann, ann).values()) == {1.0}


@pytest.mark.shared_data
def test_corpus_mean_and_empty_reports(oracle_annotations):
    a = oracle_annotations
    out = f1radgraph([a[0], a[0], None], [a[2], a[0], a[1]], return_per_example=True)
    assert out["radgraph_simple"] == pytest.approx((0.32 + 1.0 + 0.0) / 3)
    assert out["radgraph_complete"] == pytest.approx((0.2962962962962963 + 1.0) / 3)
    assert out["per_example"]["partial"] == pytest.approx([0.32, 1.0, 0.0])
    assert out["num_examples"] == 3


def test_complete_level_needs_matching_relations():
    def ann(rel_target_tokens):
        return {"entities": {
            "1": {"tokens": "effusion", "label": "Observation::definitely present", "relations": [["located_at", "2"]]},
            "2": {"tokens": rel_target_tokens, "label": "Anatomy::definitely present", "relations": []},
        }}  # fmt: skip

    out = radgraph_reward(ann("pleural"), ann("Pleural"))
    # relation tuples are compared lower-cased (they match), entities as written ("pleural" != "Pleural")
    assert out["complete"] == 0.5 and out["simple"] == 0.5
    out = radgraph_reward(ann("pleural"), ann("left"))
    assert out["partial"] == 0.5 and out["complete"] == 0.0


def test_bad_input():
    with pytest.raises(ValueError, match="'entities'"):
        radgraph_reward({"text": "x"}, {"entities": {}})
    with pytest.raises(ValueError, match="1 hypothesis annotations but 2"):
        f1radgraph([None], [None, None])


@pytest.mark.skipif(
    importlib.util.find_spec("radgraph") is not None, reason="the radgraph package is installed"
)
def test_annotator_without_package_explains_what_to_install():
    with pytest.raises(ImportError, match="pip install radgraph.*RRG_scorers"):
        RadGraphAnnotator()


def test_annotator_rejects_unknown_model_type():
    with pytest.raises(ValueError, match="model_type"):
        RadGraphAnnotator(model_type="radgraph-2")
