"""Edits and sharing pipelines of the wild development benchmark (benchmarks/wild_corpus.py).

Written for the benchmark, independently of the training synthesis
(``imlforensic/training/synth.py``, neither imported nor copied): a model should be judged on
edits made by code it was not trained on, or the benchmark measures how well it learnt its own
generator. What differs on purpose: shapes (Fourier-contour blobs, random polygons, blobs
snapped to Felzenszwalb segments of the donor), edits at the pictures' own working sizes (768-1600 px, not small crops),
generated content as a donor, and sharing pipelines with WebP and PNG as well as JPEG.

Every edit returns an :class:`Edit`: the edited picture before any sharing pipeline, its
ground-truth mask (pixels whose blending weight is at least 0.5) and the width of the feather
band outside the mask where lighter blending may also have changed pixels. :func:`check_edit`
asserts that nothing else changed, and rejects (:class:`Rejected`) edits too faint or too small
to count, so that the caller draws again.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image
from scipy import ndimage
from skimage.exposure import match_histograms
from skimage.segmentation import felzenszwalb

SHAPES = ("blob", "polygon", "segment")
MIN_MASK_SHARE = 0.002  # of the picture; smaller edits are redrawn
MIN_MEAN_CHANGE = 6.0  # mean absolute change (grey levels) inside the mask, below: redrawn


class Rejected(Exception):
    """A drawn edit is too small or too faint to count as an edit: draw another."""


@dataclass
class Edit:
    image: np.ndarray  # H x W x 3 uint8, before any sharing pipeline
    mask: np.ndarray  # H x W bool, True = edited
    band: int  # pixels outside ``mask`` within this distance may have changed too (feathering)
    details: str  # what was done, for labels.csv
    offset: tuple[int, int] | None = (
        None  # copy-moves without rotation or scaling: (dy, dx) from the source to the copy
    )


# --------------------------------------------------------------------------- geometry


def fit_long_side(rgb: np.ndarray, long_side: int) -> np.ndarray:
    """Downscale (area interpolation) so the longer side is ``long_side``; never upscales."""
    h, w = rgb.shape[:2]
    scale = long_side / max(h, w)
    if scale >= 1:
        return rgb
    return cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def cover_crop(rgb: np.ndarray, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """Scale so the picture covers width x height (downscaling only if possible), then crop."""
    h, w = rgb.shape[:2]
    scale = max(width / w, height / h)
    if scale < 1:
        rgb = cv2.resize(
            rgb, (max(width, round(w * scale)), max(height, round(h * scale))), interpolation=cv2.INTER_AREA
        )
    elif scale > 1:
        rgb = cv2.resize(
            rgb, (max(width, math.ceil(w * scale)), max(height, math.ceil(h * scale))), interpolation=cv2.INTER_CUBIC
        )
    h, w = rgb.shape[:2]
    y = int(rng.integers(0, h - height + 1))
    x = int(rng.integers(0, w - width + 1))
    return np.ascontiguousarray(rgb[y : y + height, x : x + width])


def box_for_area(shape: tuple[int, int], share: float, rng: np.random.Generator, limit: float = 0.6) -> tuple[int, int]:
    """(height, width) of a box of ``share`` of the picture's area, aspect 0.6-1.7, at most ``limit`` of each side."""
    h, w = shape
    aspect = float(rng.uniform(0.6, 1.7))  # width / height
    bh = math.sqrt(share * h * w / aspect)
    bw = bh * aspect
    return max(8, min(round(bh), int(limit * h))), max(8, min(round(bw), int(limit * w)))


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A binary mask at (width, height) ``size``: area-averaged, then thresholded at one half."""
    if mask.shape[::-1] == tuple(size):
        return mask
    return cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA) >= 0.5


# --------------------------------------------------------------------------- shapes


def _fill_contour(xs: np.ndarray, ys: np.ndarray, h: int, w: int) -> np.ndarray:
    """Fill the closed contour (xs, ys), stretched to fill the h x w box."""
    xs = (xs - xs.min()) / max(np.ptp(xs), 1e-9) * (w - 1)
    ys = (ys - ys.min()) / max(np.ptp(ys), 1e-9) * (h - 1)
    canvas = np.zeros((h, w), np.uint8)
    cv2.fillPoly(canvas, [np.round(np.stack([xs, ys], 1)).astype(np.int32)], 1, lineType=cv2.LINE_8)
    return canvas.astype(bool)


def blob_mask(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A smooth blob: a circle whose radius varies with a few low Fourier harmonics."""
    theta = np.linspace(0, 2 * np.pi, 180, endpoint=False)
    radius = np.ones_like(theta)
    for k in range(2, 6):
        radius += rng.uniform(0, 0.35 / k) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    return _fill_contour(radius * np.cos(theta), radius * np.sin(theta), h, w)


