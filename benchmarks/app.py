"""Upload-to-report latency of the Space vs calling its inference function directly.

Launches the app in its own process on 127.0.0.1 (a free port) with the default model (`--model`, else the newest model under
`runs/`, else the tiny preset with random weights: the JSON says which), then sends the same requests three
ways with 2 concurrent clients:

- `http`: the app's documented HTTP API, as a browser or `curl` uses it (upload, `/gradio_api/call/analyze`,
  read the server-sent events until `complete`);
- `gradio_client`: `Client.predict` (same server work; the client itself polls its message queue every 50 ms
  and so adds ~0.1-0.2 s per call whatever the app does);
- `direct`: `SpaceEngine.analyze` called from 2 threads in-process (no server).

Prints one JSON object: p50 / p95 per way and the app / direct ratios. Goal: `http` / direct <= 1.2 (the app
adds little overhead); the `gradio_client` ratio is reported beside it.

    python benchmarks/app.py [--quick] [--requests 20] [--clients 2] [--model PATH]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

logger = logging.getLogger(__name__)
GOAL_RATIO = 1.2


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def load_default_model(model: str | None, max_new_tokens: int):
    """The model the app would use by default; falls back to a random tiny preset, and says so."""
    from lrrg.modeling_lrrg.presets import build_model_and_processor
    from lrrg.space_app.model_loading import ReportGenerator, load_report_generator, resolve_model_source

    source = resolve_model_source(model, "runs")
    if source is not None:
        generator = load_report_generator(source, max_new_tokens=max_new_tokens, runs_dir="runs")
        return generator, {"name": generator.name, "source": source, "weights": "trained (from disk)"}
    tiny, processor = build_model_and_processor("tiny", seed=0)
    generator = ReportGenerator(tiny, processor, name="tiny-random", max_new_tokens=max_new_tokens)
    return generator, {"name": "tiny-random", "source": None,
                       "weights": "random (no model under runs/: `lrrg benchmark` creates one)"}


def timed_concurrently(call: Callable[[str], object], paths: list[str], clients: int) -> list[float]:
    """Runs `call(path)` for every path with `clients` threads; returns each call's latency in seconds."""
    def one(path: str) -> float:
        start = time.perf_counter()
        call(path)
        return time.perf_counter() - start

    with ThreadPoolExecutor(max_workers=clients) as pool:
        return list(pool.map(one, paths))


def summarise(latencies: list[float]) -> dict[str, float]:
    """p50 / p95 / mean latency in seconds."""
    values = np.asarray(latencies)
    return {"p50_s": round(float(np.percentile(values, 50)), 4), "p95_s": round(float(np.percentile(values, 95)), 4),
            "mean_s": round(float(statistics.fmean(values)), 4), "n": int(values.size)}


class HttpClient:
    """The Space's HTTP API without gradio_client: upload, `call/<api>`, then read the event stream."""

    def __init__(self, url: str):
        import httpx

        self.base = f"{url}gradio_api/"
        self.http = httpx.Client(timeout=120)

    def analyze(self, path: str) -> list:
        """Upload-to-report round trip of one image; returns the outputs of `/analyze`."""
        with open(path, "rb") as handle:
            uploaded = self.http.post(self.base + "upload", files={"files": (Path(path).name, handle)})
        uploaded.raise_for_status()
        data = [{"path": uploaded.json()[0], "meta": {"_type": "gradio.FileData"}}]
        event_id = self.http.post(self.base + "call/analyze", json={"data": data}).json()["event_id"]
        event = None
        with self.http.stream("GET", f"{self.base}call/analyze/{event_id}") as stream:
            for line in stream.iter_lines():
                if line.startswith("event:"):
                    event = line[len("event:"):].strip()
                elif line.startswith("data:") and event in ("complete", "error"):
                    if event == "error":
                        raise RuntimeError(f"the app answered with an error: {line}")
                    return json.loads(line[len("data:"):])
        raise RuntimeError("the event stream ended without a result")


