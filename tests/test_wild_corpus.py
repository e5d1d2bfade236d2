"""The wild benchmark's corpus builder (benchmarks/wild_corpus.py) on pictures made here: masks,
labels and controls are what they claim to be, and a second build keeps what the first made."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import wild_corpus
import wild_edits

TINY_PLAN = {
    "seen": 1,
    "screenshots_text": 1,
    "screenshots_ui": 0,
    "charts": 0,
    "logos": 1,
    "documents": 0,
    "thumbnails": 1,
    "upscaled": 1,
    "web_shared": 1,
    "splice": 2,
    "generated_blend": 1,
    "removal": 1,
    "copymove_png": 1,
    "copymove_classic": 1,
}


def textured(height: int, width: int, seed: int) -> np.ndarray:
    """A photo-like picture: smooth colour fields, shapes with edges, and fine noise."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (max(2, height // 40), max(2, width // 40), 3)).astype(np.float32)
    rgb = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    for _ in range(12):
        centre = (int(rng.integers(width)), int(rng.integers(height)))
        cv2.circle(
            rgb,
            centre,
            int(rng.integers(10, max(11, height // 5))),
            tuple(float(v) for v in rng.uniform(0, 255, 3)),
            -1,
        )
    rgb += rng.normal(0, 6, rgb.shape)
    return np.clip(rgb, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def pools(tmp_path_factory) -> wild_corpus.Pools:
    folder = tmp_path_factory.mktemp("sources")

    def save(name: str, rgb: np.ndarray, origin: str) -> wild_corpus.Source:
        Image.fromarray(rgb).save(folder / name, quality=92)
        return wild_corpus.Source(origin, folder / name)

    camera = [save("cam0.jpg", textured(980, 1300, 0), "cam"), save("cam1.jpg", textured(300, 400, 1), "cam")]
    other = [save("web0.jpg", textured(256, 320, 2), "web"), save("web1.png", textured(240, 360, 3), "web")]
    return wild_corpus.Pools(
        originals={"cam": camera},
        encodings=[other[1]],
        hosts={"cam": camera, "web": other},
        generated=[save("gen0.jpg", textured(256, 256, 4), "gen"), save("gen1.jpg", textured(256, 256, 5), "gen")],
        seen={"seenset": [save("seen0.jpg", textured(120, 160, 6), "seenset")]},
    )


@pytest.fixture(scope="module")
def corpus(pools, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    wild_corpus.build_corpus(out, pools, seed=3, plan=TINY_PLAN)
    return out


def rows_of(folder: Path) -> list[dict]:
    with open(folder / "labels.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_labels_are_complete_and_point_at_files(corpus):
    folders = sorted(p.parent for p in corpus.glob("*/*/labels.csv"))
    assert {f"{f.parent.name}/{f.name}" for f in folders} >= {
        "authentic/cam",
        "authentic/skimage",
        "authentic/logos",
        "authentic/thumbnails",
        "seen/seenset",
        "edited/splice",
        "controls/splice",
        "edited/copymove_png",
        "controls/copymove_classic",
    }
    for folder in folders:
        rows = rows_of(folder)
        assert rows, folder
        for row in rows:
            assert list(row) == list(wild_corpus.COLUMNS)
            assert (folder / row["image"]).is_file()
            assert row["origin"] and row["source"] and row["pipeline"]
            if folder.parent.name == "edited":
                assert row["label"] == "manipulated" and row["kind"] and (folder / row["mask"]).is_file()
            else:
                assert row["label"] == "authentic" and not row["mask"] and not row["kind"]


def test_masks_are_binary_and_fit_their_images(corpus):
    for name, count in (
        ("splice", 2),
        ("generated_blend", 1),
        ("removal", 1),
        ("copymove_png", 1),
        ("copymove_classic", 1),
    ):
        rows = rows_of(corpus / "edited" / name)
        assert len(rows) == count
        for row in rows:
            image = Image.open(corpus / "edited" / name / row["image"])
            mask = np.asarray(Image.open(corpus / "edited" / name / row["mask"]))
            assert mask.shape == (image.height, image.width)
            assert set(np.unique(mask)) == {0, 255}
            control = Image.open(corpus / "controls" / name / row["image"])
            assert control.size == image.size and control.format == image.format
    assert Image.open(next((corpus / "edited" / "copymove_png" / "images").iterdir())).size == (1024, 768)


def test_originals_are_copied_byte_for_byte(corpus, pools):
    for source in pools.originals["cam"]:
        assert (corpus / "authentic" / "cam" / "images" / source.path.name).read_bytes() == source.path.read_bytes()


def test_a_second_build_keeps_everything(corpus, pools, capsys):
    before = {p: p.stat().st_mtime_ns for p in corpus.rglob("*") if p.is_file() and p.name != "corpus.json"}
    wild_corpus.build_corpus(corpus, pools, seed=3, plan=TINY_PLAN)
    assert "made" not in capsys.readouterr().out
    assert before == {p: p.stat().st_mtime_ns for p in corpus.rglob("*") if p.is_file() and p.name != "corpus.json"}


def changed(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    return np.any(before != after, axis=2)


def first_edit(make) -> wild_edits.Edit:
    """The first edit ``make`` draws that is not rejected (too small or too faint)."""
    for _ in range(20):
        try:
            return make()
        except wild_edits.Rejected:
            continue
    raise AssertionError("every draw was rejected")


def test_a_hard_edged_copy_equals_its_source():
    host = textured(240, 320, 7)
    rng = np.random.default_rng(0)
    edit = first_edit(lambda: wild_edits.copy_move(host, rng, p_transform=0, p_feather=0))
    dy, dx = edit.offset
    ys, xs = np.nonzero(edit.mask)
    assert np.array_equal(edit.image[ys, xs], host[ys - dy, xs - dx])
    assert not changed(host, edit.image)[~edit.mask].any()


def test_a_hard_edged_splice_changes_exactly_its_mask():
    host, donor = textured(240, 320, 8), textured(200, 260, 9)
    rng = np.random.default_rng(1)
    edit = first_edit(lambda: wild_edits.splice(host, donor, rng, p_feather=0))
    difference = changed(host, edit.image)
    assert not difference[~edit.mask].any()
    assert difference[edit.mask].mean() > 0.9
    assert edit.band == 0


def test_feathering_stays_within_its_band_and_removal_within_its_mask():
    host, donor = textured(240, 320, 10), textured(240, 320, 11)
    rng = np.random.default_rng(2)
    edit = first_edit(lambda: wild_edits.splice(host, donor, rng, p_feather=1, feather=(3, 3)))
    assert edit.band > 0
    outside = changed(host, edit.image) & ~edit.mask
    assert outside.any()  # the seam is blended ...
    distance = cv2.distanceTransform((~edit.mask).astype(np.uint8), cv2.DIST_L2, 5)
    assert distance[outside].max() <= edit.band  # ... but not beyond the band
    removal = first_edit(lambda: wild_edits.removal(host, rng))
    assert not changed(host, removal.image)[~removal.mask].any()


def test_check_edit_catches_a_change_outside_the_mask():
    host = textured(100, 100, 12)
    image = host.copy()
    mask = np.zeros((100, 100), bool)
    mask[20:60, 20:60] = True
    image[mask] = 255 - image[mask]
    image[90, 90] = 255 - image[90, 90]
    with pytest.raises(AssertionError):
        wild_edits.check_edit(host, wild_edits.Edit(image, mask, 0, "test"))


def test_pipelines_resize_the_mask_with_the_picture():
    rgb, mask = textured(200, 300, 13), np.zeros((200, 300), bool)
    mask[50:150, 100:200] = True
    steps = [wild_edits.Step("jpeg", 95), wild_edits.Step("resize", 0.5), wild_edits.Step("webp", 80)]
    data, suffix, small = wild_edits.run_pipeline(rgb, steps, mask)
    assert suffix == ".webp" and Image.open(io.BytesIO(data)).size == (150, 100)
    assert small.shape == (100, 150) and small[25:75, 50:100].all() and small.sum() == 50 * 50
    assert wild_edits.pipeline_tag(steps) == "jpeg95>resize0.50>webp80"
