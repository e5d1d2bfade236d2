"""The record's evidence on the report page, in the CSV summary and the HTML viewer: a results
folder written by the pipeline (a test method that flags two squares) for a picture signed as
generated in the test, a copy with its pixels painted over, and a plain camera-like JPEG."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from report_helpers import pdf_text, photo, render_page, save_jpeg
from typer.testing import CliRunner

from imlforensic.cli import app
from imlforensic.io.images import LoadedImage
from imlforensic.methods.base import Method, MethodOutput
from imlforensic.pipeline.analysis import Analyzer
from imlforensic.pipeline.records import ResultRecord
from imlforensic.pipeline.run import RunRequest, run_inputs
from imlforensic.registry import BuildContext, ModelEntry, Registry
from imlforensic.report.evidence import LABEL, jpeg_rows, provenance_rows, region_rows

pytest.importorskip("c2pa", reason="c2pa-python is not installed")
pytest.importorskip("cryptography.x509", reason="cryptography is not installed")

from c2pa_helpers import IPTC, change_pixels, make_credentials, sign  # noqa: E402

runner = CliRunner()


class TwoSquares(Method):
    def analyse(self, image: LoadedImage) -> MethodOutput:
        heatmap = np.full(image.rgb.shape[:2], 0.05, np.float32)
        heatmap[20:80, 30:110] = 0.9  # region 1 (the larger)
        heatmap[100:130, 150:190] = 0.95  # region 2 (above the conservative threshold of a small picture)
        return MethodOutput(heatmap=heatmap, score=0.9)


def build_two(context: BuildContext) -> TwoSquares:
    return TwoSquares(context.card, default_threshold=0.5)


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("case")
    images = folder / "in"
    images.mkdir()
    source = io.BytesIO()
    Image.fromarray(photo(240, 160, 5)).save(source, "JPEG", quality=90)
    actions = [
        {
            "action": "c2pa.created",
            "digitalSourceType": IPTC + "trainedAlgorithmicMedia",
            "softwareAgent": "TestImageGen 2.1",
        }
    ]
    signed = sign(make_credentials(), source.getvalue(), actions)
    (images / "gen.jpg").write_bytes(signed)
    (images / "gen-changed.jpg").write_bytes(change_pixels(signed))
    save_jpeg(images / "plain.jpg", photo(240, 160, 6), quality=85)
    registry = Registry()
    registry.register(
        ModelEntry(name="two", task="detector", version="0.1", summary="t", builder=f"{__name__}:build_two")
    )
    request = RunRequest(
        command="localize",
        inputs=[str(images)],
        analyzers=[Analyzer("two", registry=registry)],
        out=folder / "results",
        write_maps=True,
        device="cpu",
    )
    assert not run_inputs(request, show_progress=False).failures
    return folder / "results"


def test_the_page_shows_provenance_metadata_jpeg_and_regions(results: Path, tmp_path: Path) -> None:
    pdf, summary, viewer = tmp_path / "case.pdf", tmp_path / "case.csv", tmp_path / "viewer"
    result = runner.invoke(
        app, ["report", str(results), "-o", str(pdf), "--summary", str(summary), "--html", str(viewer), "-q"]
    )
    assert result.exit_code == 0, result.output
    pages = {
        name: page
        for page in pdf_text(pdf)[1:4]
        for name in ("gen.jpg", "gen-changed.jpg", "plain.jpg")
        if f"{name}\n" in page
    }
    generated = pages["gen.jpg"]
    for text in (
        "GENERATED",
        "Method alone",
        "TestImageGen 2.1",
        "C2PA",
        "trainedAlgorithmicMedia",
        "Verdict: The picture's C2PA manifest",
    ):
        assert text in generated, text
    assert "NO LONGER MATCHES" in pages["gen-changed.jpg"] and "MANIPULATED" in pages["gen-changed.jpg"]
    plain = pages["plain.jpg"]
    for text in ("JPEG tables", "quality ≈ 85", "IJG/libjpeg", "Double JPEG", "GPS", "Regions", "#1 x 30–110, y 20–80"):
        assert text in plain, text
    assert "C2PA" in plain and "none in the file" in plain

    rows = list(csv.DictReader(summary.read_text(encoding="utf-8-sig").splitlines()))
    by_name = {Path(r["path"]).name: r for r in rows}
    assert set(by_name) == {"gen.jpg", "gen-changed.jpg", "plain.jpg"}
    assert by_name["gen.jpg"]["verdict"] == "generated" and "TestImageGen 2.1" in by_name["gen.jpg"]["notes"]
    assert by_name["plain.jpg"]["regions"] == "2" and by_name["plain.jpg"]["largest_x0"] == "30"
    assert "no longer matches" in by_name["gen-changed.jpg"]["notes"]

    index = (viewer / "index.html").read_text(encoding="utf-8")
    assert index.count('"path":') >= 3 and "TestImageGen 2.1" in index


def test_regions_are_boxed_and_numbered_on_the_overlay(results: Path, tmp_path: Path) -> None:
    pdf = tmp_path / "one.pdf"
    plain = tmp_path / "plain"
    plain.mkdir()
    for name in (
        "plain.jpg.json",
        "plain.jpg.heatmap.png",
        "plain.jpg.heatmap-color.png",
        "plain.jpg.mask.png",
        "plain.jpg.overlay.png",
    ):
        (plain / name).write_bytes((results / name).read_bytes())
    assert runner.invoke(app, ["report", str(plain), "-o", str(pdf), "-q"]).exit_code == 0
    page = render_page(pdf, 1, scale=2.0)
    yellow = np.array([int(LABEL[i : i + 2], 16) for i in (1, 3, 5)])
    assert (np.abs(page.astype(int) - yellow).sum(axis=2) < 40).sum() > 200  # the boxes and their labels


def test_rows_of_an_earlier_record_are_empty() -> None:
    old = ResultRecord.from_json({"schema": "imlforensic.result/1", "input": {"path": "x.jpg"}, "verdict": "authentic"})
    assert provenance_rows(old) == [] and jpeg_rows(old) == [] and region_rows(old) == []


def test_detect_and_localize_write_the_summary(results: Path, tmp_path: Path) -> None:
    images = results.parent / "in"
    summary = tmp_path / "s.csv"
    result = runner.invoke(app, ["detect", str(images), "-m", "classical", "--summary", str(summary), "-q"])
    assert result.exit_code == 0, result.output
    assert "(declared by the file; the method alone: " in result.stdout
    rows = list(csv.DictReader(summary.read_text(encoding="utf-8-sig").splitlines()))
    assert sorted(Path(r["path"]).name for r in rows) == ["gen-changed.jpg", "gen.jpg", "plain.jpg"]
    (images.parent / "broken.jpg").write_bytes(b"\xff\xd8 not a picture")
    result = runner.invoke(
        app,
        [
            "localize",
            str(images),
            str(images.parent / "broken.jpg"),
            "-m",
            "classical",
            "--out",
            str(tmp_path / "out"),
            "--summary",
            str(summary),
            "-q",
        ],
    )
    assert result.exit_code == 1
    rows = list(csv.DictReader(summary.read_text(encoding="utf-8-sig").splitlines()))
    assert [r["verdict"] for r in rows if r["path"].endswith("broken.jpg")] == ["failed"] and len(rows) == 4


def test_a_trust_list_makes_the_signer_trusted(results: Path, tmp_path: Path) -> None:
    anchors = tmp_path / "roots.pem"
    anchors.write_bytes(make_credentials()["ca"])
    gen = results.parent / "in" / "gen.jpg"
    result = runner.invoke(app, ["detect", str(gen), "-m", "classical", "--json", "--c2pa-trust", str(anchors), "-q"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout.splitlines()[0])
    assert record["provenance"]["c2pa"]["status"] == "valid" and record["verdict"] == "generated"
    bad = tmp_path / "bad.pem"
    bad.write_text("nothing")
    result = runner.invoke(app, ["detect", str(gen), "--c2pa-trust", str(bad)])
    assert result.exit_code == 2 and "no PEM certificate" in result.stderr


class Nothing(Method):
    def analyse(self, image: LoadedImage) -> MethodOutput:
        return MethodOutput(heatmap=np.full(image.rgb.shape[:2], 0.05, np.float32), score=0.05)


def build_nothing(context: BuildContext) -> Nothing:
    return Nothing(context.card, default_threshold=0.5)


def test_several_methods_share_a_page_per_image(results: Path, tmp_path: Path) -> None:
    registry = Registry()
    for name in ("two", "nothing"):
        registry.register(
            ModelEntry(name=name, task="detector", version="0.1", summary="t", builder=f"{__name__}:build_{name}")
        )
    plain = results.parent / "in" / "plain.jpg"
    request = RunRequest(
        command="localize",
        inputs=[str(plain), str(results.parent / "in" / "gen.jpg")],
        analyzers=[Analyzer("two", registry=registry), Analyzer("nothing", registry=registry)],
        out=tmp_path / "both",
        write_maps=True,
        device="cpu",
    )
    assert not run_inputs(request, show_progress=False).failures
    assert (tmp_path / "both" / "two" / "plain.jpg.json").is_file() and (tmp_path / "both" / "nothing").is_dir()
    pdf = tmp_path / "both.pdf"
    result = runner.invoke(app, ["report", str(tmp_path / "both"), "-o", str(pdf), "-q"])
    assert result.exit_code == 0, result.output
    pages = pdf_text(pdf)
    assert sum(p.startswith("Image ") and " of 4" in p[:20] for p in pages) == 4  # each method's own page stays
    side = [p for p in pages if p.startswith("Methods side by side")]
    assert len(side) == 2
    page = next(p for p in side if "plain.jpg" in p)
    assert "two 0.1" in page and "nothing 0.1" in page
    assert "MANIPULATED" in page and "AUTHENTIC" in page and "score 0.900" in page and "score 0.050" in page
    page = next(p for p in side if "gen.jpg" in p)
    assert page.count("GENERATED") == 2 and "(declared by the file)" in page
    cover = pages[0]
    assert cover.count("plain.jpg") == 2 and "/plain.jpg" not in cover  # one file, one name, per method
    assert [k + 1 for k, p in enumerate(pages) if p.startswith("Methods side by side")] == [6, 7]
    assert "Pages 6–7 put the methods' maps side by side" in " ".join(cover.split())
    assert "follow the file's own declaration" in " ".join(cover.split())
