"""End-to-end tests of the Space: a real server on 127.0.0.1, driven by gradio_client and by headless Chromium."""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx
import numpy as np
import pytest
import torch
from PIL import Image

from lrrg.dataset_scripts import QualityAgent
from lrrg.modeling_lrrg.presets import build_model_and_processor
from lrrg.space_app.app import create_demo, launch_kwargs
from lrrg.space_app.examples import phantom_examples
from lrrg.space_app.model_loading import ReportGenerator
from lrrg.space_app.settings import AppSettings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
                  "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
UPLOAD_LIMIT_MB = 2
FINDINGS = "The heart size is normal. The lungs are clear."
IMPRESSION = "No acute cardiopulmonary process."


def _memorising_generator() -> ReportGenerator:
    """The tiny preset taught one report (30 steps, ~1 s), so that the pages must show real words, not noise."""
    from lrrg.dataset_scripts import generate_phantom
    from lrrg.modeling_lrrg import format_report

    model, processor = build_model_and_processor("tiny", seed=0)
    images = [generate_phantom(seed, size=128).image for seed in range(2)]
    batch = processor(images=images, text=[format_report(FINDINGS, IMPRESSION)] * 2, return_tensors="pt")
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(30):
        model(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return ReportGenerator(model, processor, name="tiny-memorised", max_new_tokens=48)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    return phantom_examples(tmp_path_factory.mktemp("examples"), size=256)


@pytest.fixture(scope="module")
def server(examples):
    """The Space with a tiny random model, launched on a free local port; stopped after the module."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    generator = _memorising_generator()
    settings = AppSettings(server_port=_free_port(), max_upload_mb=UPLOAD_LIMIT_MB, concurrency=2)
    with _recording_outside_connections() as outside:
        demo = create_demo(generator, QualityAgent(), settings, examples)
        demo.launch(**{**launch_kwargs(settings), "prevent_thread_lock": True, "quiet": True})
    STARTUP_OUTSIDE_CONNECTIONS.extend(outside)
    try:
        yield f"http://127.0.0.1:{settings.server_port}/"
    finally:
        demo.close()
        torch.set_num_threads(previous)


STARTUP_OUTSIDE_CONNECTIONS: list[str] = []
_LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "0.0.0.0")


@contextlib.contextmanager
def _recording_outside_connections():
    """Records every name lookup or connection to a host other than this machine (any thread)."""
    outside: list[str] = []
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(sock, address):
        if isinstance(address, tuple) and address[0] not in _LOCAL_HOSTS:
            outside.append(f"connect {address}")
        return real_connect(sock, address)

    def getaddrinfo(host, *args, **kwargs):
        if host not in _LOCAL_HOSTS and host is not None:
            outside.append(f"lookup {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect, socket.getaddrinfo = connect, getaddrinfo
    try:
        yield outside
    finally:
        socket.socket.connect, socket.getaddrinfo = real_connect, real_getaddrinfo


def test_start_makes_no_network_call(server):
    assert STARTUP_OUTSIDE_CONNECTIONS == []


def test_client_upload_gives_verdict_and_report_and_stress_degrades(server, examples):
    from gradio_client import Client, handle_file

    client = Client(server, verbose=False)
    outputs = client.predict(handle_file(examples[0].path), api_name="/analyze")
    preview, verdict, criteria, where, findings, impression, info, quality = outputs
    assert Path(preview).is_file() and Image.open(preview).size == (256, 256)
    assert verdict.startswith("### Quality: **") and quality["quality_label"] in ("high", "low")
    assert criteria.startswith("| criterion | measurement | threshold |") and len(criteria.splitlines()) == 14
    assert isinstance(where, list) and findings == FINDINGS and impression == IMPRESSION
    assert "Generated in" in info and "tiny-memorised" in info
    stressed = client.predict(handle_file(examples[0].path), "cutoff", 5, api_name="/stress")
    summary = stressed[7]
    assert summary["degradation"] == {"kind": "cutoff", "severity": 5, "seed": 0}
    assert summary["degraded"]["quality"]["quality_label"] == "low"
    assert "field_of_view" in summary["degraded"]["quality"]["flagged_criteria"]
    assert f"**FINDINGS:** {FINDINGS}" in stressed[5]
    assert "LOW" in stressed[3] and any("field of view" in item["caption"] for item in stressed[6])


def test_client_bad_upload_gets_a_readable_error(server, tmp_path):
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    fake = tmp_path / "radiograph.png"
    fake.write_text("this is a text file, not a radiograph")
    with pytest.raises(AppError, match="is not an image the app can read"):
        Client(server, verbose=False).predict(handle_file(str(fake)), api_name="/analyze")


def test_server_limits_uploads_and_serves_no_other_paths(server, tmp_path):
    big = tmp_path / "big.png"
    big.write_bytes(os.urandom((UPLOAD_LIMIT_MB + 1) * 2**20))
    with open(big, "rb") as handle:
        response = httpx.post(f"{server}gradio_api/upload", files={"files": ("big.png", handle, "image/png")})
    assert response.status_code == 413
    for secret in ("/etc/passwd", str(Path(__file__).resolve())):
        response = httpx.get(f"{server}gradio_api/file={secret}")
        assert response.status_code in (403, 404) and "root:" not in response.text


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.is_file(), reason="needs the system Chromium at /usr/bin/chromium "
                    "(`apt-get install chromium`; CI's .ci/run installs it)")
def test_real_browser_upload_to_report(server, examples):
    playwright = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(exist_ok=True)
    outside: list[str] = []
    with playwright.sync_playwright() as driver, tempfile.TemporaryDirectory() as profile:
        browser = driver.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            page = browser.new_page()
            page.on("request", lambda request: outside.append(request.url)
                    if urlparse(request.url).hostname not in (None, "", "127.0.0.1") else None)
            page.goto(server, wait_until="networkidle", timeout=60_000)
            assert "Research use only" in page.locator("#notice").inner_text()
            page.get_by_text(examples[1].label).click()  # the cardiomegaly + effusion phantom
            page.locator(f'#upload [aria-label="{Path(examples[1].path).name}"]').wait_for(timeout=30_000)
            page.locator("#analyze-button").click()
            page.locator("#report-info").get_by_text("Generated in").wait_for(timeout=60_000)
            verdict = page.locator("#verdict").inner_text()
            findings = page.locator("#findings textarea").input_value()
            impression = page.locator("#impression textarea").input_value()
            time.sleep(0.5)  # let the gallery images finish painting before the screenshot
            page.screenshot(path=str(ARTIFACTS / "space-browser.png"), full_page=True)
        finally:
            browser.close()
    assert verdict.startswith("Quality: ") and ("HIGH" in verdict or "LOW" in verdict)
    assert findings == FINDINGS and impression == IMPRESSION
    assert outside == [], f"the page fetched from outside 127.0.0.1: {outside}"
    assert (ARTIFACTS / "space-browser.png").stat().st_size > 10_000


def test_the_pure_function_and_the_app_agree(server, examples):
    """What the browser / client sees is what `SpaceEngine.analyze` returns in-process (same verdict)."""
    from gradio_client import Client, handle_file

    remote = Client(server, verbose=False).predict(handle_file(examples[3].path), api_name="/analyze")
    local = QualityAgent().assess(np.asarray(Image.open(examples[3].path)))
    assert remote[7]["quality_label"] == local.label
    assert remote[7]["flagged_criteria"] == list(local.flagged_criteria)
