"""The method contract, the one per-image pipeline, typed records and the registry's public API."""

from __future__ import annotations

import json
import os
import stat
from importlib.metadata import EntryPoint
from pathlib import Path

import numpy as np
import pytest
from conftest import save

from imlforensic.cli import app
from imlforensic.io.images import LoadedImage, load_image
from imlforensic.methods.base import Method, MethodOutput, decide_verdict
from imlforensic.pipeline.analysis import Analyzer, CoarseMap
from imlforensic.pipeline.records import ErrorRecord, ResultRecord, RunSettings, parse_record
from imlforensic.refiners.base import Refiner
from imlforensic.refiners.bayes import FusionParams, FusionResult
from imlforensic.registry import REGISTRY, BuildContext, ModelEntry, Registry, input_card
from imlforensic.registry.plugins import register_plugins

# --- a method and a refiner made here, behind the contracts -------------------------------------


class SquareMethod(Method):
    """Flags a fixed square; counts its calls (to see when the pipeline reuses an output)."""

    calls = 0

    def analyse(self, image: LoadedImage) -> MethodOutput:
        type(self).calls += 1
        heatmap = np.zeros(image.rgb.shape[:2], np.float32)
        heatmap[8:40, 8:40] = 0.9
        return MethodOutput(heatmap=heatmap, score=0.9, details={"squares": 1})


def build_square(context: BuildContext) -> SquareMethod:
    return SquareMethod(context.card, default_threshold=0.6)


class HalfRefiner(Refiner):
    name = "half"

    def fuse(self, rgb, coarse, boxes, params) -> FusionResult:  # type: ignore[override]
        posterior = coarse * 0.5
        return FusionResult(posterior=posterior, region_probability=posterior, details={})


def build_half(context: BuildContext) -> HalfRefiner:
    return HalfRefiner(card=context.card)


def register(registry: Registry) -> None:
    """What a plugin's entry point does."""
    registry.register(
        ModelEntry(
            name="square", task="detector", version="0.1", summary="a test method", builder=f"{__name__}:build_square"
        )
    )
    registry.register(
        ModelEntry(
            name="half", task="segmenter", version="0.1", summary="a test refiner", builder=f"{__name__}:build_half"
        )
    )


@pytest.fixture()
def registry() -> Registry:
    registry = Registry()
    register(registry)
    return registry


@pytest.fixture()
def image(tmp_path, photos) -> LoadedImage:
    return load_image(save(photos["coffee"][:288, :384], tmp_path / "photo.png"))


# --- the contract ------------------------------------------------------------------------------


def test_a_localizer_reports_class_probabilities_from_its_score() -> None:
    output = MethodOutput(heatmap=np.zeros((4, 4)), score=0.3)
    assert output.class_probs == pytest.approx({"authentic": 0.7, "manipulated": 0.3, "generated": 0.0})
    assert decide_verdict(output, 0.5) == "authentic" and decide_verdict(output, 0.3) == "manipulated"


def test_a_three_class_output_is_normalised_and_can_say_generated() -> None:
    output = MethodOutput(
        heatmap=np.zeros((4, 4)), score=0.8, class_probs={"authentic": 0.1, "manipulated": 0.1, "generated": 0.6}
    )
    assert sum(output.class_probs.values()) == pytest.approx(1.0) and output.class_probs["generated"] == pytest.approx(
        0.75
    )
    assert decide_verdict(output, 0.5) == "generated"
    with pytest.raises(ValueError, match="unknown class"):
        MethodOutput(heatmap=np.zeros((4, 4)), score=0.1, class_probs={"fake": 1.0})


def test_a_method_declares_its_card_and_threshold(registry) -> None:
    method = registry.load("square", expect=Method)
    assert (method.name, method.version, method.weights_sha256, method.default_threshold) == (
        "square",
        "0.1",
        None,
        0.6,
    )
    with pytest.raises(TypeError, match="not a Refiner"):
        registry.load("square", expect=Refiner)


# --- the pipeline --------------------------------------------------------------------------------


def test_analyse_runs_the_method_and_applies_its_threshold(registry, image) -> None:
    analysis = Analyzer("square", registry=registry).analyse(image)
    assert analysis.verdict == "manipulated" and analysis.threshold == 0.6
    assert analysis.mask[8:40, 8:40].all() and analysis.flagged_fraction == pytest.approx(32 * 32 / (288 * 384))
    record = analysis.record(RunSettings(command="test"))
    assert record.method is not None and record.method.name == "square" and record.details == {"squares": 1}
    assert record.origin == "method" and sum(record.class_probs.values()) == pytest.approx(1.0)


