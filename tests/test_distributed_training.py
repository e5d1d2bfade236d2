"""``imlforensic train`` under torchrun: two gloo processes on CPU share each global batch."""

from __future__ import annotations

import dataclasses
import itertools
import subprocess
import sys

import pytest
from scale_helpers import ROOT, child_env

from imlforensic.data.datasets import load_dataset
from imlforensic.training.data import TrainingStream
from imlforensic.training.trainer import PRESETS

STEPS, BATCH = 6, 8
TINY = PRESETS["tiny"]


def _indices(stream: TrainingStream, count: int) -> list[int]:
    return list(itertools.islice(stream._indices(), count))


def test_shards_of_a_global_batch_are_the_single_process_batch():
    stream = TrainingStream(load_dataset(ROOT / "examples"), [], TINY.size, TINY.network, 0.0, seed=0)
    stream.start_index = 3 * BATCH  # a resumed run
    single = _indices(stream, 4 * BATCH)
    shards = []
    for rank in range(2):
        stream.shard(rank, 2, BATCH)
        shards.append(_indices(stream, 4 * BATCH // 2))
    for step in range(4):
        local = BATCH // 2
        together = shards[0][step * local : (step + 1) * local] + shards[1][step * local : (step + 1) * local]
        assert together == single[step * BATCH : (step + 1) * BATCH]


@pytest.mark.slow
def test_torchrun_two_processes_match_one_process(tmp_path):
    from imlforensic.training.trainer import train

    config = dataclasses.replace(TINY, steps=STEPS, batch_size=BATCH)
    single = tmp_path / "single"
    train(config, [str(ROOT / "examples")], [], [], single, device="cpu", show_progress=False)
    ddp = tmp_path / "ddp"
    args = ["train", str(ROOT / "examples"), "--preset", "tiny", "--steps", str(STEPS), "--batch-size", str(BATCH)]
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "imlforensic"]
        + args
        + ["--out", str(ddp), "--device", "cpu", "-q"],
        env=child_env() | {"OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count("checkpoint:") == 1  # rank 0 reports, rank 1 does not
    ours = [read_json_line(line) for line in (single / "log.jsonl").read_text().splitlines()]
    theirs = [read_json_line(line) for line in (ddp / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in theirs] == [r["step"] for r in ours] == [STEPS]
    assert theirs[-1]["processes"] == 2
    # The same samples each step; batch norm sees half of them per process on CPU (no SyncBatchNorm
    # there), which is the only difference: docs/benchmarks/scale.md measures it.
    assert abs(theirs[-1]["loss_mean"] - ours[-1]["loss_mean"]) < 0.1
    assert (ddp / "last.safetensors").is_file() and (ddp / "last.train-state.pt").is_file()
    resumed = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "imlforensic"]
        + ["train", str(ROOT / "examples"), "--preset", "tiny", "--steps", str(STEPS + 2)]
        + ["--batch-size", str(BATCH), "--out", str(ddp), "--device", "cpu", "-q", "--resume"],
        env=child_env() | {"OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    steps = [read_json_line(line)["step"] for line in (ddp / "log.jsonl").read_text().splitlines()]
    assert steps == [STEPS, STEPS + 2]


def read_json_line(line: str) -> dict:
    import json

    return json.loads(line)
