"""``imlforensic refine`` and ``localize --refiner``: outputs, records, and one-line errors."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from refine_cases import constructed_case, iou
from typer.testing import CliRunner

from imlforensic.cli import app
from imlforensic.io.render import heatmap_to_grey

runner = CliRunner()
RGB, GT, COARSE = constructed_case()


@pytest.fixture()
def case(tmp_path):
    image = tmp_path / "photo.png"
    cv2.imwrite(str(image), cv2.cvtColor(RGB, cv2.COLOR_RGB2BGR))
    heatmap = tmp_path / "map.png"
    cv2.imwrite(str(heatmap), heatmap_to_grey(COARSE))
    return image, heatmap, tmp_path / "out"


def _run(*args: str):
    return runner.invoke(app, list(args))


def test_refine_writes_localize_outputs_and_the_coarse_map(case) -> None:
    image, heatmap, out = case
    result = _run("refine", str(image), "--heatmap", str(heatmap), "--refiner", "grabcut", "-o", str(out), "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout.splitlines()[-1])
    names = {"heatmap", "heatmap_color", "mask", "overlay", "coarse_heatmap", "coarse_overlay", "json"}
    assert set(record["outputs"]) == names
    for name in record["outputs"].values():
        assert (out / name).is_file()
    assert record["refiner"]["name"] == "grabcut" and record["refiner"]["task"] == "segmenter"
    assert record["method"]["name"] == "heatmap" and len(record["method"]["sha256"]) == 64
    mask = cv2.imread(str(out / "photo.png.mask.png"), cv2.IMREAD_GRAYSCALE) > 127
    coarse = cv2.imread(str(out / "photo.png.coarse-heatmap.png"), cv2.IMREAD_GRAYSCALE) / 255.0
    assert iou(GT, mask) > iou(GT, coarse >= 0.5)


def test_refine_boxes_only_makes_a_mask(case) -> None:
    image, _, out = case
    result = _run("refine", str(image), "--box", "52,52,144,146", "--refiner", "grabcut", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("annotated")  # the analyst's boxes, not a finding of the tool
    mask = cv2.imread(str(out / "photo.png.mask.png"), cv2.IMREAD_GRAYSCALE) > 127
    assert iou(GT, mask) > 0.8
    record = json.loads((out / "photo.png.json").read_text())
    assert record["settings"]["boxes"] == [[52.0, 52.0, 144.0, 146.0]]
    assert record["verdict"] == "annotated" and record["origin"] == "boxes"
    assert record["score"] is None and record["class_probs"] is None
    assert record["method"]["name"] == "boxes" and record["method"]["task"] == "input"


def test_refine_npy_map_and_boxes_file(case, tmp_path) -> None:
    image, _, out = case
    np.save(tmp_path / "map.npy", COARSE)
    (tmp_path / "boxes.json").write_text("[[40, 40, 150, 150]]")
    result = _run("refine", str(image), "--heatmap", str(tmp_path / "map.npy"), "--boxes", str(tmp_path / "boxes.json"),
                  "--refiner", "superpixel", "-o", str(out))
    assert result.exit_code == 0, result.output


def test_refine_resizes_a_map_of_another_size_with_a_notice(case, tmp_path) -> None:
    image, _, out = case
    small = tmp_path / "small.png"
    cv2.imwrite(str(small), heatmap_to_grey(cv2.resize(COARSE, (96, 96))))
    result = _run("refine", str(image), "--heatmap", str(small), "--refiner", "superpixel", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "notice: heatmap 96x96 resized to the image's 192x192" in result.stderr


@pytest.mark.parametrize(
    "extra, code, message",
    [
        (["--box", "1,2,3"], 2, "expected four numbers"),
        (["--box", "50,50,10,10"], 2, "x0 < x1"),
        (["--box", "500,500,600,600"], 2, "lies outside"),
        ([], 2, "give a coarse map"),
        (["--heatmap", "missing.png"], 1, "no such file"),
        (["--box", "0,0,10,10", "--refiner", "classical"], 2, "not a refiner"),
        (["--box", "0,0,10,10", "--refiner", "nope"], 2, "unknown model"),
    ],
)
def test_refine_bad_inputs_give_one_line_errors(case, extra, code, message) -> None:
    image, _, out = case
    result = _run("refine", str(image), "-o", str(out), *extra)
    assert result.exit_code == code
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and message in lines[0]
    assert "Traceback" not in result.output


def test_refine_rejects_unreadable_and_colour_maps(case, tmp_path) -> None:
    image, _, out = case
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    result = _run("refine", str(image), "--heatmap", str(broken), "-o", str(out))
    assert result.exit_code == 1 and "not a readable image" in result.stderr
    colour = tmp_path / "colour.png"
    cv2.imwrite(str(colour), cv2.applyColorMap(heatmap_to_grey(COARSE), cv2.COLORMAP_CIVIDIS))
    result = _run("refine", str(image), "--heatmap", str(colour), "-o", str(out))
    assert result.exit_code == 1 and "colour image" in result.stderr
    bad = tmp_path / "bad.npy"
    np.save(bad, COARSE * 3)
    result = _run("refine", str(image), "--heatmap", str(bad), "-o", str(out))
    assert result.exit_code == 1 and "[0, 1]" in result.stderr


def test_localize_with_refiner_writes_refined_and_coarse_outputs(case) -> None:
    image, _, out = case
    result = _run("localize", str(image), "--refiner", "superpixel", "-o", str(out), "--json", "-q")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout.splitlines()[-1])
    assert record["outputs"]["coarse_heatmap"] == "photo.png.coarse-heatmap.png"
    assert record["outputs"]["coarse_overlay"] == "photo.png.coarse-overlay.png"
    assert record["refiner"]["name"] == "superpixel"
    assert set(record["refiner"]) == {"name", "task", "version", "weights_sha256", "reference", "classes"}
    assert (out / "photo.png.coarse-overlay.png").is_file()
    if record["verdict"] == "authentic":  # the verdict and the refined mask never disagree
        assert not (cv2.imread(str(out / "photo.png.mask.png"), cv2.IMREAD_GRAYSCALE) > 0).any()
    # --skip-existing recognises the refined outputs as done
    again = _run("localize", str(image), "--refiner", "superpixel", "-o", str(out), "--skip-existing")
    assert again.exit_code == 0 and "1 skipped" in again.stderr


def test_localize_without_refiner_writes_no_coarse_files(case) -> None:
    image, _, out = case
    result = _run("localize", str(image), "-o", str(out), "-q")
    assert result.exit_code == 0
    assert not (out / "photo.png.coarse-heatmap.png").exists()


def test_localize_rejects_a_detector_as_refiner(case) -> None:
    image, _, out = case
    result = _run("localize", str(image), "--refiner", "noise", "-o", str(out))
    assert result.exit_code == 2 and "not a refiner" in result.stderr
