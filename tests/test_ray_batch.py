"""``localize --ray local``: a real local Ray instance gives the local batch's bytes, and resumes."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess

import pytest
from scale_helpers import EXAMPLES, child_env, cli, comparable, read_json

from imlforensic.cli import app

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason='needs Ray (pip install ".[test]")'),
]


def test_ray_batch_matches_local_batch_and_resumes(tmp_path, runner):
    local, distributed = tmp_path / "local", tmp_path / "ray"
    result = runner.invoke(app, ["localize", str(EXAMPLES), "--out", str(local), "-q"])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in EXAMPLES.glob("*.jpg"))  # outputs keep the full name: a.jpg.json
    assert len(names) == 4
    # two inputs already done: --skip-existing must leave them alone and analyse the other two on Ray
    distributed.mkdir()
    for name in names[:2]:
        for file in local.glob(f"{name}.*"):
            shutil.copy2(file, distributed / file.name)
    before = {p.name: p.stat().st_mtime_ns for p in distributed.iterdir()}
    run = subprocess.run(
        cli("localize", str(EXAMPLES), "--out", str(distributed), "--skip-existing", "--ray", "local", "--json"),
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "4 input(s): 2 analysed, 2 skipped (already done)" in run.stderr
    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 4  # one record per input, in input order, reused ones too
    assert {p.name: p.stat().st_mtime_ns for p in distributed.iterdir() if p.name in before} == before
    pngs = sorted(p.name for p in local.glob("*.png"))
    assert len(pngs) == 16 and sorted(p.name for p in distributed.glob("*.png")) == pngs
    for name in pngs:
        assert (local / name).read_bytes() == (distributed / name).read_bytes(), name
    for name in names:
        ours, theirs = read_json(local / f"{name}.json"), read_json(distributed / f"{name}.json")
        assert comparable(ours) == comparable(theirs)
        assert theirs["output_name"] == name
        assert ours["method"]["name"] == "mvcam"
