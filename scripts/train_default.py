"""The recipe of the default localizer's weights: mvcam 3 (measured, not shipped).

    python scripts/train_default.py --data ../shared/data --out runs/mvcam3 [--no-casia]

The shipped weights/mvcam-lite0.safetensors (mvcam 2.x) came from this script at commit 1156f41
(the photo sets and lomiri / plasma wallpaper tiles, no renders, no generated tiles, the older
sharing chain; see weights/README.md). This version is the broader recipe of issue 15; its
result replaces the shipped file once it has been measured on the wild benchmark
(docs/wild-benchmark.md) against the shipped one.

What it does, fixed here so the result can be reproduced:

* **labelled data** (image-level labels only): the training half of CASIA v1.0's development
  share, ``dev/casia1@train`` (the fixed split by file name of imlforensic.data.splits:
  sha1(file name) below half its range; 255 images, 144 manipulated). The other half,
  ``dev/casia1@val`` (242 images), is never trained on and is where validation metrics and
  every reported number come from, with ``dev/casia2_samples``.
* **synthetic edits** made on the fly (imlforensic.training.synth), half of each batch, from
  authentic pictures of several kinds, so that the network sees more than CASIA-sized JPEGs:
  the photo sets ``photos/bsds500``, ``photos/hymenoptera``, ``photos/dogs_vs_cats``
  (``photos/camera_native`` is held out: the wild benchmark's camera originals); large camera
  photos at their native resolution, cut into 1024 x 768 tiles (the 15 ``backgrounds/*_by_*.jpg``
  photos of Debian's ``lomiri-wallpapers-16.04`` and 7 photo wallpapers of
  ``plasma-workspace-wallpapers``, each tile listed 3 times); rendered pictures (the renders and
  photos of ``lomiri-wallpapers-20.04``, ``ukui-wallpapers`` and ``gnome-backgrounds``, tiled the
  same way): without them every smooth gradient or flat area was a candidate edit; and 200
  512 x 512 tiles of the Stable Diffusion sheets ``generated/sd_sheets`` as untouched pictures
  (a fully generated picture has no *local* edit; the three-way classifier says it is generated).
  The generated tiles are also the donors of the ``generated_blend`` edit (generated content
  blended into a photo, the trace of generative fill). Every sample, authentic or edited, goes
  through the same sharing chain: resize, sometimes a strong reduction enlarged back, JPEG at
  quality 50-100 (once or twice), WebP or no compression. The held-out policy of the wild
  benchmark (docs/wild-benchmark.md) is kept: nothing here comes from its sources.
* **with or without CASIA's labels** (``--no-casia``): the edited pictures of CASIA went through
  another pipeline than its authentic ones, so its labels can teach "recompressed" instead of
  "edited". Both variants were trained (one seed each) and measured (docs/BENCHMARKS.md, "mvcam 3,
  trained with and without CASIA's labels"): without CASIA generalises better to the wild edits but
  loses CASIA (image AUC 0.59), with CASIA is no better than the shipped network; neither was
  installed (weights/README.md).
* **pixel masks** are read for validation metrics only, never as a training target.
* **two members**: the same recipe is trained twice, with seeds 0 and 1, and the two networks are
  shipped as one ensemble (their logit maps averaged). A single run's pixel metrics vary between
  seeds about as much as between designs (docs/BENCHMARKS.md); the average is steadier and better
  than either. The seeds are fixed here, not chosen by their validation results.
* **calibration**: on 240 fixed synthetic samples from the same photos
  (imlforensic.training.calibration), never on the evaluation images: the background level of
  authentic photos (median of their median logits) and the thresholds (best mean pixel F1 on
  edited samples with at most 2 % false alarms on untouched ones) for the ensemble's map fused
  with the sel and copy-move views (``mvcam``) and for the network alone (``mvcam-net``); stored in the
  checkpoint's metadata. Each member is also calibrated alone, into ``OUT/seedN/calibrated.safetensors``
  (for ``imlforensic evaluate --weights``; not shipped).
* **schedule**: the ``cpu`` preset of imlforensic.training.trainer (steps, batch size, learning
  rates) per member, on the CPU; each run's wall time, hardware and git commit are recorded in
  the checkpoint's metadata and printed at the end.

Licence of the training data: CASIA v1.0 (research use; cite Dong et al. 2013 and Pham et al.
2019 for the masks) and the photo collections (research / non-commercial use, see
../shared/data/*/SOURCE.md). The weights are a model trained on them, shipped for research use;
see weights/README.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import time
from dataclasses import replace
from pathlib import Path

from PIL import Image

from imlforensic.io.hashing import sha256_file
from imlforensic.models.checkpoint import load_model, save_checkpoint
from imlforensic.models.network import CAMEnsemble
from imlforensic.training.calibration import calibrate
from imlforensic.training.trainer import PRESETS, ValidationSet, list_photos, train

WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "mvcam-lite0.safetensors"
PHOTO_SETS = ("bsds500", "hymenoptera", "dogs_vs_cats")
RENDER_PACKAGES = ("lomiri-wallpapers-20.04", "ukui-wallpapers", "gnome-backgrounds")
GENERATED_TILES = 200
PLASMA_PHOTOS = ("Autumn", "BytheWater", "DarkestHour", "EveningGlow", "FallenLeaf", "OneStandsOut", "Path")
TILE = (1024, 768)
REPEAT = 3
SEEDS = (0, 1)
RUN_KEYS = ("steps", "elapsed_s", "hardware", "validation", "git_commit", "train_config")


def _debian_packages(packages: tuple[str, ...] | list[str], debs: Path, root: Path) -> Path:
    """``apt-get download`` the packages into ``debs`` and unpack them below ``root``; returns root/usr/share."""
    debs.mkdir(parents=True, exist_ok=True)
    subprocess.run(["apt-get", "download", *packages], cwd=debs, check=True)
    for deb in sorted(debs.glob("*.deb")):
        subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)
    return root / "usr" / "share"


def wallpaper_tiles(work: Path) -> Path:
    """Native-resolution 1024 x 768 tiles (lossless PNG) of the Debian wallpaper photos, in work/tiles."""
    tiles = work / "tiles"
    if tiles.is_dir() and any(tiles.iterdir()):
        return tiles
    share = _debian_packages(["lomiri-wallpapers-16.04", "plasma-workspace-wallpapers"], work / "deb", work / "x")
    sources = sorted((share / "backgrounds").glob("*_by_*.jpg"))
    sources += [share / "wallpapers" / name / "contents" / "images" / "1920x1080.jpg" for name in PLASMA_PHOTOS]
    tiles.mkdir()
    for source in sources:
        _tile(source, tiles, source.stem if "_by_" in source.name else f"plasma_{source.parts[-4]}", REPEAT)
    return tiles


def _tile(source: Path, out: Path, stem: str, repeat: int) -> None:
    with Image.open(source) as image:
        rgb = image.convert("RGB")
    width, height = rgb.size
    if width < TILE[0] or height < TILE[1]:
        rgb.save(out / f"{stem}.png")
        return
    for y in range(0, height - TILE[1] + 1, TILE[1]):
        for x in range(0, width - TILE[0] + 1, TILE[0]):
            for copy in range(repeat):
                rgb.crop((x, y, x + TILE[0], y + TILE[1])).save(out / f"{stem}_{y}_{x}_r{copy}.png")


def render_tiles(work: Path) -> Path:
    """Native-resolution 1024 x 768 tiles of the Debian wallpaper renders (and their few photos)."""
    tiles = work / "render-tiles"
    if tiles.is_dir() and any(tiles.iterdir()):
        return tiles
    root = _debian_packages(RENDER_PACKAGES, work / "deb-renders", work / "deb-renders" / "x") / "backgrounds"
    tiles.mkdir()
    for source in sorted(p for p in root.rglob("*") if p.suffix.lower() in (".jpg", ".png", ".webp")):
        _tile(source, tiles, source.stem, repeat=1)
    return tiles


def generated_tiles(data: Path, work: Path) -> Path:
    """The 512 x 512 generations of the SD sheets (tiles.csv), as lossless PNGs."""
    tiles = work / "sd-tiles"
    if tiles.is_dir() and any(tiles.iterdir()):
        return tiles
    tiles.mkdir(parents=True)
    folder = data / "generated" / "sd_sheets"
    with (folder / "tiles.csv").open() as handle:
        for row in csv.DictReader(handle):
            box = tuple(int(row[key]) for key in ("x0", "y0", "x1", "y1"))
            with Image.open(folder / row["image"]) as sheet:
                sheet.convert("RGB").crop(box).save(tiles / f"{Path(row['image']).stem}_{row['tile']}.png")
    return tiles


def generated_hosts(tiles: Path, work: Path) -> Path:
    """A fixed sample of :data:`GENERATED_TILES` generated tiles used as untouched pictures."""
    hosts = work / "sd-hosts"
    if hosts.is_dir() and any(hosts.iterdir()):
        return hosts
    hosts.mkdir()
    chosen = sorted(tiles.glob("*.png"))
    for path in chosen[:: max(1, len(chosen) // GENERATED_TILES)][:GENERATED_TILES]:
        (hosts / path.name).symlink_to(path.resolve())
    return hosts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"), help="the project's data folder")
    parser.add_argument("--out", type=Path, default=Path("runs/default"))
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument(
        "--wallpapers",
        type=Path,
        default=Path("runs/wallpapers"),
        help="where to download and tile the Debian wallpaper photos",
    )
    parser.add_argument("--install", action="store_true", help="copy the result to weights/ and print its sha256")
    parser.add_argument("--no-casia", action="store_true", help="synthetic edits only, without CASIA's labels")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS), help="one member per seed")
    args = parser.parse_args()

    started = time.perf_counter()
    generated = generated_tiles(args.data, args.wallpapers)
    photos = [args.data / "photos" / name for name in PHOTO_SETS]
    photos += [
        wallpaper_tiles(args.wallpapers),
        render_tiles(args.wallpapers),
        generated_hosts(generated, args.wallpapers),
    ]
    validation = [f"{args.data}/dev/casia1@val"]
    members, runs = [], []
    for seed in args.seeds:
        checkpoint = train(
            replace(PRESETS[args.preset], seed=seed),
            datasets=[] if args.no_casia else [f"{args.data}/dev/casia1@train"],
            donor_folders=[generated],
            photo_folders=photos,
            val_datasets=validation,
            out_dir=args.out / f"seed{seed}",
            device=args.device,
            resume=args.resume,
        )
        model, metadata = load_model(checkpoint)
        members.append(model)
        runs.append({key: metadata[key] for key in RUN_KEYS})
    preset = PRESETS[args.preset]
    calibration_photos = list_photos(photos)
    for seed, model, run in zip(args.seeds, members, runs):
        # Each member alone, calibrated like the ensemble, for the seed-spread check
        # (imlforensic evaluate ... --weights OUT/seedN/calibrated.safetensors).
        single = args.out / f"seed{seed}" / "calibrated.safetensors"
        if not (args.resume and single.is_file()):
            save_checkpoint(
                single,
                model,
                {
                    **run,
                    "classes": metadata["classes"],
                    "data": metadata["data"],
                    **calibrate(model, calibration_photos, size=preset.size),
                },
            )
    ensemble = CAMEnsemble(members).eval()
    metadata = {
        "classes": metadata["classes"],
        "data": metadata["data"],
        "runs": runs,
        "validation": ValidationSet(validation, preset.size, preset.network).evaluate(ensemble, "cpu"),
        **calibrate(ensemble, calibration_photos, size=preset.size),
    }
    checkpoint = args.out / "ensemble.safetensors"
    save_checkpoint(checkpoint, ensemble, metadata)
    print(json.dumps({k: metadata[k] for k in ("validation", "background", "thresholds")}, indent=2))
    print(
        json.dumps([{k: run[k] for k in ("steps", "elapsed_s", "validation", "git_commit")} for run in runs], indent=2)
    )
    print(f"wall time of this invocation: {time.perf_counter() - started:.0f} s")
    if args.install:
        shutil.copyfile(checkpoint, WEIGHTS)
        print(f"installed {WEIGHTS} sha256 {sha256_file(WEIGHTS)} ({WEIGHTS.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
