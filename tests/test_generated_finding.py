"""A ``generated`` verdict is a whole-image finding: the overlay carries a "FULLY GENERATED"
banner and outlines no region, the report page says "fully generated"; a ``manipulated``
result still draws its regions. Methods made here (no shipped network is needed)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import save
from PIL import Image
from report_helpers import pdf_text

from imlforensic.cli import app
from imlforensic.io.images import LoadedImage, load_image
from imlforensic.io.render import GENERATED_BANNER_RGB, banner_height, render_overlay
from imlforensic.methods.base import Method, MethodOutput
from imlforensic.pipeline.analysis import Analyzer
from imlforensic.pipeline.outputs import encode_maps
from imlforensic.registry import BuildContext, ModelEntry, Registry
from imlforensic.report import ReportOptions, build_report, collect
from imlforensic.report.evidence import draw_region_labels

H, W = 192, 256


class WholeImageGenerated(Method):
    """What ``threeway`` gives for a generated picture: g everywhere, generated most probable."""

    def analyse(self, image: LoadedImage) -> MethodOutput:
        heatmap = np.full(image.rgb.shape[:2], 0.95, np.float32)
        probs = {"authentic": 0.03, "manipulated": 0.02, "generated": 0.95}
        return MethodOutput(heatmap=heatmap, score=1.0, class_probs=probs)


class LowerSquare(Method):
    """A local edit, well below where a banner would be."""

    def analyse(self, image: LoadedImage) -> MethodOutput:
        heatmap = np.zeros(image.rgb.shape[:2], np.float32)
        heatmap[100:160, 120:200] = 0.9
        return MethodOutput(heatmap=heatmap, score=0.9)


def build_generated(context: BuildContext) -> Method:
    return WholeImageGenerated(context.card)


def build_square(context: BuildContext) -> Method:
    return LowerSquare(context.card)


def _register(registry: Registry) -> None:
    for name, builder in (("fakegen", "build_generated"), ("fakesquare", "build_square")):
        registry.register(
            ModelEntry(name=name, task="detector", version="0.1", summary="a test method", builder=f"{__name__}:{builder}")
        )


@pytest.fixture()
def image(tmp_path, photos) -> LoadedImage:
    return load_image(save(np.ascontiguousarray(photos["coffee"][:H, :W]), tmp_path / "photo.png"))


def _overlay(analysis) -> np.ndarray:
    import io

    return np.asarray(Image.open(io.BytesIO(encode_maps(analysis)["overlay"])).convert("RGB"))


def test_generated_overlay_has_the_banner_and_no_outlines(image) -> None:
    registry = Registry()
    _register(registry)
    analysis = Analyzer("fakegen", registry=registry).analyse(image)
    assert analysis.verdict == "generated" and analysis.mask.all()  # the mask covers the whole picture
    overlay = _overlay(analysis)
    plain = render_overlay(image.rgb, np.zeros((H, W), bool))  # the picture as overlays show it, nothing drawn
    band = banner_height(H, W)
    assert 12 <= band < H // 4
    top, below = overlay[:band].astype(int), overlay[band:]
    assert np.abs(top - plain[:band].astype(int)).mean() > 40  # the banner is there
    assert (np.abs(top - GENERATED_BANNER_RGB).sum(axis=2) < 10).mean() > 0.6  # mostly its colour
    assert ((top > 230).all(axis=2)).any()  # and white lettering on it
    np.testing.assert_array_equal(below, plain[band:])  # no fill, no contour: nothing outlined
    # the same mask drawn as a local finding would cover the picture with fill and a contour
    assert (render_overlay(image.rgb, analysis.mask)[band:] != plain[band:]).any()


def test_manipulated_overlay_still_draws_its_region(image) -> None:
    registry = Registry()
    _register(registry)
    analysis = Analyzer("fakesquare", registry=registry).analyse(image)
    assert analysis.verdict == "manipulated"
    overlay = _overlay(analysis)
    plain = render_overlay(image.rgb, np.zeros((H, W), bool))
    changed = (overlay != plain).any(axis=2)
    assert changed[100:160, 120:200].mean() > 0.9  # filled
    assert changed[96:104, 116:204].any() and not changed[:80].any()  # outlined there, and no banner


class _Recorder:
    def __init__(self) -> None:
        self.rects: list[tuple] = []

    def rect(self, *args, **kwargs) -> None:
        self.rects.append(args)

    def text(self, *args, **kwargs) -> None:
        pass


def test_report_says_fully_generated_and_boxes_only_a_manipulated_pictures_regions(
    tmp_path, runner, photos, isolated_registry
) -> None:
    _register(isolated_registry)
    rgb = np.ascontiguousarray(photos["coffee"][:H, :W])
    gen = save(rgb, tmp_path / "in" / "gen.png")
    edit = save(rgb, tmp_path / "in" / "edit.png")
    results = {}
    for method, path in (("fakegen", gen), ("fakesquare", edit)):
        out = tmp_path / f"out-{method}"
        result = runner.invoke(app, ["localize", str(path), "--method", method, "--out", str(out), "-q"])
        assert result.exit_code == 0, result.output
        results[method] = out
    collection = collect(list(results.values()))
    pdf = tmp_path / "case.pdf"
    build_report(collection, pdf, ReportOptions(title="Generated", date="2024-06-01"))
    pages = [" ".join(p.split()) for p in pdf_text(pdf)]
    generated_page = next(p for p in pages if p.startswith("Image ") and "gen.png" in p)
    edited_page = next(p for p in pages if p.startswith("Image ") and "edit.png" in p)
    assert "FULLY GENERATED" in generated_page and "whole-image finding" in generated_page
    assert "fully generated (a whole-image finding: no region is outlined)" in generated_page
    assert "no region is outlined" in generated_page and "yellow boxes" not in generated_page
    assert "fully generated" not in edited_page.lower() and "MANIPULATED" in edited_page
    assert "yellow boxes: its regions" in edited_page
    # the region boxes drawn on the overlays: none for the generated picture, the edit's for the other
    items = {item.name: item for item in collection.items}
    gen_record, edit_record = items["gen.png"].record, items["edit.png"].record
    assert gen_record is not None and edit_record is not None
    assert (gen_record.regions or {}).get("regions")  # its mask has a region, which is not boxed
    canvas = _Recorder()
    assert draw_region_labels(canvas, 0, 0, W, H, gen_record, W, H) == 0 and canvas.rects == []  # type: ignore[arg-type]
    assert draw_region_labels(canvas, 0, 0, W, H, edit_record, W, H) == 1 and canvas.rects  # type: ignore[arg-type]
