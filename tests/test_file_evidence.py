"""File evidence through the one pipeline: provenance, metadata and JPEG structure read once per
image, stored in the record, and a declared AI generation or edit weighed into the verdict.

The method here flags nothing (its pixels say ``authentic``), so any other verdict comes from the
file's declaration alone. Manifests are signed in the test (tests/c2pa_helpers.py)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from exif_helpers import exif_block
from PIL import Image

from imlforensic.io.images import LoadedImage, load_image
from imlforensic.methods.base import Method, MethodOutput
from imlforensic.pipeline import evidence as evidence_module
from imlforensic.pipeline.analysis import Analyzer
from imlforensic.pipeline.evidence import EvidenceOptions, read_file_evidence
from imlforensic.pipeline.records import ResultRecord, RunSettings, parse_record
from imlforensic.pipeline.run import RunRequest, run_inputs
from imlforensic.registry import BuildContext, ModelEntry, Registry

pytest.importorskip("c2pa", reason="c2pa-python is not installed")
pytest.importorskip("cryptography.x509", reason="cryptography is not installed")

from c2pa_helpers import (  # noqa: E402
    change_pixels,
    composite_actions,
    generated_file,
    make_credentials,
    picture,
    sign,
    xmp_declaring,
)


class FlatMethod(Method):
    """Sees nothing anywhere: score 0.05, an empty map."""

    def analyse(self, image: LoadedImage) -> MethodOutput:
        return MethodOutput(heatmap=np.zeros(image.rgb.shape[:2], np.float32), score=0.05)


class SquareMethod(Method):
    def analyse(self, image: LoadedImage) -> MethodOutput:
        heatmap = np.zeros(image.rgb.shape[:2], np.float32)
        heatmap[8:40, 16:64] = 0.9
        heatmap[60:70, 80:90] = 0.95
        return MethodOutput(heatmap=heatmap, score=0.9)


def build_flat(context: BuildContext) -> FlatMethod:
    return FlatMethod(context.card, default_threshold=0.5)


def build_square(context: BuildContext) -> SquareMethod:
    return SquareMethod(context.card, default_threshold=0.5)


@pytest.fixture(scope="module")
def credentials() -> dict[str, bytes]:
    return make_credentials()


@pytest.fixture()
def registry() -> Registry:
    registry = Registry()
    for name in ("flat", "square"):
        registry.register(
            ModelEntry(name=name, task="detector", version="0.1", summary="test", builder=f"{__name__}:build_{name}")
        )
    return registry


def run(registry: Registry, paths: list[Path], out: Path, methods: tuple[str, ...] = ("flat",)) -> list[ResultRecord]:
    request = RunRequest(
        command="detect",
        inputs=[str(p) for p in paths],
        analyzers=[Analyzer(m, registry=registry) for m in methods],
        out=out,
        device="cpu",
    )
    report = run_inputs(request, show_progress=False)
    assert not report.failures, report.failed_names
    return report.records


def stored(out: Path, path: Path) -> dict:
    """The record as written to disk, read back as JSON."""
    return json.loads((out / f"{path.name}.json").read_text(encoding="utf-8"))


def test_a_signed_generated_picture_is_generated_with_its_generator_named(registry, credentials, tmp_path) -> None:
    path = generated_file(credentials, tmp_path)
    (record,) = run(registry, [path], tmp_path / "out")
    assert record.verdict == "generated" and record.method_verdict == "authentic"
    data = stored(tmp_path / "out", path)
    assert data["verdict"] == "generated" and data["method_verdict"] == "authentic"
    assert "TestImageGen 2.1" in data["verdict_reason"] and "C2PA manifest" in data["verdict_reason"]
    c2pa = data["provenance"]["c2pa"]
    assert (c2pa["generator"], c2pa["status"], c2pa["content_matches"]) == (
        "TestImageGen 2.1",
        "untrusted_signer",
        True,
    )
    assert data["provenance"]["declared_ai"]["kind"] == "generated"
    assert data["flagged_fraction"] == 0.0 and data["regions"]["count"] == 0  # the mask stays the method's own
    assert data["jpeg"]["is_jpeg"] and data["jpeg"]["quality"] == 90 and data["metadata"]["gps"] is False
    assert "evidence" in data["timings_s"]


def test_the_same_picture_with_changed_pixels_reports_the_broken_manifest(registry, credentials, tmp_path) -> None:
    path = tmp_path / "changed.jpg"
    path.write_bytes(change_pixels(generated_file(credentials, tmp_path).read_bytes()))
    (record,) = run(registry, [path], tmp_path / "out")
    assert record.verdict == "authentic" and record.verdict_reason is None  # a broken manifest declares nothing
    data = stored(tmp_path / "out", path)
    c2pa = data["provenance"]["c2pa"]
    assert c2pa["status"] == "invalid" and c2pa["content_matches"] is False and "NO LONGER MATCHES" in c2pa["message"]
    assert any("no longer matches the file" in note for note in data["notes"])


def test_a_declared_ai_edit_is_evidence_of_editing(registry, credentials, tmp_path) -> None:
    path = tmp_path / "edited.jpg"
    path.write_bytes(sign(credentials, picture(1), composite_actions(), generator="TestEditor"))
    flat, square = run(registry, [path], tmp_path / "out", methods=("flat", "square"))
    assert flat.verdict == "manipulated" and flat.method_verdict == "authentic"
    assert "compositeWithTrainedAlgorithmicMedia" in (flat.verdict_reason or "")
    assert flat.flagged_fraction == 0.0  # a declaration says that, not where
    assert square.verdict == "manipulated" and square.verdict_reason is None
    assert any("compositeWithTrainedAlgorithmicMedia" in note and "stands" in note for note in square.notes)
    assert square.regions is not None and square.regions["count"] == 2


def test_xmp_declarations_and_named_generators(registry, tmp_path) -> None:
    xmp = tmp_path / "xmp.jpg"
    Image.open(io.BytesIO(picture(2))).save(xmp, "JPEG", quality=90, xmp=xmp_declaring("trainedAlgorithmicMedia"))
    named = tmp_path / "named.jpg"
    Image.open(io.BytesIO(picture(4))).save(named, "JPEG", quality=90, exif=exif_block({0x0131: "Midjourney v6"}))
    by_name = {Path(r.input.path).name: r for r in run(registry, [xmp, named], tmp_path / "out")}
    assert by_name["xmp.jpg"].verdict == "generated" and "XMP" in (by_name["xmp.jpg"].verdict_reason or "")
    unsigned = by_name["named.jpg"]  # anyone can write a Software tag: noted, not decisive
    assert unsigned.verdict == "authentic" and unsigned.verdict_reason is None
    assert any("Midjourney" in note for note in unsigned.notes)
    assert unsigned.metadata is not None and unsigned.metadata["software"] == ["Midjourney v6"]


def test_evidence_is_read_once_per_image_for_every_method(registry, credentials, tmp_path, monkeypatch) -> None:
    calls: list[str] = []
    real = evidence_module.read_file_evidence

    def counting(image, data=None, options=None):
        calls.append(image.display)
        assert data is not None  # the very bytes that were decoded
        return real(image, data, options)

    monkeypatch.setattr("imlforensic.pipeline.run.read_file_evidence", counting)
    path = generated_file(credentials, tmp_path)
    records = run(registry, [path], tmp_path / "out", methods=("flat", "square"))
    assert len(calls) == 1 and [r.verdict for r in records] == ["generated", "generated"]
    assert records[0].provenance == records[1].provenance


def test_a_file_replaced_after_decoding_is_not_read(credentials, tmp_path) -> None:
    path = generated_file(credentials, tmp_path)
    image = load_image(path)
    path.write_bytes(picture(7))  # another picture now lies under that name
    evidence = read_file_evidence(image, None, EvidenceOptions())
    assert evidence.provenance is None and "changed after it was decoded" in evidence.problem
    analysis = Analyzer("flat", registry=_registry()).analyse(image, evidence=evidence)
    record = analysis.record(RunSettings(command="test"))
    assert record.verdict == "authentic" and record.provenance is None and evidence.problem in record.notes


def _registry() -> Registry:
    registry = Registry()
    registry.register(
        ModelEntry(name="flat", task="detector", version="0.1", summary="t", builder=f"{__name__}:build_flat")
    )
    return registry


def test_new_fields_round_trip_and_old_records_read_without_them(registry, credentials, tmp_path) -> None:
    (record,) = run(registry, [generated_file(credentials, tmp_path)], tmp_path / "out")
    again = parse_record(json.loads(json.dumps(record.to_json())))
    assert isinstance(again, ResultRecord) and again.to_json() == record.to_json()
    old = {"schema": "imlforensic.result/1", "input": {"path": "x.jpg"}, "verdict": "authentic", "score": 0.1}
    earlier = parse_record(old)
    assert isinstance(earlier, ResultRecord)
    assert (earlier.method_verdict, earlier.verdict_reason, earlier.provenance, earlier.regions, earlier.notes) == (
        None,
        None,
        None,
        None,
        [],
    )
    assert earlier.extra == {}  # the new names are fields, not unknown extras
