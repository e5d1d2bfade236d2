"""End-to-end tests of `imlforensic report`: images made in the test, analysed, reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from report_helpers import pdf_text, photo, render_page, save_jpeg
from typer.testing import CliRunner

from imlforensic.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("imgs")
    save_jpeg(folder / "alpha.jpg", photo(200, 140, 1), quality=88)
    save_jpeg(folder / "Ünïcödé_Ωμέγα_Москва.jpg", photo(180, 130, 2), quality=92)
    Image.fromarray(photo(120, 180, 3)).save(folder / "portrait.png")
    (folder / "broken.jpg").write_bytes((folder / "alpha.jpg").read_bytes()[:400])  # truncated JPEG
    return folder


def _records(results: Path) -> dict[str, dict]:
    return {p.name[:-5]: json.loads(p.read_text(encoding="utf-8")) for p in results.glob("*.json")}


def test_report_from_images_with_figures(images: Path, tmp_path: Path) -> None:
    pdf = tmp_path / "out" / "case.pdf"
    figures = tmp_path / "figs"
    result = runner.invoke(app, [
        "report", str(images), "-o", str(pdf), "--title", "Test case", "--case", "C-17", "--analyst", "Zoë Test",
        "--figures", str(figures), "--figure-width", "60", "--date", "2024-05-06",
    ])
    assert result.exit_code == 1, result.output  # the broken file failed; the report is still written
    assert pdf.is_file()
    assert not list(pdf.parent.glob(".case.pdf.*")), "temporary file left behind"
    results = tmp_path / "out" / "case_results"
    records = _records(results)
    assert set(records) == {"alpha.jpg", "Ünïcödé_Ωμέγα_Москва.jpg", "portrait.png"}
    assert (results / "batch.jsonl").is_file()

    pages = pdf_text(pdf)
    # cover (1) + one page per analysed image (3) + appendix (3: A, notes on mvcam and the network
    # and views it combines; B, how to read the report)
    assert len(pages) == 7
    text = "\n".join(pages)
    for key in ("Test case", "C-17", "Zoë Test", "2024-05-06", "broken.jpg", "failed"):
        assert key in text
    for record in records.values():
        assert record["input"]["sha256"] in text
        assert Path(record["input"]["path"]).name in text
        assert record["verdict"] in text
    # each analysed image has its own page, in the order of the summary table
    image_pages = pages[1:4]
    for page, name in zip(image_pages, ["alpha.jpg", "portrait.png", "Ünïcödé_Ωμέγα_Москва.jpg"]):
        assert name in page and records[name]["input"]["sha256"] in page
    assert "Appendix A" in pages[4] and "Appendix B" in "".join(pages[4:])

    # the figures: 4 panels x (PNG + PDF) per image, named by image
    expected = {f"{stem}_{panel}.{ext}" for stem in records for panel in ("original", "heatmap", "overlay", "mask")
                for ext in ("png", "pdf")}
    assert {p.name for p in figures.iterdir()} == expected
    with Image.open(figures / "alpha.jpg_original.png") as fig:
        assert round(fig.info["dpi"][0]) == 300
        assert fig.size[0] == round(60 / 25.4 * 300)  # 60 mm wide at 300 dpi
        assert abs(fig.size[0] / fig.size[1] - 200 / 140) < 0.01  # aspect ratio kept
    with Image.open(figures / "portrait.png_original.png") as fig:
        assert abs(fig.size[0] / fig.size[1] - 120 / 180) < 0.01
        assert fig.size[1] == round(0.8 * 60 / 25.4 * 300)  # portrait: limited by the height
    assert "probability of an edit" in pdf_text(figures / "alpha.jpg_heatmap.pdf")[0]

    # a page rendered to pixels is not blank: the pictures and text are there
    page = render_page(pdf, 1, scale=0.5)
    non_white = (page < 235).any(axis=2).mean()
    assert non_white > 0.15
    assert page.std() > 30


def test_report_from_results_folder_and_batch_log(images: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    run = runner.invoke(app, ["localize", str(images), "--out", str(results), "--json", "-q"])
    assert run.exit_code == 1
    (results / "batch.jsonl").write_text(run.stdout, encoding="utf-8")
    pdf = tmp_path / "letter.pdf"
    result = runner.invoke(app, ["report", str(results), "-o", str(pdf), "--paper", "letter", "-q"])
    assert result.exit_code == 1
    from pypdf import PdfReader

    reader = PdfReader(str(pdf))
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (612, 792)
    text = "\n".join(pdf_text(pdf))
    assert "broken.jpg" in text and "failed" in text
    assert len(reader.pages) == 7


def test_report_without_failures_exits_zero(tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    save_jpeg(folder / "one.jpg", photo(160, 120, 5))
    result = runner.invoke(app, ["report", str(folder), "-o", str(tmp_path / "r.pdf"), "-q"])
    assert result.exit_code == 0, result.output
    assert len(pdf_text(tmp_path / "r.pdf")) == 5  # cover, image, appendix x 3


def test_report_usage_errors(images: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    runner.invoke(app, ["localize", str(images / "alpha.jpg"), "--out", str(results), "-q"])
    mixed = runner.invoke(app, ["report", str(results), str(images / "alpha.jpg"), "-o", str(tmp_path / "x.pdf")])
    assert mixed.exit_code == 2 and "either results folders or images" in mixed.output
    paper = runner.invoke(app, ["report", str(results), "-o", str(tmp_path / "x.pdf"), "--paper", "a3"])
    assert paper.exit_code == 2
    (tmp_path / "empty").mkdir()
    empty = runner.invoke(app, ["report", str(tmp_path / "empty"), "-o", str(tmp_path / "x.pdf")])
    assert empty.exit_code == 2
    assert not (tmp_path / "x.pdf").exists()
