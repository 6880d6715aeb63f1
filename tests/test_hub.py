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


def test_mimic_card_names_its_licence_and_parses_with_huggingface_hub(tmp_path):
    from huggingface_hub import DatasetCard

    from lrrg.dataset_scripts.sources.fake_trees import write_fake_mimic_tree

    tree = write_fake_mimic_tree(tmp_path / "mimic", num_subjects=5, seed=3, size=48)
    out = tmp_path / "out"
    build_lrrg("mimic-cxr", out, root=tree.root, quality_agent=CountingAgent(), synthetic_kinds=KINDS,
               configs=("labels",), progress=False, print_summary=False)
    card = DatasetCard.load(out / "README.md")
    data = card.data.to_dict()
    assert data["license"] == "other" and data["license_name"] and data["license_link"].startswith("https://physionet")
    assert [c["config_name"] for c in data["configs"]] == ["labels"]
    assert "credentialed" in card.text and "mimic_root" in card.text
    labels = datasets.load_dataset(str(out))  # plain load of the only config
    assert labels["train"].features["quality_label"].names == ["high", "low"]
    assert "image" not in labels["train"].column_names


class _RecordingApi:
    """Stands in for `huggingface_hub.HfApi`: records what would be uploaded (no network)."""

    calls: list = []

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", repo_id, kwargs))
        return f"https://huggingface.co/datasets/{repo_id}"

    def upload_folder(self, **kwargs):
        self.calls.append(("upload_folder", kwargs))

    def upload_file(self, **kwargs):
        with open(kwargs["path_or_fileobj"], encoding="utf-8") as handle:
            self.calls.append(("upload_file", kwargs, handle.read()))


@pytest.mark.parametrize("redistributable", [True, False])
def test_push_uploads_allowed_configs_replaces_stale_shards_and_a_matching_card(built, monkeypatch, redistributable):
    import huggingface_hub

    from lrrg.dataset_scripts.hub import push_lrrg_to_hub

    _RecordingApi.calls = []
    monkeypatch.setattr(huggingface_hub, "HfApi", _RecordingApi)
    push_lrrg_to_hub(built, "someone/lrrg-test", private=True, redistributable=redistributable)
    calls = {call[0]: call for call in _RecordingApi.calls}
    assert calls["create_repo"][2]["repo_type"] == "dataset" and calls["create_repo"][2]["private"] is True
    folder = calls["upload_folder"][1]
    configs = ["full", "labels"] if redistributable else ["labels"]
    assert folder["allow_patterns"] == [f"data/{c}/*.parquet" for c in configs] + ["build_summary.json"]
    # Shards of an earlier, larger push would match the card's `split-*.parquet` globs: they are deleted.
    assert folder["delete_patterns"] == [f"data/{c}/*.parquet" for c in configs]
    _, upload, card = calls["upload_file"]
    assert upload["path_in_repo"] == "README.md" and str(built) not in card and "someone/lrrg-test" in card
    metadata = yaml.safe_load(card.split("---\n", 2)[1])
    assert [c["config_name"] for c in metadata["configs"]] == configs
