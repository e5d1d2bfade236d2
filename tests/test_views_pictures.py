"""``localize --views``: the forensic views written as pictures beside the maps."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import jpeg_roundtrip, save
from typer.testing import CliRunner

from imlforensic.cli import app
from imlforensic.io.case import load_case
from imlforensic.io.images import load_image
from imlforensic.report.html import write_case_viewer
from imlforensic.views.pictures import ELA_SCALE, ela_picture, parse_views, render_views

runner = CliRunner()


def test_error_levels_are_high_where_recompression_changes_most() -> None:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:128, 0:160]
    host = np.stack([xx, yy, xx + yy], axis=2).astype(np.float64)
    picture = jpeg_roundtrip(np.clip(host, 0, 255).astype(np.uint8), 90).copy()  # smooth, saved once at 90
    picture[40:88, 48:112] = rng.integers(0, 256, (48, 64, 3))  # pasted, never compressed
    ela = ela_picture(picture)
    assert ela.shape == picture.shape and ela.dtype == np.uint8
    inside, outside = ela[40:88, 48:112].mean(), np.delete(ela, np.s_[36:92], axis=0).mean()
    assert inside > 5 * outside and outside < 3 * ELA_SCALE
    assert ela_picture(np.full((64, 64, 3), 128, np.uint8)).max() == 0  # flat grey survives JPEG exactly


def test_view_names() -> None:
    assert parse_views("ela, Noise") == ("ela", "noise") and parse_views(None) == ()
    assert parse_views("all") == ("ela", "sel", "noise", "dq")
    with pytest.raises(ValueError, match="unknown view.*bogus"):
        parse_views("ela,bogus")


def test_dq_applies_to_jpeg_only(tmp_path, photos) -> None:
    png = load_image(save(photos["coffee"][:96, :128], tmp_path / "a.png"))
    pictures, notes = render_views(png, ("ela", "dq"))
    assert set(pictures) == {"ela"} and notes and notes[0].startswith("View 'dq' not written")


def test_localize_writes_the_views_and_resumes(tmp_path, photos) -> None:
    folder = tmp_path / "in"
    save(photos["coffee"][:160, :200], folder / "a.png")
    save(photos["rocket"][:160, :200], folder / "b.jpg", quality=80)
    out = tmp_path / "out"
    result = runner.invoke(app, ["localize", str(folder), "-m", "classical", "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert not list(out.glob("*.view-*.png"))  # only on request
    result = runner.invoke(
        app, ["localize", str(folder), "-m", "classical", "--out", str(out), "--views", "all", "--skip-existing"]
    )
    assert result.exit_code == 0 and "skipped" not in result.stderr  # the views were missing: analysed again
    for name in ("a.png", "b.jpg"):
        record = json.loads((out / f"{name}.json").read_text())
        for view in ("ela", "sel", "noise"):
            assert record["outputs"][f"view_{view}"] == f"{name}.view-{view}.png"
            assert (out / f"{name}.view-{view}.png").is_file()
        assert "views" in record["timings_s"]
    png = json.loads((out / "a.png.json").read_text())
    assert "view_dq" not in png["outputs"] and any(n.startswith("View 'dq' not written") for n in png["notes"])
    again = runner.invoke(
        app, ["localize", str(folder), "-m", "classical", "--out", str(out), "--views", "all", "--skip-existing"]
    )
    assert again.exit_code == 0 and "2 skipped" in again.stderr

    viewer = write_case_viewer(tmp_path / "viewer", load_case(out))
    index = viewer.index.read_text(encoding="utf-8")
    assert "Error levels (ELA" in index and list((tmp_path / "viewer" / "img").glob("*/view-ela.png"))


def test_views_need_the_maps(tmp_path, photos) -> None:
    path = save(photos["coffee"][:96, :128], tmp_path / "a.png")
    assert runner.invoke(app, ["detect", str(path), "--views", "ela"]).exit_code == 2
    result = runner.invoke(app, ["localize", str(path), "--views", "nope", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "unknown view" in result.stderr
