"""The report's pages for cases `localize` results can present: refined, generated, missing or
changed originals, very large and tiny images, long and non-ASCII names, incomplete outputs,
failed inputs, many images. Results are built by hand (report_helpers.fake_result)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from report_helpers import edit_heatmap, fake_result, pdf_text, photo, render_page, save_jpeg

from imlforensic.report import ReportOptions, build_report, collect
from imlforensic.report.build import plan_report
from imlforensic.report.text import missing_glyphs

LONG = "a_very_long_file_name_from_a_messaging_app_export_" + "x" * 40 + "_IMG_20240101_edited_final_v2.jpg"
CJK = "北京"


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    root = tmp_path_factory.mktemp("case")
    imgs, out = root / "images", root / "results"
    made = {}
    p = save_jpeg(imgs / "exif_photo.jpg", photo(300, 200, 1), exif={0x010F: "Canon", 0x0110: "Canon EOS 5D Mark IV",
                  0x0131: "Adobe Photoshop 25.1 (Windows)", 0x0132: "2024:03:02 11:22:33"}, exif_ifd={0x9003: "2024:03:01 09:10:11"})
    made["exif"] = fake_result(out, p)
    made["refined"] = fake_result(out, save_jpeg(imgs / "refined.jpg", photo(300, 200, 2)), refined=True)
    made["generated"] = fake_result(out, save_jpeg(imgs / "generated.jpg", photo(256, 256, 3)),
                                    heatmap=edit_heatmap(256, 256, 0.6, (0.5, 0.5, 0.6)), verdict="generated",
                                    class_probs={"authentic": 0.05, "manipulated": 0.17, "generated": 0.78})
    made["unicode"] = fake_result(out, save_jpeg(imgs / f"Zürich_café_Ωμέγα_Москва_{CJK}.jpg", photo(240, 180, 4)))
    made["long"] = fake_result(out, save_jpeg(imgs / LONG, photo(240, 160, 5)))
    made["large"] = fake_result(out, save_jpeg(imgs / "large.jpg", photo(2400, 1600, 6), quality=80))
    tiny = imgs / "tiny.png"
    Image.fromarray(photo(32, 24, 7)).save(tiny)
    made["tiny"] = fake_result(out, tiny, heatmap=edit_heatmap(24, 32, 0.9, (0.5, 0.5, 0.3)))
    made["portrait"] = fake_result(out, save_jpeg(imgs / "portrait.jpg", photo(200, 320, 8)), heatmap=edit_heatmap(320, 200, 0.3))
    p = save_jpeg(imgs / "deleted.jpg", photo(200, 150, 9))
    made["deleted"] = fake_result(out, p)
    p.unlink()
    p = save_jpeg(imgs / "changed.jpg", photo(200, 150, 10))
    made["changed"] = fake_result(out, p)
    save_jpeg(p, photo(200, 150, 11))
    made["incomplete"] = fake_result(out, save_jpeg(imgs / "incomplete.jpg", photo(200, 150, 12)))
    (out / "incomplete.overlay.png").unlink()
    fake_result(out, save_jpeg(imgs / "interrupted.jpg", photo(200, 150, 13)))
    (out / "interrupted.json").unlink()
    (out / "run.jsonl").write_text(json.dumps({"schema": "imlforensic.error/1", "input": {"path": "images/broken.jpg"},
                                               "error": "images/broken.jpg: corrupt image data"}) + "\n")
    pdf = root / "case.pdf"
    collection = collect([out])
    result = build_report(collection, pdf, ReportOptions(title="Edge cases", case="E-1", analyst="Tester", date="2024-06-01"))
    return {"root": root, "made": made, "pdf": pdf, "result": result, "pages": pdf_text(pdf), "collection": collection}


def flat(text: str) -> str:
    """Page text with line breaks (from wrapping) turned into spaces."""
    return " ".join(text.replace("\u00a0", " ").split())


def _page_of(case, name: str) -> str:
    hits = [page for page in case["pages"][2:] if page.startswith("Image ") and name in page.splitlines()[1]]
    assert len(hits) == 1, name
    return hits[0]


def test_page_count_and_summary(case):
    result = case["result"]
    assert result.images == 11  # analysed, incomplete one included
    assert sorted(item.name for item in result.failed) == ["broken.jpg", "interrupted"]
    pages = case["pages"]
    assert len(pages) == result.pages == 2 + 11 + 2  # cover with summary (2 pages), images, appendix
    cover = flat(pages[0] + " " + pages[1])
    for word in ("Edge cases", "E-1", "Tester", "2024-06-01", "Refiner: testseg 0.3", "ab" * 32, "Failed or missing inputs",
                 "corrupt image data", "the run stopped before this image was done", "Incomplete results"):
        assert word in cover, word


def test_summary_page_numbers_point_to_the_pages(case):
    pages = case["pages"]
    for item in case["result"].failed:
        assert item.name in pages[0] + pages[1]
    for record in case["made"].values():
        name = Path(record["input"]["path"]).name
        page = _page_of(case, name[:20])
        number = pages.index(page) + 1
        assert f"Page {number} of {len(pages)}" in page
        assert record["input"]["sha256"] in page
        assert record["verdict"].upper() in page


def test_refined_page_shows_both_overlays(case, tmp_path):
    page = _page_of(case, "refined.jpg")
    assert "Overlay before refinement (classical)" in page
    assert "Refined overlay (testseg)" in page
    assert "Heatmap (refined by testseg)" in page
    refined = [item for item in case["collection"].items if item.name == "refined.jpg"]
    from imlforensic.report.collect import Collection

    figures = tmp_path / "figures"
    build_report(Collection(items=refined, folders=case["collection"].folders, batch_logs=[]), tmp_path / "r.pdf",
                 ReportOptions(figures=figures, figure_width_mm=40))
    names = {p.name for p in figures.iterdir()}
    assert names == {f"refined_{k}.{e}" for k in ("original", "heatmap", "overlay", "coarse-overlay") for e in ("png", "pdf")}
    with Image.open(figures / "refined_coarse-overlay.png") as image:
        assert image.size[0] == round(40 / 25.4 * 300)


def test_generated_verdict_and_class_probabilities(case):
    page = flat(_page_of(case, "generated.jpg"))
    assert "GENERATED" in page
    assert "generated 0.780" in page and "authentic 0.050" in page
    assert "likely synthetic" in page


def test_exif_and_editing_software_note(case):
    page = flat(_page_of(case, "exif_photo.jpg"))
    assert "Canon EOS 5D Mark IV" in page
    assert "Adobe Photoshop 25.1" in page
    assert "2024:03:01 09:10:11" in page
    assert "editing software (Photoshop)" in page
    assert "editing software: Photoshop" in flat(case["pages"][0])


def test_missing_and_changed_originals_are_reported(case):
    assert "no longer at" in _page_of(case, "deleted.jpg")
    changed = flat(_page_of(case, "changed.jpg"))
    assert "has changed since the analysis" in changed
    assert "sha256 is now" in changed


def test_large_and_tiny_images(case):
    large = flat(_page_of(case, "large.jpg"))
    assert "2400 × 1600 px, shown downscaled" in large
    assert "Large image" in large
    tiny = flat(_page_of(case, "tiny.png"))
    assert "32 × 24 px, shown enlarged" in tiny


def test_incomplete_outputs(case):
    page = flat(_page_of(case, "incomplete.jpg"))
    assert "Overlay file missing: incomplete.overlay.png" in page


def test_long_and_non_ascii_names(case):
    long_page = _page_of(case, "a_very_long_file_name")
    flat = long_page.replace("\n", "")
    assert LONG in flat
    unicode_page = _page_of(case, "Zürich_café_Ωμέγα_Москва")
    if missing_glyphs(CJK):  # no CJK font installed: the page says which characters could not be drawn
        assert "U+5317" in unicode_page


def test_pictures_are_embedded_and_pages_not_blank(case):
    from pypdf import PdfReader

    reader = PdfReader(str(case["pdf"]))
    page_index = case["pages"].index(_page_of(case, "exif_photo.jpg"))
    images = list(reader.pages[page_index].images)
    assert len(images) >= 5  # original, heatmap, overlay, mask, colour bar
    sizes = sorted(image.image.size for image in images)
    assert (300, 200) in sizes  # the original at its own resolution (it fits the page)
    pixels = render_page(case["pdf"], page_index, scale=0.5)
    assert (pixels < 235).any(axis=2).mean() > 0.15


def test_figures_of_a_tiny_image(case, tmp_path):
    from imlforensic.report.build import load_page_images, plan_item
    from imlforensic.report.figures import export_figures
    from imlforensic.report.layout import PAPERS
    from imlforensic.report.style import ReportMeta

    item = next(i for i in case["collection"].items if i.name == "tiny.png")
    info = plan_item(item, ReportMeta("t", "", "", "", PAPERS["a4"], "0", 200))
    written = export_figures(load_page_images(info, 10**8), tmp_path, "tiny", 0.5, refined=False, width_mm=30)
    assert len(written) == 8
    with Image.open(tmp_path / "tiny_mask.png") as image:
        assert image.size == (round(30 / 25.4 * 300), round(30 / 25.4 * 300 * 24 / 32))
        values = set(np.unique(np.asarray(image)).tolist())
        assert values == {40, 255}  # dark on white, exact (no grey from resampling)


def test_many_images_continue_the_summary(tmp_path):
    imgs, out = tmp_path / "imgs", tmp_path / "res"
    first = save_jpeg(imgs / "img_000.jpg", photo(64, 48, 0))
    fake_result(out, first, name="img_000")
    template = json.loads((out / "img_000.json").read_text())
    for i in range(1, 100):  # the same image under 100 names: enough rows for 3 summary pages
        name = f"img_{i:03d}"
        for suffix in (".heatmap.png", ".heatmap-color.png", ".mask.png", ".overlay.png"):
            shutil.copy(out / f"img_000{suffix}", out / f"{name}{suffix}")
        record = dict(template, outputs={k: v.replace("img_000", name) for k, v in template["outputs"].items()})
        record["input"] = dict(template["input"], path=str(imgs / f"{name}.jpg"))
        (out / f"{name}.json").write_text(json.dumps(record))
    pdf = tmp_path / "many.pdf"
    collection = collect([out])
    plan = plan_report(collection, ReportOptions(paper="letter"))
    assert len(plan.cover) == 3 and len(plan.infos) == 100
    assert [info.page for info in plan.infos] == list(range(4, 104))
    result = build_report(collection, pdf, ReportOptions(paper="letter"), sections=("cover",))
    assert result.pages == plan.total == 3 + 100 + 2
    pages = [" ".join(p.split()) for p in pdf_text(pdf)]
    assert len(pages) == 3
    assert "Summary (continued)" in pages[1] and "Summary (continued)" in pages[2]
    # every row cites the page of its image
    assert "100 img_099.jpg manipulated 0.8" in pages[2]
    assert f"{plan.infos[-1].page}" in pages[2].split("img_099.jpg", 1)[1]
    assert f"Page 3 of {plan.total}" in pages[2]


def test_a_page_that_cannot_be_drawn_does_not_cost_the_report(case, tmp_path, monkeypatch):
    import imlforensic.report.build as build

    def broken(info, max_pixels):
        raise ValueError("simulated decoder crash")

    monkeypatch.setattr(build, "load_page_images", broken)
    items = [item for item in case["collection"].items if item.name in ("refined.jpg", "tiny.png")]
    from imlforensic.report.collect import Collection

    pdf = tmp_path / "r.pdf"
    result = build_report(Collection(items=items, folders=[], batch_logs=[]), pdf, ReportOptions())
    pages = [flat(p) for p in pdf_text(pdf)]
    assert result.images == 2 and len(pages) == result.pages
    assert all("could not be prepared (ValueError: simulated decoder crash)" in p for p in pages[1:3])
