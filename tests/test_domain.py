"""Reliability notes: which pictures are outside what the methods were made for, and the
conservative decision the pipeline takes there."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import save

from imlforensic.forensics.domain import CONSERVATIVE_THRESHOLD, Reliability, assess
from imlforensic.io.images import LoadedImage, load_image
from imlforensic.methods.base import Method, MethodOutput
from imlforensic.pipeline.analysis import Analyzer
from imlforensic.pipeline.records import ResultRecord, RunSettings
from imlforensic.registry import BuildContext, ModelEntry, Registry


def photo_like(rng: np.random.Generator, shape=(480, 640)) -> np.ndarray:
    """Smooth shapes plus sensor-like noise: what a photograph's statistics look like."""
    base = cv2.GaussianBlur(rng.random((*shape, 3)).astype(np.float32), (0, 0), 12) * 255
    return np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)


def screenshot_like(shape=(480, 640)) -> np.ndarray:
    rgb = np.full((*shape, 3), 245, np.uint8)
    cv2.rectangle(rgb, (0, 0), (shape[1], 40), (40, 60, 90), -1)
    for row in range(80, shape[0] - 20, 24):
        cv2.putText(rgb, "def analyse(image): return 0", (20, row), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (20, 20, 20), 1)
    return rgb


def test_a_photograph_is_in_the_domain():
    result = assess(photo_like(np.random.default_rng(0)), jpeg_quality=90)
    assert result.flags == [] and result.in_domain
    assert result.measures["flat_blocks"] < 0.2


def test_graphics_small_upscaled_and_heavily_compressed_pictures_are_flagged():
    rng = np.random.default_rng(1)
    assert "graphics" in assess(screenshot_like()).flags
    small = assess(photo_like(rng, (120, 160)))
    assert small.flags == ["small"] and not small.in_domain
    assert "120 px" in small.notes[0]
    tiny = photo_like(rng, (160, 200))
    upscaled = cv2.resize(tiny, (800, 640), interpolation=cv2.INTER_CUBIC)
    assert assess(upscaled).flags == ["upscaled"]
    compressed = assess(photo_like(rng), jpeg_quality=40)
    assert compressed.flags == ["heavy_recompression"] and "quality about 40" in compressed.notes[0]


def test_reliability_round_trips_through_the_record_json():
    result = assess(screenshot_like(), jpeg_quality=55)
    result.conservative_threshold = CONSERVATIVE_THRESHOLD
    again = Reliability.from_json(result.to_json())
    assert again is not None
    assert (again.flags, again.notes, again.conservative_threshold) == (result.flags, result.notes, 0.9)
    assert again.measures == pytest.approx(result.measures, abs=1e-4)
    assert again.to_json() == result.to_json()
    assert Reliability.from_json(None) is None


class Constant(Method):
    """A method whose map is 0.7 in one square: above its own threshold 0.5, below 0.9."""

    def analyse(self, image: LoadedImage) -> MethodOutput:
        heatmap = np.zeros(image.rgb.shape[:2], np.float32)
        heatmap[20:120, 20:120] = 0.7
        return MethodOutput(heatmap=heatmap, score=0.7)


def build_constant(context: BuildContext) -> Constant:
    return Constant(context.card, default_threshold=0.5)


@pytest.fixture()
def registry() -> Registry:
    registry = Registry()
    registry.register(
        ModelEntry(name="constant", task="detector", version="1", summary="test", builder=f"{__name__}:build_constant")
    )
    return registry


def test_outside_the_domain_the_verdict_is_conservative_and_says_so(tmp_path, registry):
    graphic = load_image(save(screenshot_like(), tmp_path / "screen.png"))
    photo = load_image(save(photo_like(np.random.default_rng(2)), tmp_path / "photo.png"))
    analyzer = Analyzer("constant", device="cpu", registry=registry)
    on_photo, on_graphic = analyzer.analyse(photo), analyzer.analyse(graphic)
    assert on_photo.verdict == "manipulated" and on_photo.threshold == 0.5
    assert on_photo.reliability is not None and on_photo.reliability.conservative_threshold is None
    assert on_graphic.verdict == "authentic" and not on_graphic.mask.any()
    assert on_graphic.threshold == CONSERVATIVE_THRESHOLD
    record = ResultRecord.from_json(on_graphic.record(RunSettings()).to_json())
    assert record.reliability is not None and record.reliability.flags == ["graphics"]
    assert record.reliability.conservative_threshold == CONSERVATIVE_THRESHOLD
    # a threshold the user chose is respected; the notes stay
    chosen = Analyzer("constant", device="cpu", registry=registry, threshold=0.5).analyse(graphic)
    assert chosen.verdict == "manipulated" and chosen.reliability.conservative_threshold is None
    assert chosen.reliability.flags == ["graphics"]


def test_the_console_line_says_when_the_decision_was_conservative(tmp_path, runner):
    from imlforensic.cli import app

    screen = save(screenshot_like(), tmp_path / "screen.png")
    photo = save(photo_like(np.random.default_rng(3)), tmp_path / "photo.png")
    result = runner.invoke(app, ["detect", str(screen), str(photo), "-m", "classical"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[-1] if "outside" not in line else "screen": line for line in result.stdout.splitlines()}
    assert "(outside the domain: graphics; decided at 0.90)" in lines["screen"]
    assert not any("outside" in line for line in result.stdout.splitlines() if "photo.png" in line)
    chosen = runner.invoke(app, ["detect", str(screen), "-m", "classical", "--threshold", "0.5"])
    assert "outside the domain" not in chosen.stdout  # a threshold the user chose is kept
