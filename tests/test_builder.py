"""The LRRG builder: phantoms, a fake MIMIC-CXR-JPG tree, IU X-ray text; splits, skips, cache and resume."""

from __future__ import annotations

import hashlib
import json
import types

import numpy as np
import pytest
from PIL import Image

from lrrg.dataset_scripts.builder import build_lrrg
from lrrg.dataset_scripts.hub import load_lrrg
from lrrg.dataset_scripts.image_io import ImageLoadError, open_image
from lrrg.dataset_scripts.sources import IuXraySource
from lrrg.dataset_scripts.sources.fake_trees import write_fake_mimic_tree

KINDS = ("gaussian_noise", "motion_blur")


class CountingAgent:
    """A deterministic stand-in for AQAA (label from the pixel content) that counts its calls."""

    def __init__(self, fail_after: int | None = None):
        self.calls = 0
        self.fail_after = fail_after

    def assess(self, image_or_path):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt("simulated interruption")
        self.calls += 1
        try:
            image = image_or_path if isinstance(image_or_path, Image.Image) else open_image(image_or_path)
        except ImageLoadError as error:
            return types.SimpleNamespace(label=None, score=0.0, reasons=[], error=str(error), flagged_criteria=())
        score = hashlib.md5(np.asarray(image).tobytes()).digest()[0] / 255
        low = score < 0.3
        return types.SimpleNamespace(
            label="low" if low else "high", score=score, error=None,
            reasons=["fake noise"] if low else [], flagged_criteria=("noise",) if low else (),
        )


def _build(out, agent, **kwargs):
    options = dict(num_studies=40, image_size=64, synthetic_kinds=KINDS, quality_agent=agent, progress=False, print_summary=False)
    options.update(kwargs)
    return build_lrrg("phantom", out, **options)


def test_phantom_build_splits_columns_and_synthetic(tmp_path):
    agent = CountingAgent()
    dataset = _build(tmp_path / "out", agent)
    assert list(dataset) == ["train", "validation", "test", "test_hq", "test_lq", "test_synthetic"]
    test, hq, lq = dataset["test"], dataset["test_hq"], dataset["test_lq"]
    assert len(test) == len(hq) + len(lq) > 0
    names = dataset["train"].features["quality_label"].names
    assert names == ["high", "low"]
    assert set(hq["quality_label"]) <= {0} and set(lq["quality_label"]) <= {1}
    synthetic = dataset["test_synthetic"]
    assert len(synthetic) == len(hq) * len(KINDS)
    kinds = synthetic.features["degradation"].names
    assert sorted({kinds[k] for k in synthetic["degradation"]}) == sorted(KINDS)
    assert set(synthetic["severity"]) == {3} and set(synthetic["image_id"]) == set(hq["image_id"])
    subjects = {split: set(dataset[split]["subject_id"]) for split in ("train", "validation", "test")}
    assert not subjects["train"] & subjects["test"] and not subjects["train"] & subjects["validation"]
    assert not subjects["validation"] & subjects["test"]
    row = dataset["train"][0]
    assert isinstance(row["image"], Image.Image) and row["findings"] and row["impression"]
    assert sum(len(dataset[s]) for s in ("train", "validation", "test")) == 40
    assert agent.calls == 40 + len(synthetic)
    summary = json.loads((tmp_path / "out" / "build_summary.json").read_text())
    assert summary["studies_seen"] == 40 and summary["assessed"] == agent.calls


