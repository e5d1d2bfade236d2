"""Build the corpus of the wild development benchmark (issue 15): authentic pictures of many
origins at their own size, and edited pictures with masks made from held-out photos.

    python benchmarks/wild_corpus.py [--out /work/wild/corpus] [--data ../shared/data] [--seed 15]

Every folder of the corpus is a labelled dataset in the project's layout (``images/``,
``masks/`` for edits, ``labels.csv`` with ``image,label,mask,kind`` and ``origin``, ``source``,
``pipeline``, ``details``), so ``imlforensic evaluate FOLDER`` and ``imlforensic detect
FOLDER/images`` work on each. ``benchmarks/wild.py`` runs a method over all of them.

    authentic/  pictures nobody edited, of held-out origins:
                camera_native, diffusiondb_real (COCO, ImageNet), mate_nature, lxqt_photos,
                opencv_scenes: the original files, byte for byte, at their own size;
                skimage: scikit-image's photos as PNG and JPEG q75/90/95;
                screenshots_text, screenshots_ui, charts, logos, documents: rendered here
                (benchmarks/wild_render.py); thumbnails (64-256 px), upscaled (2-4x of small
                photos), web_shared (720-1600 px, JPEG q70-90 or WebP): versions of held-out photos
    edited/     edits of held-out photos, masks = edited pixels (benchmarks/wild_edits.py):
                splice, generated_blend, removal, copymove_png, copymove_classic
    controls/   for each edit, its host photo untouched, prepared and saved exactly as the edit
                was (same size, same export, same sharing pipeline): the authentic side of each
                set's image AUC, so a container, a size or a quality never tells the class
    seen/       bsds500, hymenoptera, dogs_vs_cats: a few dozen originals each, reported apart,
                because the shipped model trained on them

Edited sets. ``splice``: an object-like region (Fourier blob, random polygon, or a Felzenszwalb
segment of the donor) of another held-out photo, scaled, colour-matched for 70 %, hard or
feathered edges. ``generated_blend``: a region of a generated picture (``generated/bingo_multigen``
and the generated half of ``generated/diffusiondb_pairs``) blended into a held-out photo, always
feathered and colour-matched: a stand-in for AI inpainting, which cannot run offline here (no
diffusion model is installable), so it has generated texture inside a real photo but not an
inpainting model's seam or its re-encoding of the whole picture. ``removal``: a region filled by
OpenCV inpainting (Telea or Navier-Stokes). Hosts of these three are downscaled to a long side of
768-1600 px and exported as PNG (30 %) or JPEG q85-98; half then go through a sharing pipeline
(a downscale to 45-85 % for most, then JPEG q70-90 or WebP q70-90). ``copymove_png``: copy-moves
in never-compressed 1024 x 768 PNGs (crops of large held-out photos downscaled at least 1.25x, so
the camera's JPEG grid is gone), plain shifts and rotated / scaled copies, saved as PNG only.
``copymove_classic``: in the style of the classic copy-move benchmarks (CoMoFoD), 512 x 512,
copies mostly rotated / scaled, then noise, blur, brightness or contrast, then JPEG q70-95.
Masks mark the copy, not its source, and for feathered edges the pixels blended at least half.
Each edit is asserted to change nothing outside its mask and feather band, and redrawn when
its mask is tiny or the change inside it faint.

Held-out policy. No training of any model of this project may use, in any form (as photos to
synthesise edits from, as authentic examples, for calibration or for choosing settings):
``photos/camera_native``; ``generated/diffusiondb_pairs`` (both halves); ``generated/bingo_multigen``;
the Debian packages ``mate-backgrounds``, ``lxqt-themes`` and ``opencv-doc``; scikit-image's
sample pictures (``skimage.data``); the pictures rendered by benchmarks/wild_render.py (the
code, its fonts and word lists may inspire other renderers, its output may not be trained on);
and the edits of benchmarks/wild_edits.py (a training synthesiser must not import or copy it).
Training may use: ``photos/bsds500``, ``photos/hymenoptera``, ``photos/dogs_vs_cats`` (hence the
``seen/`` group), the Debian packages ``lomiri-wallpapers-16.04`` and
``plasma-workspace-wallpapers``, ``generated/sd_sheets``, and ``dev/casia1@train``
(``dev/casia1@val`` and ``dev/casia2_samples`` stay evaluation-only, as before).

Building is deterministic for a seed (with the same library versions and Debian package
versions, recorded in ``corpus.json``) and idempotent: a folder with a ``labels.csv`` is kept as
it is; a folder is written under a temporary name and renamed when complete. Large originals are
copied into the corpus (outside the repository); nothing is written into the repository.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import wild_edits as edits  # benchmarks/, beside this file
import wild_render as render
from PIL import Image, ImageOps
from wild_edits import Edit, Rejected, Step

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = Path("/work/wild/corpus")
DEFAULT_DEB = Path("/work/wild/deb")
COLUMNS = ("image", "label", "mask", "kind", "origin", "source", "pipeline", "details")
DEB_PACKAGES = ("mate-backgrounds", "lxqt-themes", "opencv-doc")

# The photographs among the packages' wallpapers and sample pictures (the rest are abstract
# renderings, logos, test charts, stereo calibration boards or, for opencv's ela_modified.jpg,
# an edited picture).
LXQT_PHOTOS = (
    "Butterfly-Kenneth-Wimer.jpg",
    "Valendas.png",
    "after-the-rain.jpg",
    "appleflower.png",
    "beam.png",
    "butterfly.png",
    "cloud.png",
    "drop.png",
    "flowers.png",
    "fog.jpg",
    "this-is-not-windows.jpg",
)
OPENCV_COLOUR = (
    "aero1.jpg",
    "aero3.jpg",
    "aloeL.jpg",
    "apple.jpg",
    "baboon.jpg",
    "board.jpg",
    "building.jpg",
    "butterfly.jpg",
    "chicky_512.png",
    "ela_original.jpg",
    "fruits.jpg",
    "graf1.png",
    "home.jpg",
    "left.jpg",
    "leuvenA.jpg",
    "messi5.jpg",
    "orange.jpg",
    "rubberwhale1.png",
    "smarties.png",
    "squirrel_cls.jpg",
    "stuff.jpg",
    "sudoku.png",
)
OPENCV_GREY = ("basketball1.png", "box_in_scene.png", "left01.jpg")
SKIMAGE_COLOUR = ("astronaut", "chelsea", "coffee", "rocket")
SKIMAGE_OTHER = (
    "camera",
    "coins",
    "moon",
    "grass",
    "gravel",
    "brick",
    "text",
    "page",
    "hubble_deep_field",
    "immunohistochemistry",
    "logo",
)
SKIMAGE_QUALITIES = (75, 90, 95)

# Pictures per folder: 406 authentic pictures of held-out origins (385 megapixels), 320 edits
# with as many controls (157 megapixels each), 72 "seen" originals; about 700 megapixels in all,
# which mvcam (0.65 s per megapixel) reads in about 15 minutes on 2 idle CPU cores, and the
# edited sets once more for `imlforensic evaluate`.
PLAN: dict[str, int] = {
    "seen": 24,  # per origin
    "screenshots_text": 20,
    "screenshots_ui": 20,
    "charts": 20,
    "logos": 20,
    "documents": 16,
    "thumbnails": 30,
    "upscaled": 24,
    "web_shared": 40,
    "splice": 80,
    "generated_blend": 80,
    "removal": 60,
    "copymove_png": 50,
    "copymove_classic": 50,
}
RENDERED_ENCODINGS: dict[str, tuple[dict[str, float], tuple[int, int]]] = {
    "screenshots_text": ({"png": 0.6, "jpeg": 0.25, "webp": 0.15}, (80, 95)),
    "screenshots_ui": ({"png": 0.6, "jpeg": 0.25, "webp": 0.15}, (80, 95)),
    "charts": ({"png": 0.7, "jpeg": 0.3}, (75, 95)),
    "logos": ({"png": 0.6, "jpeg": 0.4}, (75, 95)),
    "documents": ({"jpeg": 0.85, "png": 0.15}, (70, 90)),
}


# --------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class Source:
    """One picture the corpus is made from."""

    origin: str
    path: Path

    @property
    def name(self) -> str:
        return f"{self.origin}/{self.path.name}"


@dataclass
class Pools:
    """Where the corpus comes from. ``originals``: folder name -> files copied byte for byte into
    ``authentic/``; ``encodings``: lossless sources saved as PNG and JPEG at SKIMAGE_QUALITIES into
    ``authentic/skimage``; ``hosts``: origin -> colour photos that edits and derived pictures are
    made from; ``generated``: donors of the generated-content edits; ``seen``: origin -> files the
    shipped model trained on."""

    originals: dict[str, list[Source]]
    encodings: list[Source]
    hosts: dict[str, list[Source]]
    generated: list[Source]
    seen: dict[str, list[Source]] = field(default_factory=dict)


def load_rgb(path: Path) -> np.ndarray:
    """The picture as displayed (EXIF orientation applied), RGB, alpha composited onto white."""
    with Image.open(path) as image:
        image = ImageOps.exif_transpose(image)
        if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
            image = image.convert("RGBA")
            white = Image.new("RGBA", image.size, (255, 255, 255, 255))
            image = Image.alpha_composite(white, image)
        return np.asarray(image.convert("RGB"))


def picture_size(path: Path) -> tuple[int, int]:
    """(long side, short side) without decoding the pixels."""
    with Image.open(path) as image:
        return max(image.size), min(image.size)


def labelled(folder: Path, label: str) -> list[tuple[Path, dict]]:
    """The files of a shared-data folder with ``label``, with their labels.csv rows."""
    with open(folder / "labels.csv", newline="", encoding="utf-8") as handle:
        return [(folder / row["image"], row) for row in csv.DictReader(handle) if row["label"] == label]


def debian_tree(deb: Path) -> Path:
    """The extracted Debian packages (``apt-get download`` + ``dpkg -x`` into ``deb`` when missing)."""
    tree = deb / "x"
    deb.mkdir(parents=True, exist_ok=True)
    missing = [pkg for pkg in DEB_PACKAGES if not list(deb.glob(f"{pkg}_*.deb"))]
    if missing:
        subprocess.run(["apt-get", "download", *missing], cwd=deb, check=True)
    for package in sorted(deb.glob("*.deb")):
        stamp = tree / f".{package.name}.extracted"
        if not stamp.exists():
            subprocess.run(["dpkg", "-x", str(package), str(tree)], check=True)
            stamp.touch()
    return tree


def skimage_sources(folder: Path) -> list[Source]:
    """scikit-image's sample pictures as lossless PNGs in ``folder``, the arrays as shipped (grey
    ones grey, the logo with its alpha, which load_rgb composites onto white)."""
    from skimage import data

    folder.mkdir(parents=True, exist_ok=True)
    sources = []
    for name in SKIMAGE_COLOUR + SKIMAGE_OTHER:
        path = folder / f"{name}.png"
        if not path.exists():
            Image.fromarray(getattr(data, name)()).save(path)
        sources.append(Source("skimage", path))
    return sources


def shared_pools(data: Path, deb: Path, work: Path) -> Pools:
    """The pools of the shared data, the Debian packages and scikit-image (see the module docstring)."""
    share = debian_tree(deb) / "usr" / "share"
    camera = [Source("camera_native", p) for p, _ in labelled(data / "photos" / "camera_native", "authentic")]
    pairs = data / "generated" / "diffusiondb_pairs"
    real = [Source(row["source"], p) for p, row in labelled(pairs, "authentic")]
    mate = [Source("mate_nature", p) for p in sorted((share / "backgrounds" / "mate" / "nature").glob("*.jpg"))]
    lxqt = [Source("lxqt_photos", share / "lxqt" / "wallpapers" / name) for name in LXQT_PHOTOS]
    cv_data = share / "doc" / "opencv-doc" / "examples" / "data"
    opencv = [Source("opencv_scenes", cv_data / name) for name in sorted(OPENCV_COLOUR + OPENCV_GREY)]
    skimage = skimage_sources(work / "skimage")
    hosts: dict[str, list[Source]] = {
        "camera_native": camera,
        "mate_nature": mate,
        "lxqt_photos": lxqt,
        "opencv_scenes": [s for s in opencv if s.path.name in OPENCV_COLOUR],
        "skimage": [s for s in skimage if s.path.stem in SKIMAGE_COLOUR],
    }
    for source in real:
        hosts.setdefault(source.origin, []).append(source)
    generated = [
        Source(f"bingo_{row['generator']}", p)
        for p, row in labelled(data / "generated" / "bingo_multigen", "generated")
    ]
    generated += [Source("diffusiondb", p) for p, _ in labelled(pairs, "generated")]
    seen = {
        name: [Source(name, p) for p, _ in labelled(data / "photos" / name, "authentic")]
        for name in ("bsds500", "hymenoptera", "dogs_vs_cats")
    }
    originals = {
        "camera_native": camera,
        "diffusiondb_real": real,
        "mate_nature": mate,
        "lxqt_photos": lxqt,
        "opencv_scenes": opencv,
    }
    return Pools(originals=originals, encodings=skimage, hosts=hosts, generated=generated, seen=seen)


def rotation(pools: dict[str, list[Source]], rng: np.random.Generator) -> Iterator[Source]:
    """Sources taking turns by origin, so every origin is represented alike, each origin's photos
    in a shuffled order; an origin whose photos are used up drops out of the turn until every
    origin's are, so no photo comes back before all have been used once."""
    while True:
        queues = {
            origin: [sources[i] for i in rng.permutation(len(sources))] for origin, sources in sorted(pools.items())
        }
        while any(queues.values()):
            for queue in queues.values():
                if queue:
                    yield queue.pop()


