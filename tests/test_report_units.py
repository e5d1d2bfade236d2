"""Unit tests of the report's parts: collecting results, metadata, method texts, text layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from report_helpers import fake_result, photo, save_jpeg

from imlforensic.pipeline.records import ResultRecord
from imlforensic.registry import ModelCard
from imlforensic.report.collect import ReportItem, assign_names, collect, looks_like_results
from imlforensic.report.layout import Block, paginate, text_blocks
from imlforensic.report.metadata import find_original, read_metadata
from imlforensic.report.methods import MethodNote, describe, register_note
from imlforensic.report.text import Style, ellipsize, text_width, wrap

# --- collecting results ---------------------------------------------------------------

@pytest.fixture
def results(tmp_path: Path) -> Path:
    imgs, out = tmp_path / "imgs", tmp_path / "out"
    for name in ("b10", "b2", "a1"):
        fake_result(out, save_jpeg(imgs / f"{name}.jpg", photo(64, 48, len(name))))
    return out


def test_collect_orders_naturally_and_finds_outputs(results: Path) -> None:
    collection = collect([results])
    assert [item.name for item in collection.items] == ["a1.jpg", "b2.jpg", "b10.jpg"]
    item = collection.items[0]
    assert item.status == "ok" and set(item.files) == {"heatmap", "heatmap_color", "mask", "overlay"}
    assert looks_like_results(results) and not looks_like_results(results.parent / "imgs")


def test_collect_detects_failed_missing_and_incomplete(results: Path, tmp_path: Path) -> None:
    (results / "b2.mask.png").unlink()  # incomplete
    (results / "a1.json").unlink()  # interrupted: PNGs without their record
    (results / "junk.json").write_text("{not json")  # not ours, no outputs beside it: ignored
    log = tmp_path / "batch.jsonl"
    b10 = json.loads((results / "b10.json").read_text())
    ghost = dict(b10, input=dict(b10["input"], path="imgs/ghost.jpg", resolved_path="/nowhere/ghost.jpg", sha256="0" * 64))
    log.write_text("\n".join([
        json.dumps(b10),
        json.dumps({"schema": "imlforensic.error/1", "input": {"path": "imgs/bad.jpg"}, "error": "imgs/bad.jpg: not a recognised image format"}),
        json.dumps(ghost),
        "garbage line",
    ]) + "\n")
    collection = collect([results], [log])
    status = {item.name: item.status for item in collection.items}
    assert status == {"b10.jpg": "ok", "bad.jpg": "failed", "ghost.jpg": "missing", "b2.jpg": "incomplete", "a1": "failed"}
    assert [item.name for item in collection.items][:3] == ["b10.jpg", "bad.jpg", "ghost.jpg"]  # the log's order first
    incomplete = next(i for i in collection.items if i.status == "incomplete")
    assert incomplete.missing_outputs == ["b2.mask.png"] and incomplete.analysed
    assert any("not JSON" in w for w in collection.warnings)


def test_collect_only_batch_ignores_older_results(results: Path, tmp_path: Path) -> None:
    b2 = json.loads((results / "b2.json").read_text())
    collection = collect([results], only_batch=True, batch_entries=[ResultRecord.from_json(b2)])
    assert [item.name for item in collection.items] == ["b2.jpg"]


def test_collect_refined_outputs(tmp_path: Path) -> None:
    out = tmp_path / "out"
    fake_result(out, save_jpeg(tmp_path / "r.jpg", photo(64, 48)), refined=True)
    item = collect([out]).items[0]
    assert item.refined and {"coarse_overlay", "coarse_heatmap"} <= set(item.files)


def test_assign_names_disambiguates_with_folders() -> None:
    items = [ReportItem(status="ok", path=p) for p in ("a/x/photo.jpg", "b/x/photo.jpg", "c/other.jpg")]
    assign_names(items)
    assert [i.name for i in items] == ["a/x/photo.jpg", "b/x/photo.jpg", "other.jpg"]


# --- originals and metadata -------------------------------------------------------------

def test_read_metadata_flags_editing_software(tmp_path: Path) -> None:
    path = save_jpeg(tmp_path / "e.jpg", photo(64, 48), exif={0x010F: "NIKON CORPORATION", 0x0110: "NIKON D750",
                     0x0131: "GIMP 2.10.34"}, exif_ifd={0x9003: "2023:01:02 03:04:05"})
    meta = read_metadata(path)
    assert meta.has_exif and meta.camera == "NIKON D750"  # the make is not repeated
    assert meta.software == ["GIMP 2.10.34"] and meta.editors == ["GIMP"]
    assert meta.date_original == "2023:01:02 03:04:05"
    assert any("GIMP" in note for note in meta.notes)


def test_read_metadata_without_exif_and_camera_firmware(tmp_path: Path) -> None:
    plain = read_metadata(save_jpeg(tmp_path / "p.jpg", photo(64, 48)))
    assert not plain.has_exif and not plain.notes
    camera = read_metadata(save_jpeg(tmp_path / "c.jpg", photo(64, 48), exif={0x010F: "Apple", 0x0110: "iPhone 13", 0x0131: "16.1.1"}))
    assert camera.editors == [] and camera.camera == "Apple iPhone 13"
    xmp_path = tmp_path / "x.jpg"
    from PIL import Image
    Image.fromarray(photo(64, 48)).save(xmp_path, "JPEG", xmp=b'<x:xmpmeta><rdf:Description xmp:CreatorTool="Adobe Lightroom Classic 12.0"/></x:xmpmeta>')
    assert read_metadata(xmp_path).editors == ["Lightroom"]


def test_find_original_checks_the_sha256(tmp_path: Path) -> None:
    out = tmp_path / "out"
    path = save_jpeg(tmp_path / "o.jpg", photo(64, 48))
    record = ResultRecord.from_json(fake_result(out, path))
    found = find_original(record)
    assert found.status == "ok" and found.rgb.shape == (48, 64, 3)
    save_jpeg(path, photo(64, 48, 9))
    assert find_original(record).status == "changed"
    path.unlink()
    assert find_original(record).status == "missing"


# --- method descriptions -------------------------------------------------------------------

def card(data: dict) -> ModelCard:
    return ModelCard.from_json(data)


def test_describe_classical_includes_its_views_with_papers() -> None:
    descriptions = describe(card({"name": "classical", "version": "1.0"}))
    assert [d.name for d in descriptions] == ["classical", "sel", "noise"]
    assert any("Farid" in ref for ref in descriptions[1].references)
    assert any("Mahdian" in ref for ref in descriptions[2].references)


def test_describe_mvcam_includes_the_network_and_both_views() -> None:
    descriptions = describe(card({"name": "mvcam", "version": "2.2"}))
    assert [d.name for d in descriptions] == ["mvcam", "mvcam-net", "sel", "copymove"]
    assert any("Amerini" in ref for ref in descriptions[3].references)
    assert "copy_move_pairs" in descriptions[3].paragraphs[0]


def test_describe_falls_back_to_paper_and_registry() -> None:
    learned = describe(card({"name": "wsl-future", "version": "2", "reference": "Wang & Abhayaratne, multi-resolution CAM, BMVC-W 2024"}))[0]
    assert "class activation maps" in learned.paragraphs[0]
    assert any("2505.23586" in ref for ref in learned.references)
    unknown = describe(card({"name": "mystery", "reference": "Someone 2030"}), role="refiner")[0]
    assert "refiner" in unknown.title and unknown.references == ["Someone 2030"]
    register_note("mystery", MethodNote(title="mystery: a test method", text="Does things."))
    assert describe(card({"name": "mystery"}))[0].paragraphs[0] == "Does things."


# --- text and pagination -------------------------------------------------------------

def test_wrap_fits_and_keeps_every_character() -> None:
    text = "Input: /very/long/path/" + "segment_" * 30 + "photo.jpg and some words after it"
    lines = wrap(text, 200, 8)
    assert all(text_width(line, 8) <= 200.5 for line in lines)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")
    sha = "2892533b649bb08083be859128ccbd7d5860a16b36208e692d1c0aeba8c9c955"
    assert "".join(wrap(sha, 100, 8, mono=True)) == sha
    short = ellipsize("a" * 200, 100, 8)
    assert text_width(short, 8) <= 100 and "…" in short


def test_paginate_keeps_headings_with_text_and_avoids_orphans() -> None:
    style = Style(10)
    blocks = [Block(height=80, draw=lambda c, y: None)]  # room for the heading alone, not with its text
    blocks += [Block(height=12, draw=lambda c, y: None, keep_with_next=1)]  # a heading
    blocks += text_blocks("word " * 200, style, 100, 0)
    pages = paginate(blocks, 0, 0, 100)
    assert len(pages[0].placed) == 1  # the heading did not stay alone at the bottom
    for page in pages[1:-1]:
        assert len(page.placed) >= 2
