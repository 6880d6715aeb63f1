"""Publishing and loading the LRRG benchmark: card YAML, both configs through disk and `load_dataset`, the CLI."""

from __future__ import annotations

import datasets
import pytest
import yaml
from test_builder import KINDS, CountingAgent  # noqa: I001  (tests folder is on sys.path)

from lrrg.dataset_scripts.builder import build_lrrg
from lrrg.dataset_scripts.hub import _restrict_card, load_lrrg
from lrrg.dataset_scripts.lrrg_features import SPLITS, lrrg_features
from lrrg.dataset_scripts.observations import CHEXPERT_OBSERVATIONS


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("lrrg") / "benchmark"
    build_lrrg("phantom", out, num_studies=30, image_size=64, synthetic_kinds=KINDS, quality_agent=CountingAgent(),
               progress=False, print_summary=False)
    return out


def _front_matter(path):
    _, front, body = path.read_text().split("---\n", 2)
    return yaml.safe_load(front), body


def test_card_front_matter_lists_configs_splits_features_and_licence(built):
    metadata, body = _front_matter(built / "README.md")
    assert metadata["license"] == "apache-2.0" and "image-to-text" in metadata["task_categories"]
    configs = {c["config_name"]: c for c in metadata["configs"]}
    assert set(configs) == {"full", "labels"} and configs["full"]["default"] is True
    for entry in configs["full"]["data_files"]:
        assert list(built.glob(entry["path"])), entry
    infos = {i["config_name"]: i for i in metadata["dataset_info"]}
    features = datasets.Features._from_yaml_list(infos["full"]["features"])
    assert features == lrrg_features("full")
    assert "Research use only" in body and "## Citation" in body and "## Statistics" in body


def test_plain_load_dataset_round_trips_both_configs_offline_with_classlabel_names(built):
    full = datasets.load_dataset(str(built), "full")
    assert full["train"].features["quality_label"].names == ["high", "low"]
    assert full["test_synthetic"].features["degradation"].names[0] == "none"
    assert set(CHEXPERT_OBSERVATIONS) <= set(full["train"].column_names)
    labels = datasets.load_dataset(str(built), "labels")
    assert not {"image", "findings", "impression", *CHEXPERT_OBSERVATIONS} & set(labels["train"].column_names)
    assert labels["train"]["study_id"] == full["train"]["study_id"]
    assert labels["train"]["quality_score"] == full["train"]["quality_score"]


def test_load_lrrg_returns_every_split_and_checks_arguments(built):
    dataset = load_lrrg(built)
    assert list(dataset) == list(SPLITS)
    assert all(part.features == lrrg_features("full") for part in dataset.values())
    with pytest.raises(ValueError, match="config must be one of"):
        load_lrrg(built, config="images")
    with pytest.raises(ValueError, match="pass config='labels'"):
        load_lrrg(built, config="full", mimic_root=built)


def test_labels_only_card_for_non_redistributable_uploads(built):
    card = _restrict_card((built / "README.md").read_text(), ["labels"])
    metadata = yaml.safe_load(card.split("---\n", 2)[1])
    assert [c["config_name"] for c in metadata["configs"]] == ["labels"]
    assert metadata["configs"][0]["default"] is True
    assert [i["config_name"] for i in metadata["dataset_info"]] == ["labels"]


def test_cli_build_parses_and_reports_bad_arguments(tmp_path, capsys):
    from lrrg.cli import main

    with pytest.raises(SystemExit, match="needs --root"):
        main(["build", "--source", "mimic-cxr", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="synthetic-severity"):
        main(["build", "--source", "phantom", "--out", str(tmp_path), "--synthetic-severity", "high"])
    with pytest.raises(SystemExit):
        main(["build", "--source", "nowhere", "--out", str(tmp_path)])


def test_cli_builds_a_small_phantom_benchmark(tmp_path, capsys):
    from lrrg.cli import main

    out = tmp_path / "cli"
    code = main(["build", "--source", "phantom", "--num-studies", "8", "--image-size", "64", "--out", str(out),
                 "--synthetic-kinds", "jpeg", "--no-progress"])
    assert code == 0
    assert "LRRG benchmark written to" in capsys.readouterr().out
    assert len(load_lrrg(out)["train"]) + len(load_lrrg(out)["test"]) + len(load_lrrg(out)["validation"]) == 8