def polygon_mask(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A random polygon of 3 to 9 vertices around the box centre (star-shaped, so simple)."""
    n = int(rng.integers(3, 10))
    theta = np.sort(rng.uniform(0, 2 * np.pi, n))
    radius = rng.uniform(0.45, 1.0, n)
    return _fill_contour(radius * np.cos(theta), radius * np.sin(theta), h, w)


def segment_mask(patch: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """A blob snapped to the picture's own edges: the union of the Felzenszwalb segments of
    ``patch`` that lie mostly inside a random central blob (cut where they reach far beyond it,
    so the shape stays off the patch's border), holes filled, its largest part; None
    when that covers less than 10 % or more than 85 % of the patch."""
    h, w = patch.shape[:2]
    small = fit_long_side(patch, 160)
    sh, sw = small.shape[:2]
    labels = felzenszwalb(small, scale=float(rng.uniform(50, 300)), sigma=0.8, min_size=max(8, sh * sw // 400))
    prior = np.zeros((sh, sw), bool)
    inner = blob_mask(max(4, round(sh * 0.8)), max(4, round(sw * 0.8)), rng)
    top, left = (sh - inner.shape[0]) // 2, (sw - inner.shape[1]) // 2
    prior[top : top + inner.shape[0], left : left + inner.shape[1]] = inner
    inside = np.bincount(labels.ravel(), weights=prior.ravel()) / np.bincount(labels.ravel())
    reach = ndimage.binary_dilation(prior, iterations=max(1, min(sh, sw) // 12))  # never out to the box's edge
    region = ndimage.binary_fill_holes((inside[labels] > 0.5) & reach)
    region = ndimage.binary_opening(region, iterations=2)
    count, components = cv2.connectedComponents(region.astype(np.uint8))
    if count < 2:
        return None
    region = components == 1 + int(np.argmax(np.bincount(components.ravel())[1:]))
    if not 0.1 <= region.mean() <= 0.85:
        return None
    return cv2.resize(region.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR) >= 0.5


def object_mask(
    patch: np.ndarray, rng: np.random.Generator, shapes: tuple[str, ...] = SHAPES
) -> tuple[np.ndarray, str]:
    """An object-like mask filling the patch's box, and the name of its shape."""
    shape = str(rng.choice(shapes))
    h, w = patch.shape[:2]
    if shape == "segment":
        mask = segment_mask(patch, rng)
        if mask is not None and mask.mean() > 0.05:
            return mask, shape
        shape = "blob"  # no segment fits: a blob instead
    return (blob_mask(h, w, rng) if shape == "blob" else polygon_mask(h, w, rng)), shape


# --------------------------------------------------------------------------- compositing


def feathered(mask: np.ndarray, sigma: float) -> tuple[np.ndarray, int]:
    """Blending weights: the mask blurred by a Gaussian of ``sigma`` px (0: hard edges), and the band width."""
    if sigma <= 0:
        return mask.astype(np.float32), 0
    # Parts thinner than the blur would fall below one half and leave changed pixels far from the
    # mask: open the shape by a disc of radius sigma first, so the mask keeps all it blends.
    radius = math.ceil(sigma)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    alpha = cv2.morphologyEx(np.pad(mask.astype(np.uint8), radius), cv2.MORPH_OPEN, disc)[
        radius:-radius, radius:-radius
    ].astype(np.float32)
    band = math.ceil(4 * sigma) + 2  # the weight is below 1e-3 from 3.1 sigma on; corners round off by about one sigma
    alpha = cv2.GaussianBlur(np.pad(alpha, band), (0, 0), sigma)
    alpha[alpha < 1e-3] = 0  # the Gaussian's far tail would touch the whole box
    return alpha, band


def colour_matched(patch: np.ndarray, reference: np.ndarray, strength: float) -> np.ndarray:
    """``patch`` moved by ``strength`` (0-1) towards the colour histogram of ``reference``."""
    if strength <= 0:
        return patch
    matched = match_histograms(patch, reference, channel_axis=-1).astype(np.float32)
    return np.clip((1 - strength) * patch + strength * matched, 0, 255).round().astype(np.uint8)


def _overlap(
    shape: tuple[int, int], box: tuple[int, int], top: int, left: int
) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """The slices of a picture of ``shape`` and of a ``box`` placed at (top, left) that overlap
    (the box may stick out of the picture)."""
    y0, x0 = max(0, -top), max(0, -left)
    y1, x1 = min(box[0], shape[0] - top), min(box[1], shape[1] - left)
    return (slice(top + y0, top + y1), slice(left + x0, left + x1)), (slice(y0, y1), slice(x0, x1))


def paste(host: np.ndarray, patch: np.ndarray, alpha: np.ndarray, top: int, left: int) -> np.ndarray:
    """``patch`` blended into a copy of ``host`` with weights ``alpha``, its corner at (top, left).
    ``alpha`` may be larger than the patch by the same margin on every side (a feather band);
    the patch is then padded by edge replication. Pixels of weight 0 keep their exact values."""
    margin = (alpha.shape[0] - patch.shape[0]) // 2
    if margin:
        patch = cv2.copyMakeBorder(patch, margin, margin, margin, margin, cv2.BORDER_REPLICATE)
    inside, part = _overlap(host.shape[:2], alpha.shape, top - margin, left - margin)
    out = host.copy()
    region = out[inside].astype(np.float32)
    a = alpha[part][..., None]
    blended = a * patch[part].astype(np.float32) + (1 - a) * region
    out[inside] = np.where(a > 0, blended.round(), region).astype(np.uint8)
    return out


def placed_mask(shape: tuple[int, int], alpha: np.ndarray, top: int, left: int) -> np.ndarray:
    """The picture-sized ground truth of weights ``alpha`` placed at (top, left): weight >= 1/2."""
    mask = np.zeros(shape, bool)
    inside, part = _overlap(shape, alpha.shape, top, left)
    mask[inside] = alpha[part] >= 0.5
    return mask


def composite(
    host: np.ndarray, patch: np.ndarray, box_mask: np.ndarray, top: int, left: int, sigma: float, details: str
) -> Edit:
    """Blend ``patch`` (its shape given by ``box_mask``) into ``host`` at (top, left), edges
    feathered by ``sigma`` (at most an eighth of the box's shorter side)."""
    alpha, band = feathered(box_mask, min(sigma, min(box_mask.shape) / 8))
    image = paste(host, patch, alpha, top, left)
    mask = placed_mask(host.shape[:2], alpha, top - band, left - band)
    return Edit(image, mask, band, details)


def check_edit(host: np.ndarray, edit: Edit) -> Edit:
    """Assert that the edit changed nothing outside its mask and feather band; reject it
    (:class:`Rejected`) when the mask is too small or the change inside it too faint."""
    if edit.mask.mean() < MIN_MASK_SHARE:
        raise Rejected("mask too small")
    changed = np.any(edit.image != host, axis=2)
    allowed = edit.mask
    if edit.band:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * edit.band + 1, 2 * edit.band + 1))
        allowed = cv2.dilate(edit.mask.astype(np.uint8), kernel).astype(bool)
    assert not (changed & ~allowed).any(), (
        f"pixels changed outside the mask and its {edit.band}-px band ({edit.details})"
    )
    change = np.abs(edit.image[edit.mask].astype(np.int16) - host[edit.mask]).max(axis=1)
    if change.mean() < MIN_MEAN_CHANGE or (change > 0).mean() < 0.5:
        raise Rejected("change too faint")
    return edit


