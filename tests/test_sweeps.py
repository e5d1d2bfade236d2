"""Robustness sweeps: perturbations as files, and ``evaluate --perturb`` tables, JSON and plots."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scale_helpers import EXAMPLES, ROOT

from imlforensic.cli import app
from imlforensic.data.perturbations import PerturbationError, parse_perturbations
from imlforensic.io.images import load_image


def test_parsing_keeps_order_and_refuses_bad_strengths():
    found = parse_perturbations(["jpeg:95,75", "resize:0.5", "jpeg:75", "noise:3"])
    assert [p.label for p in found] == ["jpeg:95", "jpeg:75", "resize:0.5", "noise:3"]
    for bad, words in (
        ("jpeg:101", "1 to 100"),
        ("jpeg:7.5", "whole number"),
        ("resize:0", "above 0"),
        ("blur:-1", "above 0"),
        ("crop:0.5", "unknown perturbation 'crop'"),
        ("jpeg", "give strengths"),
        ("noise:x", "'x' is not a number"),
    ):
        with pytest.raises(PerturbationError, match=words):
            parse_perturbations([bad])


def test_perturbed_pictures_are_decoded_files():
    image = load_image(EXAMPLES / "splice.jpg")
    mask = np.zeros(image.rgb.shape[:2], bool)
    mask[100:200, 150:300] = True
    jpeg, resize, blur, noise, webp = parse_perturbations(["jpeg:60", "resize:0.5", "blur:2", "noise:5", "webp:80"])
    recompressed = jpeg.apply(image)
    assert recompressed.format == "JPEG" and recompressed.jpeg_quality == 60
    assert recompressed.sha256 != image.sha256 and recompressed.display.endswith("[jpeg:60]")
    assert webp.apply(image).format == "WEBP"
    small = resize.apply(image)
    assert small.rgb.shape == (200, 300, 3) and small.format == "PNG" and small.luma_table is None
    small_mask = resize.apply_mask(mask)
    assert small_mask.shape == (200, 300) and small_mask[50:100, 75:150].all() and small_mask.sum() == 50 * 75
    assert blur.apply_mask(mask) is mask  # geometry unchanged
    assert blur.apply(image).rgb.std() < image.rgb.std()
    first, second = noise.apply(image), noise.apply(image)
    assert np.array_equal(first.rgb, second.rgb)  # seeded per image
    assert 3.5 < np.abs(first.rgb.astype(float) - image.rgb).mean() < 4.5  # sigma 5: mean |noise| 4.0


def test_evaluate_perturb_gives_tables_json_and_plots(tmp_path, runner):
    from imlforensic.cli.evaluate import format_sweep_table
    from imlforensic.pipeline.analysis import Analyzer
    from imlforensic.pipeline.evaluation import evaluate_dataset

    clean = evaluate_dataset(ROOT / "examples", Analyzer("classical"), show_progress=False).summary.as_dict()
    plot = tmp_path / "figs" / "robustness"
    args = ["evaluate", str(ROOT / "examples"), "-m", "classical", "-m", "noise", "--perturb", "jpeg:50"]
    args += ["--perturb", "resize:0.5", "--plot", str(plot), "-q"]
    swept = runner.invoke(app, args + ["--json"])
    assert swept.exit_code == 0, swept.output
    payload = json.loads(swept.stdout)
    assert payload["perturbations"] == ["jpeg:50", "resize:0.5"]
    assert [run["method"] for run in payload["runs"]] == ["classical", "noise"]
    rows = {row["condition"]: row for row in payload["runs"][0]["conditions"]}
    assert list(rows) == ["none", "jpeg:50", "resize:0.5"]
    for key, value in clean.items():  # the clean condition is the plain evaluation
        if key != "seconds_per_image":
            assert rows["none"][key] == value, key
    assert rows["resize:0.5"]["kind"] == "resize" and rows["resize:0.5"]["strength"] == 0.5
    assert rows["jpeg:50"]["pixel_auc"] != rows["none"]["pixel_auc"]
    assert payload["plots"] == [str(plot.with_suffix(".png")), str(plot.with_suffix(".pdf"))]
    assert plot.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    assert plot.with_suffix(".pdf").read_bytes()[:5] == b"%PDF-"
    table = format_sweep_table(payload["runs"][1]).splitlines()
    assert table[0].split()[:3] == ["condition", "images", "pixel"] and table[3].startswith("resize:0.5  4 ")
    refused = runner.invoke(app, ["evaluate", str(ROOT / "examples"), "--perturb", "jpeg:0"])
    assert refused.exit_code == 2 and "1 to 100" in refused.output
    assert runner.invoke(app, ["evaluate", str(ROOT / "examples"), "--plot", "x"]).exit_code == 2
