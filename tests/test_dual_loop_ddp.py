"""Two-process DDP on CPU (gloo): after several dual-loop steps the replicas hold identical parameters, and
they equal a single process that takes the same global batches (so the inner steps used synchronised
gradients: a rank that displaced its parameters by its own shard's gradient would end elsewhere).

Run as a test, it launches itself under `torch.distributed.run`; each rank trains a tiny GPT-2 on its own
shard of paired token batches and saves its parameters.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch


def _train(out_dir: str, per_device_batch: int, **overrides):
    sys.path.insert(0, str(Path(__file__).parent))
    from test_trainer_dual_loop import make_examples, tiny_model
    from transformers import default_data_collator

    from lrrg.trainer import DualLoopConfig, DualLoopTrainer

    settings = dict(
        output_dir=out_dir, per_device_train_batch_size=per_device_batch, gradient_accumulation_steps=2,
        max_steps=3, learning_rate=0.1, optim="sgd", report_to="none", save_strategy="no", use_cpu=True, seed=0,
        disable_tqdm=True, logging_steps=1, robust_mode="dual_loop", inner_lr=0.1,
    )  # fmt: skip
    args = DualLoopConfig(**{**settings, **overrides})
    model = tiny_model()
    initial = torch.cat([p.detach().reshape(-1).clone() for p in model.parameters()])
    trainer = DualLoopTrainer(model=model, args=args, train_dataset=make_examples(16), data_collator=default_data_collator)
    trainer.train()
    final = torch.cat([p.detach().reshape(-1) for p in trainer.model.parameters()])
    return {"initial": initial, "final": final, "world": args.world_size}


def _worker(out_dir: str) -> None:
    result = _train(out_dir, per_device_batch=2, ddp_backend="gloo")
    torch.save(result, Path(out_dir) / f"rank{int(os.environ['RANK'])}.pt")


@pytest.mark.slow  # two Python processes start and import torch + transformers: ~20-50 s on 2 busy cores
@pytest.mark.timeout(150)
def test_ddp_replicas_stay_identical_and_match_one_process(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    with socket.socket() as probe:  # a free port for the rendezvous (port 0 is not supported by torchrun)
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", port,
               __file__, str(tmp_path)]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=110)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    assert ranks[0]["world"] == ranks[1]["world"] == 2
    assert torch.equal(ranks[0]["initial"], ranks[1]["initial"])
    assert not torch.equal(ranks[0]["initial"], ranks[0]["final"])
    assert torch.equal(ranks[0]["final"], ranks[1]["final"])
    # one process, the same 2 x 2 examples per micro-batch: the same run up to float summation order (SGD, so
    # that round-off is not amplified as Adam does for near-zero gradients). Displacing each rank by its own
    # shard's gradient instead of the synchronised one moves parameters by ~1e-3 here.
    single = _train(str(tmp_path / "single"), per_device_batch=4)
    assert single["world"] == 1
    assert torch.allclose(single["final"], ranks[0]["final"], rtol=1e-4, atol=1e-7)


if __name__ == "__main__":
    _worker(sys.argv[1])