def random_corner(shape: tuple[int, int], box: tuple[int, int], rng: np.random.Generator) -> tuple[int, int]:
    return int(rng.integers(0, shape[0] - box[0] + 1)), int(rng.integers(0, shape[1] - box[1] + 1))


# --------------------------------------------------------------------------- edits


def splice(
    host: np.ndarray,
    donor: np.ndarray,
    rng: np.random.Generator,
    *,
    area: tuple[float, float] = (0.01, 0.10),
    feather: tuple[float, float] = (1.0, 4.0),
    p_feather: float = 0.6,
    match: tuple[float, float] = (0.4, 0.9),
    p_match: float = 0.7,
    shapes: tuple[str, ...] = SHAPES,
) -> Edit:
    """An object-like region of ``donor`` (another picture) pasted into ``host``: scaled to the
    drawn size, shape from the donor's content or a random outline, optionally colour-matched to
    the host, hard or feathered edges."""
    share = math.exp(rng.uniform(math.log(area[0]), math.log(area[1])))
    bh, bw = box_for_area(host.shape[:2], share, rng)
    scale = float(rng.uniform(0.7, 1.4))  # donor pixels per host pixel
    ch = min(donor.shape[0], max(8, round(bh * scale)))
    cw = min(donor.shape[1], max(8, round(bw * scale)))
    y, x = random_corner(donor.shape[:2], (ch, cw), rng)
    patch = cv2.resize(
        donor[y : y + ch, x : x + cw], (bw, bh), interpolation=cv2.INTER_AREA if scale > 1 else cv2.INTER_CUBIC
    )
    box_mask, shape = object_mask(patch, rng, shapes)
    strength = float(rng.uniform(*match)) if rng.random() < p_match else 0.0
    patch = colour_matched(patch, host, strength)
    sigma = float(rng.uniform(*feather)) if rng.random() < p_feather else 0.0
    top, left = random_corner(host.shape[:2], (bh, bw), rng)
    details = f"shape={shape} box={share:.3f} scale={scale:.2f} colour={strength:.2f} feather={sigma:.1f}"
    return check_edit(host, composite(host, patch, box_mask, top, left, sigma, details))