def test_a_computed_output_is_reused_for_refinement(registry, image) -> None:
    base = Analyzer("square", registry=registry).analyse(image)
    SquareMethod.calls = 0
    refined = Analyzer("square", refiner="half", registry=registry).analyse(image, coarse=base.output)
    assert SquareMethod.calls == 0  # compute once, refine many times
    assert refined.refiner is not None and refined.refiner.name == "half"
    assert refined.heatmap.max() == pytest.approx(0.45) and refined.verdict == "manipulated"
    assert not refined.mask.any()  # the refined map is below the threshold everywhere: nothing outlined


def test_fusion_parameters_reach_the_refiner(registry, image) -> None:
    seen = []

    class Spy(HalfRefiner):
        def refine(self, rgb, coarse, boxes=None, params=None):
            seen.append(params)
            return super().refine(rgb, coarse, boxes=boxes, params=params)

    analyzer = Analyzer(
        "square", refiner="half", registry=registry, fusion=FusionParams().with_overrides(region_prior=0.2)
    )
    analyzer.load()._refiner = Spy()
    analyzer.analyse(image)
    assert seen[0].region_prior == 0.2 and seen[0] == FusionParams().with_overrides(region_prior=0.2).for_threshold(0.6)


def test_an_external_map_is_recorded_as_an_input(registry, image) -> None:
    heatmap = np.zeros(image.rgb.shape[:2], np.float32)
    heatmap[50:90, 60:120] = 0.8
    card = input_card("heatmap", path="other.png", sha256="0" * 64)
    analysis = Analyzer(None, registry=registry).analyse(
        image, coarse=CoarseMap(heatmap, card), boxes=[(0, 0, 128, 70)]
    )
    assert analysis.origin == "heatmap" and analysis.threshold == 0.5 and analysis.verdict == "manipulated"
    assert not analysis.mask[70:].any() and analysis.mask[50:70, 60:120].all()  # counted only inside the box
    assert analysis.record(RunSettings()).method.to_json()["path"] == "other.png"


def test_boxes_alone_are_an_annotation_not_a_finding(registry, image) -> None:
    analysis = Analyzer(None, refiner="half", registry=registry, threshold=0.25).analyse(
        image, boxes=[(10, 10, 50, 40)]
    )
    record = analysis.record(RunSettings())
    assert record.verdict == "annotated" and record.score is None and record.class_probs is None
    assert record.is_annotation and record.method.task == "input"
    with pytest.raises(ValueError, match="needs a coarse map"):
        Analyzer(None, registry=registry).analyse(image)


# --- records -------------------------------------------------------------------------------------


def test_records_round_trip_and_keep_unknown_fields(registry, image) -> None:
    record = Analyzer("square", registry=registry).analyse(image).record(RunSettings(command="localize", device="cpu"))
    data = record.to_json() | {"future_field": [1, 2]}
    data["input"]["future_input_field"] = "x"
    again = parse_record(json.loads(json.dumps(data)))
    assert isinstance(again, ResultRecord) and again.to_json() == data
    error = ErrorRecord(path="a.jpg", error="a.jpg: broken")
    assert parse_record(error.to_json()) == error and parse_record({"schema": "other"}) is None


def test_records_of_an_earlier_version_read_with_defaults() -> None:
    old = {
        "schema": "imlforensic.result/1",
        "input": {"path": "x.jpg"},
        "verdict": "authentic",
        "score": 0.1,
        "class_probs": None,
        "flagged_fraction": 0.0,
        "method": {"name": "classical", "version": "1.0"},
    }
    record = parse_record(old)
    assert isinstance(record, ResultRecord) and record.method.classes == ("authentic", "manipulated")
    assert record.origin == "method" and not record.tells_generated and record.outputs == {}


# --- the registry --------------------------------------------------------------------------------