def test_rebuild_uses_cache_and_interrupted_build_resumes(tmp_path):
    reference = CountingAgent()
    expected = _build(tmp_path / "reference", reference)
    total = reference.calls
    interrupted = CountingAgent(fail_after=total // 2)
    with pytest.raises(KeyboardInterrupt):
        _build(tmp_path / "out", interrupted)
    resumed = CountingAgent()
    dataset = _build(tmp_path / "out", resumed)
    assert resumed.calls == total - total // 2  # nothing finished before the interruption is recomputed
    for split in ("train", "test_synthetic"):
        assert dataset[split]["quality_score"] == expected[split]["quality_score"]
        assert dataset[split]["study_id"] == expected[split]["study_id"]
    rerun = CountingAgent()
    _build(tmp_path / "out", rerun)
    assert rerun.calls == 0


def test_fake_mimic_tree_build_skips_defects_keeps_official_split_and_joins_labels(tmp_path):
    tree = write_fake_mimic_tree(tmp_path / "mimic", num_subjects=8, seed=2, size=64)
    out = tmp_path / "out"
    dataset = build_lrrg(
        "mimic-cxr", out, root=tree.root, quality_agent=CountingAgent(), synthetic_kinds=KINDS,
        progress=False, print_summary=False,
    )
    summary = json.loads((out / "build_summary.json").read_text())
    assert summary["skipped"] == {"unreadable image": 1, "missing report": 1, "no frontal image": 1}
    skipped = [json.loads(line) for line in (out / "skipped.jsonl").read_text().splitlines()]
    assert {s["study_id"] for s in skipped} == {tree.corrupt_study, tree.missing_report_study}
    kept = [s for s in tree.studies if s["study_id"] not in (tree.corrupt_study, tree.missing_report_study, tree.lateral_only_study)]
    official = {s["study_id"]: {"validate": "validation"}.get(s["split"], s["split"]) for s in kept}
    for split in ("train", "validation", "test"):
        assert all(official[study] == split for study in dataset[split]["study_id"])
    assert sum(len(dataset[s]) for s in ("train", "validation", "test")) == len(kept)
    labels = load_lrrg(out, config="labels")
    assert "image" not in labels["train"].column_names and "findings" not in labels["train"].column_names
    assert labels["train"][0]["image_path"].startswith("files/p1")
    joined = load_lrrg(out, config="labels", mimic_root=tree.root)
    assert joined["train"].column_names == dataset["train"].column_names
    by_study = {row["study_id"]: row for row in dataset["train"]}
    for row in joined["train"]:
        original = by_study[row["study_id"]]
        assert (row["findings"], row["impression"], row["Edema"]) == (original["findings"], original["impression"], original["Edema"])
        assert np.array_equal(np.asarray(row["image"]), np.asarray(original["image"]))
    if len(dataset["test_synthetic"]):
        rejoined, built = joined["test_synthetic"][0], dataset["test_synthetic"][0]
        assert np.array_equal(np.asarray(rejoined["image"]), np.asarray(built["image"]))  # re-degraded on access


@pytest.mark.shared_data
def test_iu_xray_build_from_shared_reports_with_phantom_images(shared_data, tmp_path):
    from lrrg.dataset_scripts.phantoms import generate_phantom

    images = tmp_path / "images"
    images.mkdir()
    source = IuXraySource(shared_data / "iu_xray" / "openi_reports.json", images_dir=images)
    chosen = [record for _, record in zip(range(12), source)]
    for index, record in enumerate(chosen):
        generate_phantom(index, size=64).image.save(record.image_path)
    dataset = build_lrrg(
        IuXraySource(shared_data / "iu_xray" / "openi_reports.json", images_dir=images), tmp_path / "out",
        max_studies=12, quality_agent=CountingAgent(), synthetic_kinds=KINDS, progress=False, print_summary=False,
    )
    rows = [row for split in ("train", "validation", "test") for row in dataset[split]]
    with_text = [r for r in chosen if r.has_report]
    assert {row["image_id"] for row in rows} == {r.image_id for r in with_text}
    assert all(row["image_id"].startswith("CXR") for row in rows)


def test_build_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="num_proc"):
        _build(tmp_path, CountingAgent(), num_proc=0)
    with pytest.raises(ValueError, match="unknown degradation kind"):
        _build(tmp_path, CountingAgent(), synthetic_kinds=("sepia",))
    with pytest.raises(ValueError, match="configs"):
        _build(tmp_path, CountingAgent(), configs=("images",))
    with pytest.raises(ValueError, match="phantom source only"):
        build_lrrg("folder", tmp_path, root=tmp_path, num_studies=3, quality_agent=CountingAgent())


