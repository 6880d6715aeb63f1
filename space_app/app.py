"""The LRRG Gradio Space: image-quality verdict, generated report and a stress test (research use only).

Runs as a Hugging Face Space (`python app.py`) and locally through `lrrg app`. `create_demo(...)` builds the
interface from an already loaded model and quality agent, so that tests drive it with tiny random models.
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import logging  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from typing import Any  # noqa: E402

import gradio as gr  # noqa: E402

from lrrg.space_app.examples import Example, collect_examples  # noqa: E402
from lrrg.space_app.inference import SpaceEngine  # noqa: E402
from lrrg.space_app.model_loading import (  # noqa: E402
    NO_MODEL_MESSAGE,
    ReportGenerator,
    load_report_generator,
    resolve_model_source,
)
from lrrg.space_app.settings import AppSettings  # noqa: E402

logger = logging.getLogger(__name__)

TITLE = "LRRG: radiology reports for low-quality chest X-rays"
RESEARCH_NOTICE = (
    "**Research use only.** LRRG is a research tool, not a medical device: its quality verdicts and reports "
    "must not be used for diagnosis or patient care. Do not upload identifiable patient data."
)


def _model_markdown(model: ReportGenerator | None) -> str:
    if model is None:
        return f"**Report model:** none loaded. {NO_MODEL_MESSAGE}"
    text = f"**Report model:** `{model.name}`"
    if model.card_url:
        text += f" ([model card]({model.card_url}))"
    elif model.source:
        text += f" from `{model.source}`"
    if model.datasets:
        links = ", ".join(f"[{d}](https://huggingface.co/datasets/{d})" for d in model.datasets)
        text += f"; trained on {links}"
    return text + "."


def _degradation_choices() -> list[tuple[str, str]]:
    from lrrg.dataset_scripts.degradations import DEGRADATION_KINDS, KIND_DESCRIPTIONS

    return [(f"{kind.replace('_', ' ')}: {KIND_DESCRIPTIONS.get(kind, '')}", kind) for kind in DEGRADATION_KINDS]


def _upload_column(examples: Sequence[Example]) -> tuple[gr.File, gr.Button, gr.Image]:
    upload = gr.File(label="Chest radiograph (PNG / JPEG, 8- or 16-bit; DICOM)", type="filepath",
                     file_count="single", elem_id="upload")
    run = gr.Button("Assess quality and write report", variant="primary", elem_id="analyze-button")
    preview = gr.Image(label="The image as read", type="pil", interactive=False, format="jpeg", height=320)
    if examples:
        gr.Examples(
            examples=[[example.path] for example in examples],
            inputs=[upload],
            example_labels=[example.label for example in examples],
            label="Examples (phantoms are synthetic; real films are from public collections)",
            examples_per_page=12,
        )
    return upload, run, preview


def _stress_tab(engine: SpaceEngine, upload: gr.File) -> None:
    gr.Markdown("Degrade the uploaded image on purpose and compare the verdict and the report with the original.")
    with gr.Row():
        kind = gr.Dropdown(choices=_degradation_choices(), value="quantum_noise", label="Degradation",
                           elem_id="stress-kind")
        severity = gr.Slider(1, 5, value=4, step=1, label="Severity (1 barely visible .. 5 non-diagnostic)",
                             elem_id="stress-severity")
    stress_button = gr.Button("Run stress test", variant="primary", elem_id="stress-button")
    with gr.Row():
        with gr.Column():
            original = gr.Image(label="Original", type="pil", interactive=False, format="jpeg", height=300)
            original_verdict = gr.Markdown(elem_id="stress-original-verdict")
            original_report = gr.Markdown(elem_id="stress-original-report")
        with gr.Column():
            degraded = gr.Image(label="Degraded", type="pil", interactive=False, format="jpeg", height=300)
            degraded_verdict = gr.Markdown(elem_id="stress-degraded-verdict")
            degraded_report = gr.Markdown(elem_id="stress-degraded-report")
            degraded_where = gr.Gallery(label="Where the problem is (degraded image)", columns=2, height="auto",
                                        format="jpeg", interactive=False, object_fit="contain")
    with gr.Accordion("Details (JSON)", open=False):
        summary = gr.JSON(label="Stress-test summary")
    stress_button.click(
        engine.stress,
        inputs=[upload, kind, severity],
        outputs=[original, degraded, original_verdict, degraded_verdict, original_report, degraded_report,
                 degraded_where, summary],
        api_name="stress",
    )


def create_demo(
    model: ReportGenerator | None,
    agent: Any,
    settings: AppSettings | None = None,
    examples: Sequence[Example] | None = None,
) -> gr.Blocks:
    """Builds the Space (queue included) around a loaded model and quality agent.

    Args:
        model: the report model (`ReportGenerator`), or `None`: the report panel then says which command
            creates one, and the quality panel still works.
        agent: an AQAA `QualityAgent` (anything with `.assess(image) -> QualityReport`).
        settings: limits and queue settings (default: `AppSettings.from_env()`).
        examples: example images (default: none; `build_demo` passes phantoms and real films).

    Returns:
        The `gr.Blocks` app, queued (`settings.queue_size`, `settings.concurrency`), not launched. Its API
        endpoints are `/analyze` (upload -> verdict + report) and `/stress` (upload, kind, severity).
    """
    settings = settings or AppSettings.from_env()
    engine = SpaceEngine(agent, model, settings)
    with gr.Blocks(title=TITLE, analytics_enabled=False, fill_width=True) as demo:
        gr.Markdown(f"# {TITLE}\n{RESEARCH_NOTICE}", elem_id="notice")
        gr.Markdown(_model_markdown(model), elem_id="model-info")
        with gr.Tab("Assess and report"):
            with gr.Row():
                with gr.Column(scale=1):
                    upload, run, preview = _upload_column(examples or [])
                with gr.Column(scale=2):
                    gr.Markdown("## Quality (AQAA)")
                    verdict = gr.Markdown("Upload an image to see its quality verdict.", elem_id="verdict")
                    where = gr.Gallery(label="Where the problem is", columns=2, height="auto", format="jpeg",
                                       interactive=False, object_fit="contain", elem_id="where")
                    criteria = gr.Markdown(label="Criteria: measurement vs threshold", elem_id="criteria")
                with gr.Column(scale=1):
                    gr.Markdown("## Report")
                    findings = gr.Textbox(label="Findings", lines=5, interactive=False, elem_id="findings")
                    impression = gr.Textbox(label="Impression", lines=2, interactive=False, elem_id="impression")
                    report_info = gr.Markdown(NO_MODEL_MESSAGE if model is None else "", elem_id="report-info")
                    with gr.Accordion("Quality details (JSON)", open=False):
                        quality_json = gr.JSON(label="QualityReport")
            outputs = [preview, verdict, criteria, where, findings, impression, report_info, quality_json]
            run.click(engine.analyze, inputs=[upload], outputs=outputs, api_name="analyze")
            upload.upload(engine.analyze, inputs=[upload], outputs=outputs, api_name=False)
        with gr.Tab("Stress test"):
            _stress_tab(engine, upload)
    demo.queue(max_size=settings.queue_size, default_concurrency_limit=settings.concurrency)
    return demo


def build_demo(settings: AppSettings | None = None) -> gr.Blocks:
    """Loads the model (from `settings.model`, else the newest under `runs/`), the quality agent and the examples.

    A model that is named but cannot be loaded is an error; no model at all is not (the app runs quality-only).
    """
    import torch

    from lrrg.dataset_scripts import QualityAgent

    settings = settings or AppSettings.from_env()
    # Concurrent requests each run torch ops; more threads than cores per request makes OpenMP threads spin
    # against each other (10x slower on a busy 2-core machine).
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // settings.concurrency))
    source = resolve_model_source(settings.model, settings.runs_dir)
    model = None
    if source is not None:
        model = load_report_generator(source, settings.device, settings.max_new_tokens, runs_dir=settings.runs_dir)
    return create_demo(model, QualityAgent(), settings, collect_examples(settings.num_examples))


def launch_kwargs(settings: AppSettings) -> dict[str, Any]:
    """The `launch` arguments that keep the app local, offline and bounded."""
    return {
        "server_name": settings.server_name,
        "server_port": settings.server_port,
        "share": False,  # no tunnel: nothing leaves the machine
        "max_file_size": settings.max_upload_bytes,
        "allowed_paths": [],  # only gradio's own upload / cache folders are served
        "ssr_mode": False,  # no Node server
        "mcp_server": False,
        "show_error": True,
        "theme": gr.themes.Default(),  # local fonts only
    }


def main(settings: AppSettings | None = None) -> None:
    """Builds and launches the Space (blocks until stopped)."""
    settings = settings or AppSettings.from_env()
    build_demo(settings).launch(**launch_kwargs(settings))


__all__ = ["RESEARCH_NOTICE", "TITLE", "build_demo", "create_demo", "launch_kwargs", "main"]


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from lrrg.space_app.model_loading import space_default_model

    # On a Space the server must listen on all interfaces and the card's model is the default; locally
    # `lrrg app` keeps 127.0.0.1 and the newest model under runs/.
    main(AppSettings.from_env(server_name=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"),
                              model=space_default_model()))