def _warp_patch(patch: np.ndarray, mask: np.ndarray, angle: float, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Rotate (degrees) and scale a patch and its mask about their centre, into a box that holds the result."""
    h, w = mask.shape
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], np.float64) @ matrix.T
    (x0, y0), (x1, y1) = corners.min(0), corners.max(0)
    matrix[:, 2] -= (x0, y0)
    size = (max(8, math.ceil(x1 - x0)), max(8, math.ceil(y1 - y0)))
    warped = cv2.warpAffine(patch, matrix, size, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    warped_mask = cv2.warpAffine(mask.astype(np.float32), matrix, size, flags=cv2.INTER_LINEAR) >= 0.5
    return warped, warped_mask


def copy_move(
    host: np.ndarray,
    rng: np.random.Generator,
    *,
    area: tuple[float, float] = (0.01, 0.08),
    p_transform: float = 0.5,
    max_angle: float = 45.0,
    scale: tuple[float, float] = (0.75, 1.3),
    p_feather: float = 0.3,
    shapes: tuple[str, ...] = SHAPES,
    min_texture: float = 10.0,
) -> Edit:
    """An object-like region of ``host`` copied to a place that does not overlap it: a plain
    shift, or (``p_transform``) rotated and/or scaled; hard edges or a light feather. The source
    region needs some texture (grey std >= ``min_texture``), or the copy would be invisible."""
    share = math.exp(rng.uniform(math.log(area[0]), math.log(area[1])))
    bh, bw = box_for_area(host.shape[:2], share, rng, limit=0.45)
    sy, sx = random_corner(host.shape[:2], (bh, bw), rng)
    patch = host[sy : sy + bh, sx : sx + bw]
    box_mask, shape = object_mask(patch, rng, shapes)
    if cv2.cvtColor(patch, cv2.COLOR_RGB2GRAY)[box_mask].std() < min_texture:
        raise Rejected("flat source region")
    angle, factor = 0.0, 1.0
    if rng.random() < p_transform:
        kind = rng.choice(["rotate", "scale", "both"])
        angle = float(rng.uniform(-max_angle, max_angle)) if kind != "scale" else 0.0
        factor = float(rng.uniform(*scale)) if kind != "rotate" else 1.0
        patch, box_mask = _warp_patch(patch, box_mask, angle, factor)
    th, tw = box_mask.shape
    if th >= host.shape[0] or tw >= host.shape[1]:
        raise Rejected("transformed region too large")
    for _ in range(50):
        top, left = random_corner(host.shape[:2], (th, tw), rng)
        if top >= sy + bh or top + th <= sy or left >= sx + bw or left + tw <= sx:
            break
    else:
        raise Rejected("no free place for the copy")
    sigma = float(rng.uniform(0.7, 2.0)) if rng.random() < p_feather else 0.0
    details = (
        f"shape={shape} box={share:.3f} from=({sy},{sx}) to=({top},{left}) "
        f"angle={angle:.1f} scale={factor:.2f} feather={sigma:.1f}"
    )
    edit = composite(host, patch, box_mask, top, left, sigma, details)
    if angle == 0 and factor == 1:
        edit.offset = (top - sy, left - sx)
    return check_edit(host, edit)


def removal(
    host: np.ndarray,
    rng: np.random.Generator,
    *,
    area: tuple[float, float] = (0.01, 0.06),
    shapes: tuple[str, ...] = SHAPES,
) -> Edit:
    """An object-like region removed by classical inpainting (OpenCV's Telea or Navier-Stokes):
    the mask is the inpainted region, and only its pixels change."""
    share = math.exp(rng.uniform(math.log(area[0]), math.log(area[1])))
    bh, bw = box_for_area(host.shape[:2], share, rng, limit=0.4)
    top, left = random_corner(host.shape[:2], (bh, bw), rng)
    box_mask, shape = object_mask(host[top : top + bh, left : left + bw], rng, shapes)
    mask = np.zeros(host.shape[:2], bool)
    mask[top : top + bh, left : left + bw] = box_mask
    radius = int(rng.integers(3, 10))
    flag, name = (cv2.INPAINT_TELEA, "telea") if rng.random() < 0.5 else (cv2.INPAINT_NS, "ns")
    image = cv2.inpaint(host, mask.astype(np.uint8) * 255, radius, flag)
    return check_edit(host, Edit(image, mask, 0, f"shape={shape} box={share:.3f} inpaint={name} radius={radius}"))


def generated_blend(host: np.ndarray, generated: np.ndarray, rng: np.random.Generator) -> Edit:
    """A region of a generated picture blended into a real photo: a larger region than a splice,
    always colour-matched and feathered (a stand-in for diffusion inpainting, which cannot be run
    offline here: it has generated texture inside, real content outside and a soft seam)."""
    return splice(
        host, generated, rng, area=(0.03, 0.18), feather=(2.0, 8.0), p_feather=1.0, match=(0.6, 1.0), p_match=1.0
    )


# --------------------------------------------------------------------------- sharing pipelines


@dataclass(frozen=True)
class Step:
    """One step of a pipeline: ``resize`` (factor), ``jpeg`` / ``webp`` (quality), ``png``,
    ``noise`` (sigma, grey levels), ``blur`` (kernel size), ``brightness`` (offset), ``contrast``
    (factor). ``seed`` fixes the noise, so an edit and its control get the same."""

    op: str
    value: float = 0
    seed: int = 0

    @property
    def tag(self) -> str:
        if self.op == "png":
            return "png"
        if self.op in ("jpeg", "webp", "blur"):
            return f"{self.op}{int(self.value)}"
        if self.op == "brightness":
            return f"brightness{self.value:+.0f}"
        return f"{self.op}{self.value:.2f}"


ENCODINGS = {"jpeg": ("JPEG", ".jpg"), "webp": ("WEBP", ".webp"), "png": ("PNG", ".png")}


def encode(rgb: np.ndarray, step: Step) -> bytes:
    fmt, _ = ENCODINGS[step.op]
    buffer = io.BytesIO()
    # PNG: the fastest zlib level (lossless either way; level 6 takes 5-7 times longer for 10 % smaller files)
    options = {"compress_level": 1} if step.op == "png" else {"quality": int(step.value)}
    Image.fromarray(rgb).save(buffer, fmt, **options)
    return buffer.getvalue()


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def _apply(rgb: np.ndarray, step: Step) -> np.ndarray:
    if step.op in ENCODINGS:
        return decode(encode(rgb, step))
    if step.op == "resize":
        h, w = rgb.shape[:2]
        size = (max(16, round(w * step.value)), max(16, round(h * step.value)))
        return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if step.value < 1 else cv2.INTER_CUBIC)
    if step.op == "noise":
        noise = np.random.default_rng(step.seed).normal(0, step.value, rgb.shape)
        return np.clip(rgb + noise, 0, 255).round().astype(np.uint8)
    if step.op == "blur":
        k = int(step.value)
        return cv2.GaussianBlur(rgb, (k, k), 0)
    if step.op == "brightness":
        return np.clip(rgb.astype(np.int16) + int(step.value), 0, 255).astype(np.uint8)
    if step.op == "contrast":
        return np.clip((rgb.astype(np.float32) - 128) * step.value + 128, 0, 255).round().astype(np.uint8)
    raise ValueError(f"unknown pipeline step {step.op!r}")


def run_pipeline(
    rgb: np.ndarray, steps: list[Step], mask: np.ndarray | None = None
) -> tuple[bytes, str, np.ndarray | None]:
    """Apply ``steps`` (the last one an encoding) to a picture: the file's bytes, its suffix, and
    the mask at the final size (None without a mask)."""
    *middle, last = steps
    if last.op not in ENCODINGS:
        raise ValueError("a pipeline must end with an encoding (jpeg, webp, png)")
    for step in middle:
        rgb = _apply(rgb, step)
    if mask is not None:
        mask = resize_mask(mask, (rgb.shape[1], rgb.shape[0]))
    return encode(rgb, last), ENCODINGS[last.op][1], mask


def pipeline_tag(steps: list[Step]) -> str:
    return ">".join(step.tag for step in steps)


def encoding(rng: np.random.Generator, shares: dict[str, float], quality: tuple[int, int]) -> Step:
    """One encoding drawn with ``shares`` (e.g. {"png": 0.6, "jpeg": 0.4}), quality uniform in ``quality``."""
    ops = list(shares)
    op = str(rng.choice(ops, p=np.array([shares[o] for o in ops]) / sum(shares.values())))
    return Step(op) if op == "png" else Step(op, int(rng.integers(quality[0], quality[1] + 1)))


def export_step(rng: np.random.Generator, p_png: float) -> Step:
    """How an editor saves a picture: PNG, or JPEG at a high quality (85-98)."""
    return encoding(rng, {"png": p_png, "jpeg": 1 - p_png}, (85, 98))


def sharing_steps(rng: np.random.Generator) -> list[Step]:
    """What sharing does to a picture: a downscale (most of the time) then JPEG q70-90 or WebP q70-90."""
    steps = [Step("resize", round(float(rng.uniform(0.45, 0.85)), 3))] if rng.random() < 0.7 else []
    return steps + [encoding(rng, {"jpeg": 0.65, "webp": 0.35}, (70, 90))]


def edit_pipeline(rng: np.random.Generator, p_png: float, p_shared: float) -> list[Step]:
    """The export of an edited (or control) picture, followed for a share ``p_shared`` by a sharing pipeline."""
    export = export_step(rng, p_png)
    return [export] + sharing_steps(rng) if rng.random() < p_shared else [export]


def post_processing(rng: np.random.Generator) -> list[Step]:
    """Classic copy-move benchmarks' attacks after the copy (CoMoFoD style): none, noise, blur,
    brightness or contrast change, then JPEG q70-95."""
    attack = rng.choice(["none", "noise", "blur", "brightness", "contrast"])
    steps: list[Step] = []
    if attack == "noise":
        steps.append(Step("noise", round(float(rng.uniform(1.0, 5.0)), 2), int(rng.integers(1 << 31))))
    elif attack == "blur":
        steps.append(Step("blur", int(rng.choice([3, 5, 7]))))
    elif attack == "brightness":
        steps.append(Step("brightness", int(rng.choice([-1, 1]) * rng.integers(8, 31))))
    elif attack == "contrast":
        steps.append(Step("contrast", round(float(rng.uniform(0.75, 1.25)), 2)))
    return steps + [Step("jpeg", int(rng.integers(70, 96)))]