def test_real_aqaa_parallel_build_matches_serial_and_finds_degraded_phantoms(tmp_path):
    options = dict(num_studies=24, image_size=128, synthetic_kinds=KINDS, progress=False, print_summary=False,
                   source_options={"lq_fraction": 0.5, "lq_severities": (4, 5)})
    parallel = build_lrrg("phantom", tmp_path / "p2", num_proc=2, **options)
    serial = build_lrrg("phantom", tmp_path / "p1", num_proc=1, **options)
    for split in ("train", "test", "test_synthetic"):
        assert parallel[split]["study_id"] == serial[split]["study_id"]
        assert parallel[split]["quality_score"] == serial[split]["quality_score"]
    rows = [row for split in ("train", "validation", "test") for row in serial[split].remove_columns("image")]
    clean = [row for row in rows if row["degradation"] == 0]
    degraded = [row for row in rows if row["degradation"] != 0]
    assert clean and degraded
    assert sum(row["quality_label"] == 0 for row in clean) / len(clean) >= 0.8
    assert sum(row["quality_label"] == 1 for row in degraded) / len(degraded) >= 0.6


class HalvedScoreAgent(CountingAgent):
    """Same labels as CountingAgent (so the same split sizes and dataset card), different scores."""

    def assess(self, image_or_path):
        report = super().assess(image_or_path)
        report.score = report.score / 2 if report.label == "low" else (report.score + 1) / 2
        return report


def test_two_builds_in_same_named_folders_load_their_own_rows(tmp_path):
    # datasets keys its cache of a local folder by the card's relative data_files patterns, not by the
    # folder: two builds both named `out` with identical cards must still load their own rows.
    first = _build(tmp_path / "a" / "out", CountingAgent(), num_studies=12)
    second = _build(tmp_path / "b" / "out", HalvedScoreAgent(), num_studies=12)
    assert first["train"]["study_id"] == second["train"]["study_id"]
    assert first["train"]["quality_score"] != second["train"]["quality_score"]
    assert load_lrrg(tmp_path / "a" / "out")["train"]["quality_score"] == first["train"]["quality_score"]
    labels = load_lrrg(tmp_path / "b" / "out", config="labels")
    assert labels["train"]["quality_score"] == second["train"]["quality_score"]
    rebuilt = _build(tmp_path / "a" / "out", CountingAgent(), num_studies=16, seed=2)
    assert load_lrrg(tmp_path / "a" / "out")["train"]["study_id"] == rebuilt["train"]["study_id"]
    assert sum(len(rebuilt[s]) for s in ("train", "validation", "test")) == 16


def test_cli_folder_build_skips_defective_rows_with_messages_naming_input_and_fix(tmp_path, caplog, capsys):
    import csv
    import logging

    from lrrg.cli import main
    from lrrg.dataset_scripts.phantoms import generate_phantom

    folder = tmp_path / "films"
    folder.mkdir()
    rows = []
    for index in range(7):
        study = generate_phantom(index, size=96)
        study.image.save(folder / f"film{index}.png")
        rows.append({"image": f"film{index}.png", "findings": study.findings, "impression": study.impression,
                     "Edema": study.labels["Edema"] if study.labels["Edema"] is not None else ""})
    (folder / "film1.png").write_bytes((folder / "film1.png").read_bytes()[:60])  # corrupt
    rows[2].update(findings="", impression="")  # empty report
    rows[3]["image"] = "gone.png"  # missing file
    rows[4]["image"] = ""  # no image named
    with (folder / "metadata.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, ["image", "findings", "impression", "Edema"])
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING, logger="lrrg.dataset_scripts.builder"):
        code = main(["build", "--source", "folder", "--root", str(folder), "--out", str(out),
                     "--synthetic-kinds", "jpeg", "--no-progress"])
    assert code == 0
    summary = json.loads((out / "build_summary.json").read_text())
    assert summary["skipped"] == {"unreadable image": 1, "empty report": 1, "missing image": 2}
    assert summary["studies_seen"] == 7
    messages = {record.getMessage() for record in caplog.records}
    expectations = {  # each warning names the input and says what to do
        "film1": ("film1.png", "re-export or re-download"),
        "film2": ("metadata.csv row 4", "fill in"),  # the header is row 1
        "gone": ("gone.png", "check"),
        "row6": ("metadata.csv row 6", "image column"),
    }
    for key, needles in expectations.items():
        assert any(all(n in m for n in needles) for m in messages if key in m), (key, messages)
    dataset = load_lrrg(out)
    assert sum(len(dataset[s]) for s in ("train", "validation", "test")) == 3