def at_least(pools: dict[str, list[Source]], long_side: int, short_side: int) -> dict[str, list[Source]]:
    """The sources with at least these dimensions."""
    kept = {
        o: [s for s in sources if all(a >= b for a, b in zip(picture_size(s.path), (long_side, short_side)))]
        for o, sources in pools.items()
    }
    return {o: s for o, s in kept.items() if s}


# --------------------------------------------------------------------------- writing folders


@dataclass
class Row:
    image: str
    label: str
    origin: str
    source: str = ""
    pipeline: str = ""
    mask: str = ""
    kind: str = ""
    details: str = ""


class Folder:
    """A dataset folder being written: files go into a temporary folder that is renamed when complete."""

    def __init__(self, path: Path):
        self.path = path
        self.partial = path.with_name(path.name + ".partial")
        shutil.rmtree(self.partial, ignore_errors=True)
        (self.partial / "images").mkdir(parents=True)
        self.rows: list[Row] = []

    def write(self, relative: str, data: bytes) -> str:
        target = self.partial / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return relative

    def copy(self, source: Path, name: str) -> str:
        shutil.copyfile(source, self.partial / "images" / name)
        return f"images/{name}"

    def finish(self) -> int:
        with open(self.partial / "labels.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, COLUMNS)
            writer.writeheader()
            writer.writerows({key: getattr(row, key) for key in COLUMNS} for row in self.rows)
        shutil.rmtree(self.path, ignore_errors=True)  # an incomplete folder (no labels.csv) left by hand
        self.partial.rename(self.path)
        return len(self.rows)


def built(path: Path) -> int | None:
    """The number of pictures of a complete folder, None when it is not built yet."""
    labels = path / "labels.csv"
    if not labels.is_file():
        return None
    with open(labels, newline="", encoding="utf-8") as handle:
        return sum(1 for _ in csv.DictReader(handle))


def folder_rng(seed: int, name: str) -> np.random.Generator:
    """Each folder its own random stream, so folders can be built in any order or alone."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


# --------------------------------------------------------------------------- authentic folders


def build_originals(folder: Folder, sources: list[Source]) -> None:
    """The files themselves, byte for byte."""
    for source in sources:
        image = folder.copy(source.path, safe(source.path.name))
        folder.rows.append(Row(image, "authentic", source.origin, source.name, "original"))


def build_encodings(folder: Folder, sources: list[Source]) -> None:
    """Each source as PNG and as JPEG at each of SKIMAGE_QUALITIES."""
    for source in sources:
        rgb = load_rgb(source.path)
        for step in [Step("png")] + [Step("jpeg", q) for q in SKIMAGE_QUALITIES]:
            data, suffix, _ = edits.run_pipeline(rgb, [step])
            image = folder.write(f"images/{source.path.stem}_{step.tag}{suffix}", data)
            folder.rows.append(Row(image, "authentic", source.origin, source.name, step.tag))


def build_rendered(folder: Folder, kind: str, count: int, rng: np.random.Generator) -> None:
    renderer = render.RENDERERS[kind]
    shares, quality = RENDERED_ENCODINGS[kind]
    for i in range(count):
        rgb = renderer(rng)
        step = edits.encoding(rng, shares, quality)
        data, suffix, _ = edits.run_pipeline(rgb, [step])
        image = folder.write(f"images/{kind}_{i:03d}{suffix}", data)
        folder.rows.append(Row(image, "authentic", "rendered", kind, f"render>{step.tag}"))


def thumbnail(rgb: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    long_side = int(rng.integers(64, 257))
    return edits.fit_long_side(rgb, long_side), f"fit{long_side}"


INTERPOLATIONS = {"linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC, "lanczos": cv2.INTER_LANCZOS4}


def upscaled(rgb: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """A small photo (a larger one downscaled to 240-480 px first) enlarged 2-4x, at most 1600 px."""
    small = edits.fit_long_side(rgb, int(rng.integers(240, 481)))
    factor = min(float(rng.uniform(2, 4)), 1600 / max(small.shape[:2]))
    name = str(rng.choice(list(INTERPOLATIONS)))
    h, w = small.shape[:2]
    big = cv2.resize(small, (round(w * factor), round(h * factor)), interpolation=INTERPOLATIONS[name])
    return big, f"fit{max(h, w)}>up{factor:.2f}{name}"


def web_shared(rgb: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    long_side = int(rng.integers(720, min(1600, max(rgb.shape[:2]) - 1) + 1))
    return edits.fit_long_side(rgb, long_side), f"fit{long_side}"


DERIVED: dict[
    str,
    tuple[Callable[[np.ndarray, np.random.Generator], tuple[np.ndarray, str]], dict[str, float], tuple[int, int], int],
] = {
    # name: (transform, encoding shares, quality range, minimum long side of a source)
    "thumbnails": (thumbnail, {"jpeg": 0.6, "png": 0.25, "webp": 0.15}, (70, 90), 0),
    "upscaled": (upscaled, {"jpeg": 0.5, "png": 0.3, "webp": 0.2}, (80, 95), 0),
    "web_shared": (web_shared, {"jpeg": 0.65, "webp": 0.35}, (70, 90), 1024),
}


def build_derived(folder: Folder, kind: str, count: int, pools: Pools, rng: np.random.Generator) -> None:
    """Versions of held-out photos: thumbnails, upscaled small photos, web-shared downscales."""
    transform, shares, quality, min_long = DERIVED[kind]
    sources = rotation(at_least(pools.hosts, min_long, 0), rng)
    for i in range(count):
        source = next(sources)
        rgb, tag = transform(load_rgb(source.path), rng)
        step = edits.encoding(rng, shares, quality)
        data, suffix, _ = edits.run_pipeline(rgb, [step])
        image = folder.write(f"images/{i:03d}_{source.origin}_{safe(source.path.stem)}{suffix}", data)
        folder.rows.append(Row(image, "authentic", source.origin, source.name, f"{tag}>{step.tag}"))


def build_seen(folder: Folder, sources: list[Source], count: int, rng: np.random.Generator) -> None:
    chosen = sorted(rng.choice(len(sources), min(count, len(sources)), replace=False))
    build_originals(folder, [sources[i] for i in chosen])


# --------------------------------------------------------------------------- edited sets


@dataclass(frozen=True)
class EditSet:
    """How one edited set is made: host preparation, the edit, its donors, the pipeline."""

    kind: str  # labels.csv kind
    prepare: Callable[[np.ndarray, np.random.Generator], np.ndarray]
    edit: Callable[[np.ndarray, np.ndarray | None, np.random.Generator], Edit]
    pipeline: Callable[[np.ndarray, np.random.Generator], list[Step]]
    donors: str = ""  # "photos" (another held-out photo), "generated", or none
    min_size: tuple[int, int] = (0, 0)  # (long, short) side of a usable host


def working_size(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A held-out photo at an editor's working size: long side 768-1600 px (never enlarged)."""
    return edits.fit_long_side(rgb, int(rng.integers(768, 1601)))


def shared_half(rgb: np.ndarray, rng: np.random.Generator) -> list[Step]:
    return edits.edit_pipeline(rng, p_png=0.3, p_shared=0.5)


EDIT_SETS: dict[str, EditSet] = {
    "splice": EditSet(
        "splice", working_size, lambda host, donor, rng: edits.splice(host, donor, rng), shared_half, donors="photos"
    ),
    "generated_blend": EditSet(
        "inpaint",
        working_size,
        lambda host, donor, rng: edits.generated_blend(host, donor, rng),
        shared_half,
        donors="generated",
    ),
    "removal": EditSet("removal", working_size, lambda host, _, rng: edits.removal(host, rng), shared_half),
    "copymove_png": EditSet(
        "copymove",
        lambda rgb, rng: edits.cover_crop(rgb, 1024, 768, rng),
        lambda host, _, rng: edits.copy_move(host, rng, p_transform=0.5),
        lambda rgb, rng: [Step("png")],
        min_size=(1280, 960),
    ),
    "copymove_classic": EditSet(
        "copymove",
        lambda rgb, rng: edits.cover_crop(edits.fit_long_side(rgb, int(rng.integers(640, 1025))), 512, 512, rng),
        lambda host, _, rng: edits.copy_move(host, rng, p_transform=0.8, area=(0.01, 0.06)),
        lambda rgb, rng: edits.post_processing(rng),
    ),
}
MAX_TRIES = 40


def by_origin(sources: list[Source]) -> dict[str, list[Source]]:
    grouped: dict[str, list[Source]] = {}
    for source in sources:
        grouped.setdefault(source.origin, []).append(source)
    return grouped


def draw_edit(
    spec: EditSet, host: np.ndarray, source: Source, donors: Iterator[Source] | None, rng: np.random.Generator
) -> tuple[Edit, str]:
    """An edit of ``host`` that passes check_edit (redrawn while rejected), and its donor's name
    (a donor is never the host photo itself)."""
    for _ in range(MAX_TRIES):
        donor = next(d for d in donors if d != source) if donors is not None else None
        donor_rgb = edits.fit_long_side(load_rgb(donor.path), 1600) if donor is not None else None
        try:
            return spec.edit(host, donor_rgb, rng), donor.name if donor is not None else ""
        except Rejected:
            continue
    raise Rejected(f"no acceptable {spec.kind} in {MAX_TRIES} tries")


def build_edit_set(
    edited: Folder, controls: Folder, name: str, count: int, pools: Pools, rng: np.random.Generator
) -> None:
    """``count`` edits of held-out photos, and for each its untouched host through the same pipeline."""
    spec = EDIT_SETS[name]
    hosts = rotation(at_least(pools.hosts, *spec.min_size), rng)
    donors = {"photos": pools.hosts, "generated": by_origin(pools.generated)}.get(spec.donors)
    donor_stream = rotation(donors, rng) if donors else None
    while len(edited.rows) < count:
        source = next(hosts)
        host = spec.prepare(load_rgb(source.path), rng)
        try:
            edit, donor = draw_edit(spec, host, source, donor_stream, rng)
        except Rejected:
            continue  # an unsuitable host (flat everywhere, say): take the next one
        steps = spec.pipeline(host, rng)
        data, suffix, mask = edits.run_pipeline(edit.image, steps, edit.mask)
        control, _, _ = edits.run_pipeline(host, steps)
        stem, tag = f"{name}_{len(edited.rows):03d}", edits.pipeline_tag(steps)
        image = edited.write(f"images/{stem}{suffix}", data)
        mask_file = edited.write(f"masks/{stem}.png", edits.encode(mask.astype(np.uint8) * 255, Step("png")))
        details = edit.details + (f" donor={donor}" if donor else "")
        edited.rows.append(Row(image, "manipulated", source.origin, source.name, tag, mask_file, spec.kind, details))
        image = controls.write(f"images/{stem}{suffix}", control)
        controls.rows.append(
            Row(image, "authentic", source.origin, source.name, tag, details=f"control of edited/{name}/{image}")
        )


# --------------------------------------------------------------------------- the corpus


Maker = Callable[[Folder, np.random.Generator], None]


def single_folders(pools: Pools, plan: dict[str, int]) -> dict[str, Maker]:
    """Every folder but the edited sets: relative path -> how to fill it."""
    makers: dict[str, Maker] = {}
    for name, sources in pools.originals.items():
        makers[f"authentic/{name}"] = lambda f, rng, s=sources: build_originals(f, s)
    if pools.encodings:
        makers["authentic/skimage"] = lambda f, rng: build_encodings(f, pools.encodings)
    for kind in render.RENDERERS:
        if plan.get(kind):
            makers[f"authentic/{kind}"] = lambda f, rng, k=kind: build_rendered(f, k, plan[k], rng)
    for kind in DERIVED:
        if plan.get(kind):
            makers[f"authentic/{kind}"] = lambda f, rng, k=kind: build_derived(f, k, plan[k], pools, rng)
    for name, sources in pools.seen.items() if plan.get("seen") else ():
        makers[f"seen/{name}"] = lambda f, rng, s=sources: build_seen(f, s, plan["seen"], rng)
    return makers


def report(verb: str, relative: str, count: int, seconds: float | None = None) -> None:
    print(
        f"{verb:6s} {relative:36s} {count:4d} pictures" + (f"  ({seconds:.1f} s)" if seconds is not None else ""),
        flush=True,
    )


def build_single(out: Path, relative: str, make: Maker, seed: int) -> int:
    existing = built(out / relative)
    if existing is not None:
        report("kept", relative, existing)
        return existing
    started = time.perf_counter()
    folder = Folder(out / relative)
    make(folder, folder_rng(seed, relative))
    count = folder.finish()
    report("made", relative, count, time.perf_counter() - started)
    return count


def build_pair(out: Path, name: str, count: int, pools: Pools, seed: int) -> dict[str, int]:
    """An edited set and its controls, built together (they are drawn in one random stream)."""
    relatives = (f"edited/{name}", f"controls/{name}")
    existing = {relative: built(out / relative) for relative in relatives}
    if all(n is not None for n in existing.values()):
        for relative, n in existing.items():
            report("kept", relative, n or 0)
        return {relative: n or 0 for relative, n in existing.items()}
    for relative in relatives:
        shutil.rmtree(out / relative, ignore_errors=True)  # one without the other: rebuild both
    started = time.perf_counter()
    edited, controls = Folder(out / relatives[0]), Folder(out / relatives[1])
    build_edit_set(edited, controls, name, count, pools, folder_rng(seed, relatives[0]))
    counts = {relatives[0]: edited.finish(), relatives[1]: controls.finish()}
    for relative, n in counts.items():
        report("made", relative, n, time.perf_counter() - started)
    return counts


def build_corpus(
    out: Path, pools: Pools, seed: int = 15, plan: dict[str, int] | None = None, notes: dict | None = None
) -> dict[str, int]:
    """Build every folder not built yet (``plan`` overrides PLAN's counts); returns folder ->
    pictures and writes ``corpus.json`` (with ``notes``: where the sources came from)."""
    plan = {**PLAN, **(plan or {})}
    counts = {
        relative: build_single(out, relative, make, seed) for relative, make in single_folders(pools, plan).items()
    }
    for name in EDIT_SETS:
        if plan.get(name):
            counts.update(build_pair(out, name, plan[name], pools, seed))
    manifest = {"seed": seed, "plan": plan, "folders": counts, "versions": versions(), **(notes or {})}
    (out / "corpus.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return counts


def versions() -> dict[str, str]:
    import PIL
    import scipy
    import skimage

    return {
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "pillow": PIL.__version__,
        "scikit-image": skimage.__version__,
        "scipy": scipy.__version__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="corpus folder (outside the repository)")
    parser.add_argument("--data", type=Path, default=REPO / ".." / "shared" / "data", help="the shared data folder")
    parser.add_argument(
        "--deb", type=Path, default=DEFAULT_DEB, help="where the Debian packages are downloaded and extracted"
    )
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args()
    out = args.out.resolve()
    if out == REPO or REPO in out.parents:
        parser.error(f"--out {out} is inside the repository")
    out.mkdir(parents=True, exist_ok=True)
    pools = shared_pools(args.data.resolve(), args.deb.resolve(), out / ".sources")
    started = time.perf_counter()
    notes = {"data": str(args.data.resolve()), "debian": sorted(p.name for p in args.deb.resolve().glob("*.deb"))}
    counts = build_corpus(out, pools, args.seed, notes=notes)
    sections: dict[str, int] = {}
    for relative, count in counts.items():
        sections[relative.split("/")[0]] = sections.get(relative.split("/")[0], 0) + count
    print(
        ", ".join(f"{section}: {count}" for section, count in sections.items()),
        f"pictures in {out} ({time.perf_counter() - started:.0f} s)",
    )


if __name__ == "__main__":
    main()
