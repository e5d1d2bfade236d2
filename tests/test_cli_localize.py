"""End-to-end tests of `localize` and `detect` through the CLI."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import make_splice, save

from imlforensic.cli import app
from imlforensic.metrics.pixel import auc, f1_score
from imlforensic.registry import DEFAULT_METHOD

FIVE = (".heatmap.png", ".heatmap-color.png", ".mask.png", ".overlay.png", ".json")


def outputs_of(folder: Path, rel: str) -> list[Path]:
    return [folder / f"{rel}{suffix}" for suffix in FIVE]


@pytest.mark.parametrize("method", ["classical", "sel"])
def test_classical_views_find_a_jpeg_splice(tmp_path, runner, photos, method):
    # A block from a quality-50 JPEG pasted into a quality-90 photo, saved losslessly:
    # the classic "JPEG ghost" case. Measured F1 when this test was written: 0.77.
    rgb, truth = make_splice(photos["coffee"], photos["astronaut"])
    image = save(rgb, tmp_path / "in" / "splice.png")
    result = runner.invoke(app, ["localize", str(image), "--out", str(tmp_path / "out"), "--method", method])
    assert result.exit_code == 0, result.output
    mask = cv2.imread(str(tmp_path / "out" / "splice.png.mask.png"), cv2.IMREAD_GRAYSCALE)
    assert set(np.unique(mask)) <= {0, 255}
    assert f1_score(truth, mask > 127) > 0.45
    record = json.loads((tmp_path / "out" / "splice.png.json").read_text())
    assert record["verdict"] == "manipulated" and record["score"] >= record["threshold"]


def test_noise_view_ranks_a_noisier_region_high(tmp_path, runner, photos):
    # The noise view is calibrated conservatively (5 % of authentic photos flagged), so it is
    # asserted as a ranking cue: the stored heatmap must put the noisy region on top.
    rgb = cv2.resize(photos["coffee"], (480, 320)).astype(np.float32)
    rng = np.random.default_rng(0)
    truth = np.zeros(rgb.shape[:2], bool)
    truth[80:240, 160:320] = True
    rgb[truth] += rng.normal(0, 12, size=(int(truth.sum()), 3))
    image = save(np.clip(rgb, 0, 255).astype(np.uint8), tmp_path / "noisy.png")
    result = runner.invoke(app, ["localize", str(image), "--out", str(tmp_path / "o"), "--method", "noise"])
    assert result.exit_code == 0, result.output
    heatmap = cv2.imread(str(tmp_path / "o" / "noisy.png.heatmap.png"), cv2.IMREAD_GRAYSCALE) / 255.0
    assert auc(truth, heatmap) > 0.85


def test_authentic_photo_is_not_flagged_by_the_calibrated_classical_method(tmp_path, runner, photos):
    # (the learned default flags this photo: a known false positive, docs/BENCHMARKS.md)
    image = save(photos["astronaut"], tmp_path / "astronaut.jpg", quality=90)
    result = runner.invoke(app, ["localize", str(image), "--out", str(tmp_path / "o"), "--json", "-m", "classical"])
    assert result.exit_code == 0
    record = json.loads(result.stdout.strip())
    assert record["verdict"] == "authentic"
    assert record["flagged_fraction"] == 0.0


def test_outputs_shape_and_record(tmp_path, runner, photos):
    image = save(photos["rocket"], tmp_path / "rocket.jpg", quality=85)
    before = hashlib.sha256(image.read_bytes()).hexdigest()
    result = runner.invoke(app, ["localize", str(image), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    files = outputs_of(tmp_path / "o", "rocket.jpg")
    assert all(f.is_file() for f in files)
    h, w = photos["rocket"].shape[:2]
    grey = cv2.imread(str(files[0]), cv2.IMREAD_UNCHANGED)
    assert grey.shape == (h, w) and grey.dtype == np.uint8
    assert cv2.imread(str(files[1])).shape == (h, w, 3)
    assert cv2.imread(str(files[3])).shape == (h, w, 3)
    record = json.loads(files[4].read_text())
    assert record["input"]["sha256"] == before
    assert record["input"]["width"] == w and record["input"]["height"] == h
    assert record["method"]["name"] == DEFAULT_METHOD and record["method"]["version"]
    assert record["tool"]["name"] == "imlforensic"
    assert record["verdict"] in ("authentic", "manipulated", "generated")
    assert set(record["outputs"]) == {"heatmap", "heatmap_color", "mask", "overlay", "json"}
    assert "analyse" in record["timings_s"]
    # the input is never modified, and no temporary files are left behind
    assert hashlib.sha256(image.read_bytes()).hexdigest() == before
    assert not list((tmp_path / "o").glob(".*"))


def test_batch_with_broken_files_writes_good_ones_and_exits_1(tmp_path, runner, photos):
    folder = tmp_path / "case"
    save(photos["coffee"], folder / "good1.jpg", quality=90)
    save(photos["chelsea"], folder / "sub" / "good2.png")
    (folder / "notes.jpg").write_text("this is not an image")
    (folder / "empty.png").write_bytes(b"")
    full = (folder / "good1.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(full[: len(full) // 3])
    result = runner.invoke(app, ["localize", str(folder), "-r", "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    for rel in ("good1.jpg", "sub/good2.png"):
        assert all(f.is_file() for f in outputs_of(tmp_path / "out", rel)), rel
    err = result.stderr
    for name in ("notes.jpg", "empty.png", "truncated.jpg"):
        assert sum(name in line and line.startswith("error:") for line in err.splitlines()) == 1
    assert "3 failed" in err
    assert not (tmp_path / "out" / "notes.jpg.json").exists()


def test_json_lines_one_object_per_image_including_failures(tmp_path, runner, photos):
    a = save(photos["coffee"], tmp_path / "a.jpg", quality=90)
    b = tmp_path / "b.jpg"
    b.write_bytes(b"\xff\xd8\xff garbage")
    result = runner.invoke(app, ["detect", str(a), str(b), "--json"])
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 2
    good = next(r for r in lines if r["schema"] == "imlforensic.result/1")
    bad = next(r for r in lines if r["schema"] == "imlforensic.error/1")
    assert good["input"]["path"] == str(a) and 0.0 <= good["score"] <= 1.0
    assert bad["input"]["path"] == str(b) and "b.jpg" in bad["error"]


def test_detect_writes_only_json_and_prints_a_line(tmp_path, runner, photos):
    image = save(photos["coffee"], tmp_path / "c.jpg", quality=90)
    result = runner.invoke(app, ["detect", str(image), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["c.jpg.json"]
    verdict, score, path = result.stdout.split()
    assert verdict in ("authentic", "manipulated") and 0 <= float(score) <= 1 and path == str(image)


def test_output_tree_mirrors_inputs_without_collisions(tmp_path, runner, photos):
    save(photos["coffee"], tmp_path / "x" / "a.jpg", quality=90)
    save(photos["rocket"], tmp_path / "y" / "a.jpg", quality=90)
    save(photos["chelsea"], tmp_path / "y" / "a.png")
    result = runner.invoke(app, ["localize", str(tmp_path / "x"), str(tmp_path / "y"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    for rel in ("x/a.jpg", "y/a.jpg", "y/a.png"):
        assert all(f.is_file() for f in outputs_of(tmp_path / "o", rel)), rel
    sha = {json.loads(p.read_text())["input"]["sha256"] for p in (tmp_path / "o").rglob("*.json")}
    assert len(sha) == 3


def test_glob_and_stdin_inputs(tmp_path, runner, photos):
    save(photos["coffee"], tmp_path / "p1.jpg", quality=90)
    save(photos["rocket"], tmp_path / "p2.jpg", quality=90)
    result = runner.invoke(app, ["detect", str(tmp_path / "*.jpg"), "--json"])
    assert result.exit_code == 0 and len(result.stdout.splitlines()) == 2
    listing = f"{tmp_path / 'p1.jpg'}\n\n{tmp_path / 'p2.jpg'}\n"
    result = runner.invoke(app, ["detect", "-", "--json"], input=listing)
    assert result.exit_code == 0
    assert {json.loads(line)["input"]["path"] for line in result.stdout.splitlines()} == {
        str(tmp_path / "p1.jpg"), str(tmp_path / "p2.jpg")
    }


def test_output_folder_inside_input_tree_is_not_reingested(tmp_path, runner, photos):
    save(photos["coffee"], tmp_path / "case" / "a.jpg", quality=90)
    out = tmp_path / "case" / "results"
    for _ in range(2):
        result = runner.invoke(app, ["localize", str(tmp_path / "case"), "-r", "--out", str(out), "--json"])
        assert result.exit_code == 0
        assert len(result.stdout.splitlines()) == 1


def test_skip_existing_resumes_and_redoes_changed_inputs(tmp_path, runner, photos):
    image = save(photos["coffee"], tmp_path / "in" / "a.jpg", quality=90)
    out = tmp_path / "o"
    assert runner.invoke(app, ["localize", str(image), "--out", str(out)]).exit_code == 0
    mtime = (out / "a.jpg.json").stat().st_mtime_ns
    result = runner.invoke(app, ["localize", str(image), "--out", str(out), "--skip-existing"])
    assert result.exit_code == 0 and "1 skipped" in result.stderr
    assert (out / "a.jpg.json").stat().st_mtime_ns == mtime
    save(photos["rocket"], image, quality=90)  # same name, new content: must be redone
    result = runner.invoke(app, ["localize", str(image), "--out", str(out), "--skip-existing"])
    assert "1 analysed" in result.stderr
    assert json.loads((out / "a.jpg.json").read_text())["input"]["sha256"] == hashlib.sha256(image.read_bytes()).hexdigest()


def test_unwritable_output_folder(tmp_path, runner, photos):
    image = save(photos["coffee"], tmp_path / "a.jpg", quality=90)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = runner.invoke(app, ["localize", str(image), "--out", str(blocker / "sub")])
    assert result.exit_code == 1
    # notes (e.g. a fallback of the default method) may precede it; the failure is one line
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("note:")]
    assert len(lines) == 1 and lines[0].startswith("error: cannot write to output folder")


@pytest.mark.parametrize(
    "args, message",
    [
        (["localize", "IMG", "--threshold", "1.5"], "threshold"),
        (["localize", "IMG", "--method", "nope"], "unknown model 'nope'"),
        (["localize", "IMG", "--device", "gpu7"], "unknown device"),
        (["localize", "EMPTY"], "no image files found"),
        (["localize"], "Missing argument"),
    ],
)
def test_usage_errors_exit_2(tmp_path, runner, photos, args, message):
    image = save(photos["coffee"], tmp_path / "a.jpg", quality=90)
    (tmp_path / "empty").mkdir()
    args = [str(image) if a == "IMG" else str(tmp_path / "empty") if a == "EMPTY" else a for a in args]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output


def test_missing_input_path_is_a_failure_not_a_crash(tmp_path, runner, photos):
    image = save(photos["coffee"], tmp_path / "a.jpg", quality=90)
    result = runner.invoke(app, ["detect", str(image), str(tmp_path / "nope.jpg")])
    assert result.exit_code == 1
    assert "nope.jpg: no such file or folder" in result.stderr


def test_version_and_help_examples(runner):
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.startswith("imlforensic ")
    for command in (["detect"], ["localize"], ["evaluate"], ["models", "list"], ["models", "fetch"]):
        help_text = runner.invoke(app, command + ["--help"]).stdout
        assert "Example" in help_text and "imlforensic " in help_text, command


@pytest.mark.parametrize("method", ["transcam", "boxprompt"])
def test_a_method_without_weights_fails_before_making_the_output_folder(
    tmp_path, runner, photos, isolated_registry, monkeypatch, method
):
    """Missing weights: one line, exit 1, and no empty --out folder left behind; a method that
    loads still creates a new --out (nested) folder."""
    import dataclasses

    from imlforensic.registry.weights import BundledFile

    entry = isolated_registry.entry(method)
    missing = BundledFile(f"{method}-not-shipped-in-this-test.safetensors")
    monkeypatch.setitem(isolated_registry._entries, method, dataclasses.replace(entry, weights=missing))
    image = save(photos["coffee"][:96, :128], tmp_path / "in" / "photo.png")
    out = tmp_path / "results" / method
    result = runner.invoke(app, ["localize", "--method", method, str(image), "--out", str(out)])
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: cannot load {method!r}: weights for {method!r} are not installed: "
        f"expected weights/{method}-not-shipped-in-this-test.safetensors"
    ]
    assert not out.exists() and not (tmp_path / "results").exists()
    result = runner.invoke(app, ["localize", "--method", "classical", str(image), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert (out / "photo.png.overlay.png").is_file()