def test_build_where_every_study_is_skipped_finishes_and_the_cli_says_why(tmp_path, capsys):
    from lrrg.cli import main

    folder = tmp_path / "films"
    folder.mkdir()
    (folder / "metadata.csv").write_text("image,findings,impression\ngone.png,Clear lungs.,Normal.\n")
    dataset = build_lrrg("folder", tmp_path / "py", root=folder, quality_agent=CountingAgent(), progress=False,
                         print_summary=False)
    assert list(dataset) == ["train", "validation", "test", "test_hq", "test_lq", "test_synthetic"]
    assert all(len(part) == 0 for part in dataset.values())
    assert json.loads((tmp_path / "py" / "build_summary.json").read_text())["skipped"] == {"missing image": 1}
    code = main(["build", "--source", "folder", "--root", str(folder), "--out", str(tmp_path / "cli"), "--no-progress"])
    assert code == 1
    out = capsys.readouterr().out
    assert "no study entered the benchmark" in out and "missing image" in out and "skipped.jsonl" in out


def test_aqaa_version_is_in_the_cache_fingerprint_and_the_card(monkeypatch):
    from lrrg.dataset_scripts import aqaa
    from lrrg.dataset_scripts.build_cache import agent_fingerprint
    from lrrg.dataset_scripts.build_summary import BuildSummary
    from lrrg.dataset_scripts.hub import render_dataset_card
    from lrrg.dataset_scripts.sources import PhantomSource

    agent = aqaa.QualityAgent()
    before = agent_fingerprint(agent)
    card = render_dataset_card(BuildSummary(source="phantom"), PhantomSource(num_studies=1), agent, ["full"])
    assert f"AQAA {aqaa.AQAA_VERSION} (fingerprint" in card
    monkeypatch.setattr(aqaa, "AQAA_VERSION", aqaa.AQAA_VERSION + ".post1")  # changed measurements
    assert agent_fingerprint(agent) != before  # cached results of the old measurements are not reused


def test_cli_mimic_build_reads_the_negbio_label_table_when_asked(tmp_path, monkeypatch):
    import gzip

    import pandas as pd

    from lrrg.cli import main
    from lrrg.dataset_scripts import builder

    tree = write_fake_mimic_tree(tmp_path / "mimic", num_subjects=5, seed=5, size=48, defects=False)
    chexpert = pd.read_csv(tree.root / "mimic-cxr-2.0.0-chexpert.csv.gz", dtype={"study_id": str})
    negbio = chexpert.assign(Edema=-1.0)  # a table that differs from the CheXpert one
    with gzip.open(tree.root / "mimic-cxr-2.0.0-negbio.csv.gz", "wt") as handle:
        negbio.to_csv(handle, index=False)
    monkeypatch.setattr(builder, "_default_agent", CountingAgent)
    for table, expected in (("chexpert", None), ("negbio", {-1})):
        out = tmp_path / table
        assert main(["build", "--source", "mimic-cxr", "--root", str(tree.root), "--out", str(out), "--labels", table,
                     "--synthetic-kinds", "jpeg", "--no-progress"]) == 0
        edema = {v for s in ("train", "validation", "test") for v in load_lrrg(out)[s]["Edema"]}
        assert edema == expected if expected else edema != {-1}
