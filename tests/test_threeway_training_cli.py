"""``imlforensic train --network threeway``: labelled folders -> chain -> cached features -> the three
stages -> a calibrated checkpoint that ``detect --method threeway --weights`` runs."""

from __future__ import annotations

import csv
import dataclasses
import json

import numpy as np
import pytest
from conftest import save

from imlforensic.cli import app
from imlforensic.models.threeway import load_threeway


def _generated_like(rng: np.random.Generator, size: int = 224) -> np.ndarray:
    """Smooth procedural colour fields: a stand-in class that an extractor tells from photos."""
    y, x = np.mgrid[0:size, 0:size] / size
    channels = [np.sin(2 * np.pi * (rng.uniform(1, 3) * x + rng.uniform(1, 3) * y + rng.uniform())) for _ in range(3)]
    return ((np.stack(channels, -1) * 0.5 + 0.5) * 255).astype(np.uint8)


def _crop(photo: np.ndarray, rng: np.random.Generator, size: int = 224) -> np.ndarray:
    y, x = rng.integers(0, photo.shape[0] - size), rng.integers(0, photo.shape[1] - size)
    return np.ascontiguousarray(photo[y : y + size, x : x + size])


def _folder(root, rows):
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "labels.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "label"])
        writer.writerows(rows)
    return root


@pytest.fixture(scope="module")
def folders(tmp_path_factory, photos):
    """A labelled folder with all three classes (12 each) and a folder of host photos."""
    root = tmp_path_factory.mktemp("threeway-train")
    rng = np.random.default_rng(0)
    sources = [photos["astronaut"], photos["coffee"], photos["chelsea"], photos["rocket"]]
    rows = []
    for i in range(12):
        save(_crop(sources[i % 4], rng), root / "pool" / f"real_{i}.jpg", quality=90)
        save(_generated_like(rng), root / "pool" / f"gen_{i}.png")
        edited = _crop(sources[(i + 1) % 4], rng)
        edited[60:140, 60:140] = _generated_like(rng, 80)  # a pasted block
        save(edited, root / "pool" / f"edit_{i}.jpg", quality=90)
        rows += [[f"real_{i}.jpg", "authentic"], [f"gen_{i}.png", "generated"], [f"edit_{i}.jpg", "manipulated"]]
    _folder(root / "pool", rows)
    for i, photo in enumerate(sources):
        save(photo, root / "hosts" / f"host_{i}.jpg", quality=92)
    _folder(root / "only_real", [["real_0.jpg", "authentic"]])
    save(_crop(sources[0], rng), root / "only_real" / "real_0.jpg", quality=90)
    return root


def _train(runner, folders, out, *extra):
    args = ["train", str(folders / "pool"), "--network", "threeway", "--preset", "tiny", "--out", str(out), "-q"]
    return runner.invoke(app, args + ["--synthesize-from", str(folders / "hosts"), *extra])


def _cached_rows(out) -> int:
    (index,) = (out / "cache").glob("*/index.jsonl")
    return len(index.read_text().splitlines())


def test_train_threeway_writes_a_calibrated_checkpoint_the_method_runs(
    tmp_path, runner, folders, isolated_registry, monkeypatch
):
    out = tmp_path / "run"
    result = _train(runner, folders, out)
    assert result.exit_code == 0, result.output
    assert "checkpoint:" in result.output and "--method threeway --weights" in result.output

    model, header = load_threeway(out / "last.safetensors")
    assert header["extractor"] == "lite0" and header["views"] == 2 and header["seed"] == 0
    assert model.calibration.head in ("classifier", "teacher")
    assert 0.0 < model.calibration.generated_threshold < 1.0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pictures"]["pool/generated"] == 12 and summary["pictures"]["synthetic/manipulated"] == 6
    assert sum(summary["train_rows_by_class"]) + sum(summary["val_rows_by_class"]) > 36
    assert all(n > 0 for n in summary["train_rows_by_class"])
    stages = [json.loads(line)["stage"] for line in (out / "log.jsonl").read_text().splitlines()]
    assert stages[0] == "teacher" and "students" in stages and stages[-1] == "classifier"
    # the procedural "generated" class is easy: the validation rows must show it was learned
    assert summary["validation"]["per_class_accuracy_val"]["generated"] >= 0.5

    # the checkpoint through detect (classical localizer: the test is about the classifier)
    entry = isolated_registry.entry("threeway")
    monkeypatch.setitem(
        isolated_registry._entries, "threeway", dataclasses.replace(entry, extra={"localizer": "classical"})
    )
    image = folders / "pool" / "gen_3.png"
    detect = ["detect", str(image), "--method", "threeway", "--weights", str(out / "last.safetensors"), "--json"]
    result = runner.invoke(app, detect)
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert sum(record["class_probs"].values()) == pytest.approx(1.0)
    assert record["details"]["generated_threshold"] == pytest.approx(model.calibration.generated_threshold)

    # --resume reuses the cached features (nothing extracted again) and gives the same model
    rows = _cached_rows(out)
    first = (out / "last.safetensors").read_bytes()
    result = _train(runner, folders, out, "--resume")
    assert result.exit_code == 0, result.output
    assert _cached_rows(out) == rows
    assert (out / "last.safetensors").read_bytes() == first

    # a resumed run over other pictures is refused, in one line
    result = runner.invoke(
        app,
        ["train", str(folders / "pool"), "--network", "threeway", "--preset", "tiny", "--out", str(out), "--resume", "-q"],
    )
    assert result.exit_code == 1
    assert "cache was made for other pictures" in result.output and len(result.output.strip().splitlines()) == 1


def test_train_threeway_needs_all_three_classes(tmp_path, runner, folders):
    result = runner.invoke(
        app, ["train", str(folders / "only_real"), "--network", "threeway", "--preset", "tiny", "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 1
    assert "no manipulated and no generated pictures" in result.output


def test_train_threeway_rejects_options_of_the_localizers(tmp_path, runner, folders):
    base = ["train", str(folders / "pool"), "--network", "threeway", "--out", str(tmp_path / "o")]
    result = runner.invoke(app, [*base, "--steps", "10"])
    assert result.exit_code == 2 and "--steps does not apply" in result.output
    result = runner.invoke(app, [*base, "--preset", "huge"])
    assert result.exit_code == 2 and "unknown preset" in result.output
    result = runner.invoke(app, ["train", str(folders / "pool"), "--extractor", "lite1", "--out", str(tmp_path / "p")])
    assert result.exit_code == 2 and "--network threeway" in result.output
