"""`lrrg app`: launch the Gradio Space (quality verdict + report + stress test) locally."""

from __future__ import annotations

import argparse
import os
import sys


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Registers `lrrg app` (imports nothing heavy)."""
    parser = subparsers.add_parser(
        "app",
        help="launch the Gradio Space locally",
        description=(
            "Launch the LRRG Space: upload a chest radiograph, see its quality verdict (AQAA), the generated "
            "report and a stress test. Default model: $LRRG_MODEL, else the newest model written by "
            "`lrrg benchmark` under runs/. Without any model the quality panel still works. Research use only."
        ),
    )
    parser.add_argument("--model", default=None, help="LRRG model folder or Hub id (default: $LRRG_MODEL, "
                        "else the newest under --runs-dir)")
    parser.add_argument("--runs-dir", default=None, help="where `lrrg benchmark` writes runs (default: runs)")
    parser.add_argument("--device", default=None, help="torch device of the model (default: cpu)")
    parser.add_argument("--host", default=None, help="address to listen on (default: 127.0.0.1, local only)")
    parser.add_argument("--port", type=int, default=None, help="port (default: 7860)")
    parser.add_argument("--max-upload-mb", type=float, default=None, help="largest accepted upload (default: 50)")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="report length cap (default: 128)")
    parser.add_argument("--concurrency", type=int, default=None, help="requests processed at once (default: 2)")
    parser.add_argument("--queue-size", type=int, default=None, help="requests allowed to wait (default: 16)")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Handler of `lrrg app`: 0 after a clean stop, 2 on bad settings or a model that cannot be loaded."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    from lrrg.space_app.app import build_demo, launch_kwargs
    from lrrg.space_app.settings import AppSettings

    try:
        settings = AppSettings.from_env(
            model=args.model, runs_dir=args.runs_dir, device=args.device, server_name=args.host,
            server_port=args.port, max_upload_mb=args.max_upload_mb, max_new_tokens=args.max_new_tokens,
            concurrency=args.concurrency, queue_size=args.queue_size,
        )
        demo = build_demo(settings)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    demo.launch(**launch_kwargs(settings))
    return 0


__all__ = ["add_parser", "run"]
