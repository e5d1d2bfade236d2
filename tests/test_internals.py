"""Atomic writes, score/mask consistency, dataset layouts, packaging."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import tomllib

import imlforensic
from imlforensic.data.datasets import DatasetError, load_dataset
from imlforensic.io.atomic import atomic_write_bytes
from imlforensic.maps import binarize, pool_score

ROOT = Path(__file__).resolve().parents[1]


def test_atomic_write_replaces_and_cleans_up_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "out.png"
    target.write_bytes(b"old")
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new"

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        atomic_write_bytes(target, b"newer")
    assert target.read_bytes() == b"new"  # the old file is intact
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]  # no temporary left


def test_verdict_and_mask_never_contradict():
    rng = np.random.default_rng(0)
    import cv2

    for _ in range(200):
        heat = cv2.GaussianBlur(rng.random((60, 80)).astype(np.float32) ** rng.uniform(1, 20), (0, 0), rng.uniform(0.5, 4))
        heat /= heat.max() + 1e-6
        threshold = rng.uniform(0.2, 0.9)
        assert (pool_score(heat) >= threshold) == binarize(heat, threshold).any()


def test_dataset_layouts(tmp_path):
    (tmp_path / "Tp").mkdir()
    (tmp_path / "Au").mkdir()
    (tmp_path / "Gt").mkdir()
    for name in ("Tp/t1.jpg", "Au/a1.jpg", "Gt/t1_gt.png"):
        (tmp_path / name).write_bytes(b"x")
    samples = load_dataset(tmp_path)
    assert [(s.name, s.label, s.mask.name if s.mask else None) for s in samples] == [
        ("t1.jpg", "manipulated", "t1_gt.png"), ("a1.jpg", "authentic", None)
    ]
    other = tmp_path / "o"
    (other / "manipulated").mkdir(parents=True)
    (other / "authentic").mkdir()
    (other / "masks").mkdir()
    for name in ("manipulated/m.png", "authentic/a.png", "masks/m.png"):
        (other / name).write_bytes(b"x")
    assert {(s.label, bool(s.mask)) for s in load_dataset(other)} == {("manipulated", True), ("authentic", False)}
    with pytest.raises(DatasetError, match="no labels.csv"):
        load_dataset(tmp_path / "Gt")


def test_examples_dataset_is_consistent():
    samples = load_dataset(ROOT / "examples")
    assert {s.label for s in samples} == {"authentic", "manipulated"}
    assert all(s.image.is_file() and (s.mask is None or s.mask.is_file()) for s in samples)


def test_every_subpackage_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    package_dir = Path(imlforensic.__file__).parent
    found = {
        "imlforensic" + ("." + ".".join(p.parent.relative_to(package_dir).parts) if p.parent != package_dir else "")
        for p in package_dir.rglob("__init__.py")
    }
    assert found | {"imlforensic.weights"} == listed


def test_the_cli_starts_without_loading_scikit_learn():
    """scikit-learn (1.5 s to import) is for metrics only: localize and detect must not pay for it."""
    import subprocess
    import sys

    probe = "import sys, imlforensic.cli; print(sorted(m for m in sys.modules if m.split('.')[0] == 'sklearn'))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