def test_with_weights_leaves_the_registered_entry_alone(tmp_path) -> None:
    checkpoint = tmp_path / "mine.safetensors"
    checkpoint.write_bytes(b"x")
    local = REGISTRY.with_weights("mvcam", checkpoint)
    assert local.version.endswith("+local") and local.weights.describe().endswith("mine.safetensors")
    assert REGISTRY.entry("mvcam").version == "2.4" and "mine" not in REGISTRY.entry("mvcam").weights.describe()
    with pytest.raises(ValueError, match="no weights to replace"):
        REGISTRY.with_weights("classical", checkpoint)


def test_plugins_register_through_entry_points(capsys) -> None:
    registry = Registry()
    good = EntryPoint(name="tests", value=f"{__name__}:register", group="imlforensic.registry")
    broken = EntryPoint(name="broken", value="no_such_module_here:register", group="imlforensic.registry")
    assert register_plugins(registry, [good, broken]) == ["tests"]
    assert registry.names() == ["square", "half"]
    assert "plugin 'broken'" in capsys.readouterr().err


# --- through the CLI -----------------------------------------------------------------------------


@pytest.fixture()
def folder(tmp_path, photos) -> Path:
    for name in ("coffee", "rocket"):
        save(photos[name][:128, :160], tmp_path / "in" / f"{name}.png")
    return tmp_path / "in"


def test_several_methods_run_into_their_own_sub_folders(runner, folder, tmp_path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["localize", str(folder), "-m", "classical", "-m", "sel", "--out", str(out), "--json", "-q"]
    )
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted((r["method"]["name"], Path(r["input"]["path"]).name) for r in records) == [
        ("classical", "coffee.png"),
        ("classical", "rocket.png"),
        ("sel", "coffee.png"),
        ("sel", "rocket.png"),
    ]
    for method in ("classical", "sel"):
        assert json.loads((out / method / "coffee.png.json").read_text())["method"]["name"] == method
        assert (out / method / "rocket.png.overlay.png").is_file()
    again = runner.invoke(
        app, ["localize", str(folder), "-m", "classical", "-m", "sel", "--out", str(out), "--skip-existing"]
    )
    assert again.exit_code == 0 and "2 skipped" in again.stderr


def test_a_method_named_twice_is_a_usage_error(runner, folder) -> None:
    result = runner.invoke(app, ["detect", str(folder), "-m", "sel", "-m", "sel"])
    assert result.exit_code == 2 and "once" in result.stderr


def test_outputs_honour_the_umask(runner, folder, tmp_path) -> None:
    previous = os.umask(0o027)
    try:
        result = runner.invoke(
            app, ["localize", str(folder / "coffee.png"), "-m", "classical", "--out", str(tmp_path / "o")]
        )
    finally:
        os.umask(previous)
    assert result.exit_code == 0, result.output
    modes = {stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "o").iterdir()}
    assert modes == {0o640}
    previous = os.umask(0o022)
    try:
        runner.invoke(app, ["localize", str(folder / "rocket.png"), "-m", "classical", "--out", str(tmp_path / "p")])
    finally:
        os.umask(previous)
    assert {stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "p").iterdir()} == {0o644}


def test_refine_reads_the_threshold_recorded_beside_an_imlforensic_map(runner, folder, tmp_path) -> None:
    out = tmp_path / "o"
    runner.invoke(
        app, ["localize", str(folder / "coffee.png"), "-m", "classical", "--threshold", "0.35", "--out", str(out)]
    )
    result = runner.invoke(
        app,
        [
            "refine",
            str(folder / "coffee.png"),
            "--heatmap",
            str(out / "coffee.png.heatmap.png"),
            "--refiner",
            "superpixel",
            "--out",
            str(tmp_path / "r"),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["threshold"] == 0.35


def test_skip_existing_reruns_a_record_of_another_method_version(runner, folder, tmp_path) -> None:
    out = tmp_path / "out"
    assert runner.invoke(app, ["localize", str(folder), "-m", "classical", "--out", str(out), "-q"]).exit_code == 0
    record_path = out / "coffee.png.json"
    data = json.loads(record_path.read_text())
    data["method"]["version"] = "0.0"  # as if made by an older release with the same (no) weights
    record_path.write_text(json.dumps(data))
    again = runner.invoke(app, ["localize", str(folder), "-m", "classical", "--out", str(out), "--skip-existing"])
    assert again.exit_code == 0 and "1 skipped" in again.stderr, again.stderr
    assert json.loads(record_path.read_text())["method"]["version"] != "0.0"
