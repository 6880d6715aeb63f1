"""Generation throughput of LRRG vs a stock VisionEncoderDecoderModel built from the same vision / text configs.

Prints one JSON object: tokens/second at batch 1 and 8 (64 new tokens, forced with min_new_tokens), the
LRRG / VisionEncoderDecoder ratio and the peak resident-memory increase during generation, per model.
Goal: ratio >= 1.0 (KV cache working, image features computed once).

    python benchmarks/generation.py [--quick] [--preset small] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import threading
import time
from pathlib import Path

import numpy as np
import torch
from transformers import GenerationConfig, VisionEncoderDecoderConfig, VisionEncoderDecoderModel

from lrrg.modeling_lrrg.presets import build_model_and_processor

logger = logging.getLogger(__name__)
NEW_TOKENS = 64


def _rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRss:
    """Samples the process's resident memory in a thread; `.peak_increase` is the max rise over the start."""

    def __enter__(self) -> PeakRss:
        self.start = self.peak = _rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, _rss_bytes())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes())
        self.peak_increase = self.peak - self.start


def build_models(preset: str, seed: int = 0):
    """Returns (lrrg_model, processor, ved_model) sharing vision and text configs."""
    model, processor = build_model_and_processor(preset, seed=seed)
    text_config = model.config.text_config.__class__.from_dict(model.config.text_config.to_dict())
    text_config.is_decoder = True
    text_config.add_cross_attention = True
    ved_config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(model.config.vision_config, text_config)
    ved_config.decoder_start_token_id = processor.tokenizer.bos_token_id
    ved_config.pad_token_id = processor.tokenizer.pad_token_id
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        ved = VisionEncoderDecoderModel(config=ved_config)
    ved.generation_config = GenerationConfig(
        decoder_start_token_id=processor.tokenizer.bos_token_id,
        pad_token_id=processor.tokenizer.pad_token_id,
        eos_token_id=processor.tokenizer.eos_token_id,
    )
    return model.eval(), processor, ved.eval()


def time_pair(first, second, repeats: int) -> tuple[list[float], list[float], int, int]:
    """Times two generate callables alternately (so load spikes on a shared machine hit both alike).

    Returns the best wall time of each over `repeats` rounds (after one warm-up) and their peak RSS increases.
    """
    first(), second()
    times: tuple[list[float], list[float]] = ([], [])
    peaks = [0, 0]
    for _ in range(repeats):
        for slot, generate in enumerate((first, second)):
            with PeakRss() as memory:
                start = time.perf_counter()
                generate()
                times[slot].append(time.perf_counter() - start)
            peaks[slot] = max(peaks[slot], memory.peak_increase)
    return min(times[0]), min(times[1]), peaks[0], peaks[1]


def measure(model, processor, ved, batch_size: int, repeats: int) -> dict:
    rng = np.random.default_rng(batch_size)
    images = [rng.integers(0, 255, (256, 256), dtype=np.uint8) for _ in range(batch_size)]
    inputs = processor(images=images).to(model.device)
    settings = {"max_new_tokens": NEW_TOKENS, "min_new_tokens": NEW_TOKENS, "do_sample": False, "num_beams": 1}
    prompt_length = inputs["input_ids"].shape[1]

    def run_lrrg():
        with torch.inference_mode():
            output = model.generate(**inputs, **settings)
        assert output.shape == (batch_size, prompt_length + NEW_TOKENS), output.shape

    def run_ved():
        with torch.inference_mode():
            output = ved.generate(pixel_values=inputs["pixel_values"], **settings)
        assert output.shape == (batch_size, 1 + NEW_TOKENS), output.shape

    lrrg_time, ved_time, lrrg_memory, ved_memory = time_pair(run_lrrg, run_ved, repeats)
    tokens = batch_size * NEW_TOKENS
    return {
        "lrrg_tokens_per_s": round(tokens / lrrg_time, 1),
        "ved_tokens_per_s": round(tokens / ved_time, 1),
        "ratio": round(ved_time / lrrg_time, 3),
        "lrrg_peak_rss_increase_mb": round(lrrg_memory / 2**20, 1),
        "ved_peak_rss_increase_mb": round(ved_memory / 2**20, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two timed rounds per setting")
    parser.add_argument("--preset", default="small", help="LRRG preset whose configs both models use")
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1), help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (best is kept)")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    repeats = 2 if args.quick else args.repeats
    model, processor, ved = build_models(args.preset)
    model, ved = model.to(args.device), ved.to(args.device)
    results = {
        "benchmark": "generation",
        "preset": args.preset,
        "new_tokens": NEW_TOKENS,
        "threads": args.threads,
        "repeats": repeats,
        "lrrg_params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
        "ved_params_m": round(sum(p.numel() for p in ved.parameters()) / 1e6, 2),
        "lrrg_image_tokens": model.config.image_seq_length,
        "device": args.device,
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    for batch_size in (1, 8):
        results[f"batch_{batch_size}"] = measure(model, processor, ved, batch_size, repeats)
    results["goal_ratio_at_least"] = 1.0
    results["goal_met"] = all(results[f"batch_{b}"]["ratio"] >= 1.0 for b in (1, 8))
    out_dir = Path(__file__).parent / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "generation.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