def serve(args: argparse.Namespace) -> None:
    """Child process: the app with the default model on `args.serve` (blocks until terminated)."""
    from lrrg.dataset_scripts import QualityAgent
    from lrrg.space_app.app import create_demo, launch_kwargs
    from lrrg.space_app.settings import AppSettings

    torch.set_num_threads(max(1, (os.cpu_count() or 1) // args.clients))  # what `lrrg app` does
    generator, _ = load_default_model(args.model, args.max_new_tokens)
    settings = AppSettings(server_port=args.serve, concurrency=args.clients, max_new_tokens=args.max_new_tokens)
    create_demo(generator, QualityAgent(), settings).launch(**{**launch_kwargs(settings), "quiet": True})


def start_server(args: argparse.Namespace) -> tuple[subprocess.Popen, str]:
    """Launches the app in its own process (as in production: clients are elsewhere) and waits until it answers."""
    import httpx

    port = _free_port()
    command = [sys.executable, __file__, "--serve", str(port), "--clients", str(args.clients),
               "--max-new-tokens", str(args.max_new_tokens)] + (["--model", args.model] if args.model else [])
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app process exited early: {process.stderr.read()[-2000:]}")
        try:
            if httpx.get(f"{url}gradio_api/info", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.terminate()
    raise RuntimeError("the app did not start within 300 s")


def measure(args: argparse.Namespace, requests: int) -> dict[str, object]:
    """Runs the three ways over the same requests; returns their latencies and the model description."""
    from gradio_client import Client, handle_file

    from lrrg.dataset_scripts import QualityAgent
    from lrrg.space_app.examples import phantom_examples
    from lrrg.space_app.inference import SpaceEngine
    from lrrg.space_app.settings import AppSettings

    torch.set_num_threads(max(1, (os.cpu_count() or 1) // args.clients))
    generator, model_info = load_default_model(args.model, args.max_new_tokens)
    engine = SpaceEngine(QualityAgent(), generator, AppSettings(max_new_tokens=args.max_new_tokens))
    process, url = start_server(args)
    local = threading.local()

    def through_gradio_client(path: str) -> object:
        if not hasattr(local, "client"):
            # download_files=False: the report is there when the server answers; a browser then fetches the
            # pictures in parallel
            local.client = Client(url, verbose=False, download_files=False)
        return local.client.predict(handle_file(path), api_name="/analyze")

    def through_http(path: str) -> object:
        if not hasattr(local, "http"):
            local.http = HttpClient(url)
        return local.http.analyze(path)

    try:
        with tempfile.TemporaryDirectory() as scratch:
            images = [example.path for example in phantom_examples(Path(scratch), size=512)]
            paths = [images[i % len(images)] for i in range(requests)]
            warm = images[: args.clients] * 2
            for way in (engine.analyze, through_http, through_gradio_client):
                timed_concurrently(way, warm, args.clients)
            ways = {"direct": engine.analyze, "http": through_http, "gradio_client": through_gradio_client}
            latencies: dict[str, list[float]] = {name: [] for name in ways}
            # Interleaved rounds (each way sends `clients` concurrent requests in turn), so that the load of a
            # shared machine drifting over time weighs on every way alike.
            for start in range(0, len(paths), args.clients):
                for name, way in ways.items():
                    latencies[name] += timed_concurrently(way, paths[start : start + args.clients], args.clients)
            latencies["direct_sequential"] = timed_concurrently(engine.analyze, paths[: max(4, requests // 4)], 1)
    finally:
        process.terminate()
        process.wait(timeout=30)
    return {"model": model_info, **latencies}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 requests instead of 20")
    parser.add_argument("--requests", type=int, default=None, help="timed requests per way (default 20)")
    parser.add_argument("--clients", type=int, default=2, help="concurrent clients (default 2)")
    parser.add_argument("--model", default=None, help="model folder / Hub id (default: newest under runs/)")
    parser.add_argument("--max-new-tokens", type=int, default=64, help="report length cap")
    parser.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.serve is not None:
        serve(args)
        return
    requests = args.requests or (8 if args.quick else 20)
    measured = measure(args, requests)
    http_stats, client_stats = summarise(measured["http"]), summarise(measured["gradio_client"])
    direct_stats = summarise(measured["direct"])
    results = {
        "benchmark": "app",
        "what": "upload-to-report latency (quality verdict + report) through the Space vs direct calls",
        "model": measured["model"],
        "requests": requests,
        "clients": args.clients,
        "max_new_tokens": args.max_new_tokens,
        "image": "512x512 phantom PNGs",
        "torch_threads_per_request": torch.get_num_threads(),
        "app_http": http_stats,
        "app_gradio_client": client_stats,
        "direct_same_concurrency": direct_stats,
        "direct_sequential": summarise(measured["direct_sequential"]),
        "ratio_p50": round(http_stats["p50_s"] / direct_stats["p50_s"], 3),
        "ratio_p95": round(http_stats["p95_s"] / direct_stats["p95_s"], 3),
        "ratio_p50_gradio_client": round(client_stats["p50_s"] / direct_stats["p50_s"], 3),
        "ratio_p95_gradio_client": round(client_stats["p95_s"] / direct_stats["p95_s"], 3),
        # what the app adds per request in absolute terms (upload, queue, event stream, image encoding): fixed,
        # so the ratio falls towards 1 as the model gets bigger than the tiny preset
        "overhead_p50_s": round(http_stats["p50_s"] - direct_stats["p50_s"], 4),
        "overhead_p50_s_gradio_client": round(client_stats["p50_s"] - direct_stats["p50_s"], 4),
        "goal_ratio_at_most": GOAL_RATIO,
    }
    results["goal_met"] = results["ratio_p50"] <= GOAL_RATIO
    results["goal_met_gradio_client"] = results["ratio_p50_gradio_client"] <= GOAL_RATIO
    out_dir = Path(__file__).parent / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "app.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
