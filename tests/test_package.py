"""The package installs under the one `lrrg` namespace and its front door stays cheap."""

import subprocess
import sys

import pytest

from lrrg.cli import build_parser, main
from lrrg.shared_data import ENV_VAR, find_shared_data


def test_subfolders_import_under_lrrg_namespace():
    import lrrg.dataset_scripts
    import lrrg.metrics
    import lrrg.modeling_lrrg
    import lrrg.trainer

    for module in (lrrg.modeling_lrrg, lrrg.trainer, lrrg.dataset_scripts, lrrg.metrics):
        assert module.__name__.startswith("lrrg.")


@pytest.mark.parametrize("generic", ["trainer", "metrics", "modeling_lrrg", "dataset_scripts", "space_app"])
def test_no_generic_top_level_name_installed(generic):
    code = f"import importlib.util, sys; sys.path = [p for p in sys.path if p not in ('', '.')]; print(importlib.util.find_spec({generic!r}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/", check=True)
    assert out.stdout.strip() == "None"


def test_import_lrrg_does_not_import_torch_or_gradio():
    code = "import sys, lrrg; print('torch' in sys.modules, 'gradio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_unknown_public_name_raises_attribute_error():
    import lrrg

    with pytest.raises(AttributeError, match="no_such_name"):
        lrrg.no_such_name  # noqa: B018


def test_cli_help_lists_subcommands(capsys):
    assert main([]) == 0
    assert "lrrg" in capsys.readouterr().out
    assert build_parser().prog == "lrrg"


def test_shared_data_env_override(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert find_shared_data() == tmp_path.resolve()
