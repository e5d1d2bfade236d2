"""Copy-move view: parts of the image that reappear elsewhere in it.

A copy-move leaves no foreign compression or noise history (the pasted pixels come from the
same photo), so the compression and noise views see little; what it leaves is repetition.
The keypoint method of Amerini et al. (SIFT + g2NN, TIFS 2011), verified densely:

1. SIFT keypoints on the grey image at a working size of about :data:`WORK_AREA` pixels (small
   pictures are enlarged so that a small copied object still carries keypoints, large ones
   reduced to bound the time).
2. Every descriptor is compared with its nearest others; generalised 2NN keeps the i-th
   neighbour while ``d_i / d_(i+1) < RATIO`` (a distinctive match, not one of many look-alikes).
   Pairs closer than :func:`min_distance` are dropped (neighbours on one structure).
3. Similarity transforms (rotation, scale, shift; no mirror) are fitted to the pairs by RANSAC,
   one after another on the pairs left over; each needs :data:`MIN_INLIERS` agreeing pairs.
4. Dense check: the image is compared with itself moved by the transform (zero-normalised
   cross-correlation in a small window). Textured pixels that match their image are the source
   region, kept where a component holds inlier keypoints; the target is the source moved.
5. Natural repetition is told from a copy by two tests (:func:`is_repetition`). A copy keeps
   the colours of its source, while two windows, bins or prints side by side differ in light
   or dye: the median colour difference between the regions must stay under
   :data:`MAX_COLOUR_OFFSET`. And a copy is a pair, while a facade or a pattern repeats on:
   if much of the source also matches at twice the transform or at its inverse (the next
   element of a lattice, :data:`MAX_LATTICE`), the pair is a lattice, not a copy.

Keypoints are sparse: a copied object of a few percent of the picture often carries fewer than
:data:`MIN_INLIERS` distinctive ones among the :data:`MAX_KEYPOINTS` of the whole image, and in a
never-compressed picture such a copy went unseen. A plain shift leaves a stronger trace there: the
copy is the same pixels, bit for bit. So candidate shifts also come from **exact block matching**
at the image's own resolution (:func:`block_shifts`, in the spirit of Fridrich et al., DFRWS 2003):
every textured :data:`BLOCK` x :data:`BLOCK` block is hashed, blocks that occur two or three times
(more often: a pattern, such as the letters of a text) vote for the shift between them, and a shift
with enough votes goes through steps 4 and 5 like a keypoint transform, its votes standing in for
the inlier keypoints (pictures up to :data:`BLOCK_MAX_PIXELS`). Lossy compression after the
copy (JPEG, resampling) breaks the exact equality and leaves those copies to the keypoints.

The map is 1 on both regions: the view cannot tell the original from its copy (the learned
localizer's evidence, added to it in ``mvcam``, often can). Step 5 cannot see through two
equally lit identical objects (two prints of one poster), and it lets a copy whose brightness
or colour the forger changed, or one placed in a row of look-alikes, go unmarked. Each pair
kept is listed in ``CopyMoveResult.pairs`` so an analyst can check it; the pairs set aside as
repetition are counted in ``CopyMoveResult.repetitions``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy import ndimage

from imlforensic.chunked import LinearRows, median_of, median_ranks, order_statistics, row_strips

WORK_AREA = 250_000  # pixels of the working image
MAX_UPSCALE = 3.0
MAX_KEYPOINTS = 2000
SIFT_CONTRAST = 0.02  # half of OpenCV's default: more keypoints in low-contrast JPEGs
NEIGHBOURS = 8  # nearest descriptors examined by g2NN
RATIO = 0.5
MIN_INLIERS = 8
RANSAC_PIXELS = 3.0  # reprojection tolerance, working-image pixels
MAX_TRANSFORMS = 4
WINDOW = 7  # ZNCC window, working-image pixels
MIN_STD = 2.0  # grey levels: flatter windows correlate with anything
MATCH_CORRELATION = 0.8
MIN_REGION = 0.002  # of the image area
MAX_COLOUR_OFFSET = 4.0  # grey levels: median colour difference a copy may show (JPEG, resampling)
MAX_LATTICE = 0.25  # share of the source that may also match at twice the transform or its inverse

BLOCK = 8  # side of the exactly matched blocks, image pixels
BLOCK_MIN_STD = MIN_STD  # flatter blocks repeat in any picture (sky, clipped highlights)
# (chosen with benchmarks/calibrate_block_matching.py on training-side pictures: docs/BENCHMARKS.md)
BLOCK_MAX_PIXELS = 4_200_000  # exact matching at the image's own size up to this size (memory, time)
BLOCK_MIN_VOTES = 0.25  # share of a MIN_REGION-sized region's blocks that must vote for a shift
BLOCK_MAX_GROUP = 3  # a block occurring more often is a pattern (text, a lattice), not a copy

# python benchmarks/calibrate_copy_move.py ../shared/data/photos/{bsds500,hymenoptera,dogs_vs_cats} \
#     runs/wallpapers/tiles runs/wallpapers/render-tiles --samples 400     (training-side pictures only)
# -> P(found | edited pixel) = 0.0371, P(found | untouched pixel) = 0.00135 (with block matching;
#    the keypoints alone gave 3.27 on the photo folders before the held-out policy of issue 15)
EVIDENCE_LOGIT = 3.31
"""Log-likelihood ratio of "edited" for a pixel inside a duplicated region, before ``mvcam`` shares
it between the two regions of a pair (:func:`evidence_logits`)."""


@dataclass
class CopyPair:
    """One duplicated region pair, in image pixels."""

    matrix: np.ndarray  # 2 x 3 similarity mapping one region onto the other
    keypoints: int  # inlier keypoint pairs
    area: float  # fraction of the image covered by one of the two regions
    source: np.ndarray = field(repr=False)  # float32 in [0, 1]: the region ``matrix`` maps ...
    target: np.ndarray = field(repr=False)  # ... onto this one (which is the copy is not known)
    # H x W, or at the working size when found with full_size=False (full() enlarges them)

    def full(self, region: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """``source`` or ``target`` at the image's size."""
        if region.shape == shape:
            return region
        return cv2.resize(region, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)

    def as_dict(self) -> dict:
        rotation = float(np.degrees(np.arctan2(self.matrix[1, 0], self.matrix[0, 0])))
        return {
            "shift_px": [round(float(v), 1) for v in self.matrix[:, 2]],
            "rotation_deg": round(rotation, 1),
            "scale": round(float(np.hypot(self.matrix[0, 0], self.matrix[1, 0])), 3),
            "keypoints": self.keypoints,
            "area": round(self.area, 4),
        }


@dataclass
class CopyMoveResult:
    shape: tuple[int, int]  # the image's (H, W)
    pairs: list[CopyPair] = field(default_factory=list)
    repetitions: int = 0  # region pairs found but set aside as natural repetition (is_repetition)

    @property
    def map(self) -> np.ndarray:
        """H x W float32: 1 on both regions of every pair found, 0 elsewhere."""
        found = np.zeros(self.shape, np.float32)
        for pair in self.pairs:
            found = np.maximum(
                found, np.maximum(pair.full(pair.source, self.shape), pair.full(pair.target, self.shape))
            )
        return found


def min_distance(height: int, width: int) -> float:
    """Shortest shift between matched keypoints (working pixels) that counts as a copy."""
    return max(12.0, 0.03 * float(np.hypot(height, width)))


def _keypoints(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    sift = cv2.SIFT_create(nfeatures=MAX_KEYPOINTS, contrastThreshold=SIFT_CONTRAST)  # type: ignore[attr-defined]
    keypoints, descriptors = sift.detectAndCompute(grey, None)
    if descriptors is None or len(keypoints) <= NEIGHBOURS:
        return np.zeros((0, 2), np.float32), None
    return np.array([k.pt for k in keypoints], np.float32), descriptors.astype(np.float32)


def g2nn_pairs(points: np.ndarray, descriptors: np.ndarray, min_dist: float) -> np.ndarray:
    """Index pairs (i < j) of distinctive matches between far-apart keypoints (module docstring)."""
    squared = (descriptors * descriptors).sum(1)
    dist2 = squared[:, None] + squared[None, :] - 2.0 * descriptors @ descriptors.T
    np.fill_diagonal(dist2, np.inf)
    k = min(NEIGHBOURS + 1, len(descriptors) - 1)
    nearest = np.argpartition(dist2, k, axis=1)[:, : k + 1] if k + 1 < len(descriptors) else np.argsort(dist2, axis=1)
    rows = np.arange(len(descriptors))[:, None]
    order = np.argsort(dist2[rows, nearest], axis=1)
    nearest = nearest[rows, order]
    dist = np.sqrt(np.maximum(dist2[rows, nearest], 0.0))
    distinctive = dist[:, :-1] < RATIO * dist[:, 1:]
    keep = np.cumprod(distinctive, axis=1).astype(bool)  # stop at the first non-distinctive neighbour
    i, slot = np.nonzero(keep)
    j = nearest[i, slot]
    far = np.linalg.norm(points[i] - points[j], axis=1) >= min_dist
    pairs = np.stack([np.minimum(i, j), np.maximum(i, j)], axis=1)[far]
    return np.unique(pairs, axis=0) if len(pairs) else pairs.reshape(0, 2)


def fit_transforms(points: np.ndarray, pairs: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Similarity transforms explaining the pairs, each with its inlier source points."""
    if len(pairs) < MIN_INLIERS:
        return []
    first, second = points[pairs[:, 0]], points[pairs[:, 1]]
    # Either point of a pair may be the source: offer both directions, so that one transform
    # explains a whole region pair; its inliers and their reversed twins are then removed.
    source = np.concatenate([first, second])
    target = np.concatenate([second, first])
    half = len(first)
    alive = np.ones(len(source), bool)
    found = []
    cv2.setRNGSeed(0)  # RANSAC's sampling: the same image gives the same regions every run
    for _ in range(MAX_TRANSFORMS):
        if alive.sum() < MIN_INLIERS:
            break
        matrix, inliers = cv2.estimateAffinePartial2D(
            source[alive],
            target[alive],
            method=cv2.RANSAC,
            ransacReprojThreshold=RANSAC_PIXELS,
            maxIters=4000,
            confidence=0.995,
        )
        if matrix is None:
            break
        index = np.flatnonzero(alive)[inliers.ravel().astype(bool)]
        if len(index) < MIN_INLIERS:
            break
        found.append((matrix, source[index]))
        alive[index] = False
        alive[(index + half) % (2 * half)] = False
    return found


def _box(values: np.ndarray) -> np.ndarray:
    return cv2.blur(values, (WINDOW, WINDOW))


def matching_pixels(grey: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Pixels x whose neighbourhood matches the one at ``matrix @ x``.

    Correlation is only measured in textured windows; it is averaged over the textured pixels
    nearby (normalised convolution), so flat patches inside a matching region (a white shirt in a
    copied person) take the value of their surroundings, and the region is closed and its holes
    filled. Flat areas far from any texture (sky) are never matched."""
    height, width = grey.shape
    moved = cv2.warpAffine(
        grey,
        matrix,
        (width, height),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=-1.0,
    )
    inside = cv2.erode((moved >= 0).astype(np.uint8), np.ones((WINDOW, WINDOW), np.uint8)) > 0
    moved = np.maximum(moved, 0.0)
    mean_a, mean_b = _box(grey), _box(moved)
    var_a = _box(grey * grey) - mean_a**2
    var_b = _box(moved * moved) - mean_b**2
    covariance = _box(grey * moved) - mean_a * mean_b
    correlation = covariance / np.sqrt(np.maximum(var_a * var_b, 1e-6))
    weight = ((var_a >= MIN_STD**2) & (var_b >= MIN_STD**2) & inside).astype(np.float32)
    sigma = WINDOW / 2.0
    support = cv2.GaussianBlur(weight, (0, 0), sigma)
    smooth = cv2.GaussianBlur(correlation * weight, (0, 0), sigma) / np.maximum(support, 1e-6)
    matched = ((smooth >= MATCH_CORRELATION) & (support >= 0.25) & inside).astype(np.uint8)
    closing = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * WINDOW + 1, 2 * WINDOW + 1))
    matched = ndimage.binary_fill_holes(cv2.morphologyEx(matched, cv2.MORPH_CLOSE, closing)).astype(np.uint8)
    # a window reaching over the region's border matches only in part: grow back by half a window
    return cv2.dilate(matched, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (WINDOW, WINDOW))) > 0


def _then(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The 2 x 3 transform ``x -> second(first(x))``."""
    return second[:, :2] @ first + np.concatenate([np.zeros((2, 2)), second[:, 2:]], axis=1)


def colour_offset(rgb: np.ndarray, source: np.ndarray, matrix: np.ndarray) -> float:
    """Largest per-channel median difference between the source pixels and their copies."""
    height, width = source.shape
    moved = cv2.warpAffine(
        rgb,
        matrix,
        (width, height),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(-1.0, -1.0, -1.0),
    )
    inside = source & (moved.min(axis=2) >= 0)
    if not inside.any():
        return float("inf")
    return float(np.abs(np.median(moved[inside] - rgb[inside], axis=0)).max())


def lattice_fraction(grey: np.ndarray, source: np.ndarray, matrix: np.ndarray) -> float:
    """Share of the source that also matches at twice ``matrix`` or at its inverse."""
    further = matching_pixels(grey, _then(matrix, matrix)) | matching_pixels(grey, cv2.invertAffineTransform(matrix))
    return float((source & further).sum() / max(int(source.sum()), 1))


def is_repetition(rgb: np.ndarray, grey: np.ndarray, source: np.ndarray, matrix: np.ndarray) -> bool:
    """Whether a matched region pair looks like natural repetition rather than a copy (step 5)."""
    return (
        colour_offset(rgb, source, matrix) > MAX_COLOUR_OFFSET or lattice_fraction(grey, source, matrix) > MAX_LATTICE
    )


def _region_with_keypoints(mask: np.ndarray, points: np.ndarray) -> np.ndarray:
    count, labels = cv2.connectedComponents(mask.astype(np.uint8))
    if count <= 1:
        return np.zeros(mask.shape, bool)
    xy = np.round(points).astype(int)
    inside = (xy[:, 0] >= 0) & (xy[:, 0] < mask.shape[1]) & (xy[:, 1] >= 0) & (xy[:, 1] < mask.shape[0])
    hit = np.unique(labels[xy[inside, 1], xy[inside, 0]])
    hit = hit[hit > 0]
    return np.isin(labels, hit)


_ROW_WEIGHTS = np.random.default_rng(0).integers(1, 2**62, size=BLOCK, dtype=np.uint64) | np.uint64(1)
"""Fixed random odd weights of the block hash (:func:`_block_hashes`), one per row of a block."""


def _block_hashes(grey: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """A 64-bit hash of the BLOCK x BLOCK blocks of a uint8 image whose top-left corners are
    ``corners`` (flat indices into the grid of (H - BLOCK + 1) x (W - BLOCK + 1) corners).

    The 8 pixels of a block's row are one 64-bit word, exactly (a copy of the bytes); a block is
    hashed as ``sum_i w_i * row_i`` mod 2^64 with fixed random odd weights. Equal blocks always
    get equal hashes; a collision of two different blocks is as unlikely as for a random hash,
    and a shift only counts once many blocks vote for it."""
    assert BLOCK == 8, "one 64-bit word per block row"
    height, width = grey.shape
    pixels = np.ascontiguousarray(grey, np.uint8).ravel()
    # words[k]: the 8 bytes from pixel k on (a view, one element per byte offset; no copy)
    words = np.ndarray((pixels.size - BLOCK + 1,), dtype=np.dtype("<u8"), buffer=pixels, strides=(1,))
    y, x = np.divmod(corners, width - BLOCK + 1)
    start = y * width + x
    hashes = words[start] * _ROW_WEIGHTS[0]
    for i in range(1, BLOCK):
        hashes += words[start + i * width] * _ROW_WEIGHTS[i]
    return hashes


def block_shifts(grey: np.ndarray, min_dist: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """Shifts under which textured blocks of ``grey`` (uint8, the image's own size) reappear
    exactly, most votes first, each as a 2 x 3 translation with the block centres that voted
    (the source side), both in image pixels (module docstring)."""
    height, width = grey.shape
    if height <= BLOCK or width <= BLOCK:
        return []
    level = grey.astype(np.float32)
    mean = cv2.blur(level, (BLOCK, BLOCK), anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)
    square = cv2.blur(level * level, (BLOCK, BLOCK), anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)
    textured = (square - mean * mean)[: height - BLOCK + 1, : width - BLOCK + 1] >= BLOCK_MIN_STD**2
    index = np.flatnonzero(textured)
    if len(index) < 2:
        return []
    values = _block_hashes(grey, index)
    order = np.argsort(values)
    index, values = index[order], values[order]
    same = values[1:] == values[:-1]
    # size of each run of equal hashes, for every element: long runs are patterns, not copies
    starts = np.flatnonzero(np.concatenate([[True], ~same]))
    run = np.diff(np.append(starts, len(values)))
    group = np.repeat(run, run)
    first = np.flatnonzero(same & (group[1:] <= BLOCK_MAX_GROUP))
    columns = width - BLOCK + 1
    ya, xa = np.divmod(index[first], columns)
    yb, xb = np.divmod(index[first + 1], columns)
    dy, dx = yb - ya, xb - xa
    flip = (dy < 0) | ((dy == 0) & (dx < 0))  # one sign per shift: a points to b
    ya, xa, dy, dx = np.where(flip, yb, ya), np.where(flip, xb, xa), np.where(flip, -dy, dy), np.where(flip, -dx, dx)
    far = np.hypot(dy, dx) >= min_dist
    if not far.any():
        return []
    ya, xa, dy, dx = ya[far], xa[far], dy[far], dx[far]
    code = dy.astype(np.int64) * (2 * width + 1) + (dx + width)
    shifts, inverse, votes = np.unique(code, return_inverse=True, return_counts=True)
    region_blocks = MIN_REGION * height * width
    needed = max(MIN_INLIERS, BLOCK_MIN_VOTES * region_blocks)
    found = []
    for k in np.argsort(-votes, kind="stable")[:MAX_TRANSFORMS]:
        if votes[k] < needed:
            break
        shift_y, shift_x = divmod(int(shifts[k]), 2 * width + 1)
        matrix = np.array([[1.0, 0.0, shift_x - width], [0.0, 1.0, shift_y]])
        voted = inverse.ravel() == k
        centres = np.stack([xa[voted], ya[voted]], axis=1).astype(np.float32) + (BLOCK - 1) / 2.0
        found.append((matrix, centres))
    return found


def _same_transform(a: np.ndarray, b: np.ndarray, pixels: float = 2.0) -> bool:
    """Whether two 2 x 3 transforms are one (or one is the other's inverse), within ``pixels`` of shift."""
    for other in (b, cv2.invertAffineTransform(b)):
        if np.abs(a[:, :2] - other[:, :2]).max() < 0.02 and np.abs(a[:, 2] - other[:, 2]).max() < pixels:
            return True
    return False


def find_copies(rgb: np.ndarray, full_size: bool = True) -> CopyMoveResult:
    """Duplicated regions of an RGB image (module docstring); with ``full_size`` False the pairs'
    regions are kept at the working size (large pictures: :func:`streamed_evidence`)."""
    height, width = rgb.shape[:2]
    scale = min(MAX_UPSCALE, float(np.sqrt(WORK_AREA / (height * width))))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))

    def working(image: np.ndarray) -> np.ndarray:
        if size == (width, height):
            return image
        return cv2.resize(image, size, interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA)

    full_grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    grey = working(full_grey)
    work_h, work_w = grey.shape
    candidates: list[tuple[np.ndarray, np.ndarray]] = []
    points, descriptors = _keypoints(grey)
    if descriptors is not None:
        candidates += fit_transforms(points, g2nn_pairs(points, descriptors, min_distance(work_h, work_w)))
    if height * width <= BLOCK_MAX_PIXELS:
        for matrix, centres in block_shifts(full_grey, min_distance(work_h, work_w) / scale):
            in_working = matrix.copy()
            in_working[:, 2] *= scale
            if not any(_same_transform(in_working, known) for known, _ in candidates):
                candidates.append((in_working, centres * scale))
    result = CopyMoveResult(shape=(height, width))
    grey = grey.astype(np.float32)
    work_rgb = None  # the colour working image, made for the first region found
    for matrix, sources in candidates:
        source = _region_with_keypoints(matching_pixels(grey, matrix), sources)
        if source.mean() < MIN_REGION:
            continue
        if work_rgb is None:
            work_rgb = working(rgb).astype(np.float32)
        if is_repetition(work_rgb, grey, source, matrix):
            result.repetitions += 1
            continue
        target = cv2.warpAffine(source.astype(np.uint8), matrix, (work_w, work_h), flags=cv2.INTER_NEAREST)
        in_image = matrix.copy()
        in_image[:, 2] /= scale  # same rotation and scale, shift in image pixels
        regions = [
            cv2.resize(region.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
            if full_size
            else region.astype(np.float32)
            for region in (source, target)
        ]
        result.pairs.append(
            CopyPair(
                matrix=in_image, keypoints=len(sources), area=float(source.mean()), source=regions[0], target=regions[1]
            )
        )
    return result


def _shares(medians: list[float]) -> list[float]:
    """The evidence weights of a pair's source and target from the other evidence's medians over them."""
    shares = []
    for difference in (medians[0] - medians[1], medians[1] - medians[0]):
        share = EVIDENCE_LOGIT + np.log(2.0) - np.logaddexp(0.0, -difference)  # E + log(2 sigmoid(d))
        shares.append(max(float(share), 0.0))
    return shares


def evidence_logits(result: CopyMoveResult, other: np.ndarray) -> np.ndarray:
    """Log-likelihood ratio of "edited" per pixel from the pairs found, given ``other`` evidence.

    A pair says that one of its two regions is a copy, not which. Its calibrated likelihood
    ratio ``exp(EVIDENCE_LOGIT)`` is shared between them by the rest of the evidence
    (``other``: a logit map of the same image), as explaining away: with ``z_s`` and ``z_t`` the
    median of ``other`` over the two regions, the target gets ``EVIDENCE_LOGIT +
    log(2 sigmoid(z_t - z_s))`` and the source the same with ``z_s - z_t``. Both get
    ``EVIDENCE_LOGIT`` when the other evidence is indifferent, and the two ratios always
    average to the calibrated one; a region held for the original gets less, never below 0.
    Pixels in no pair get 0; where pairs overlap, the largest value counts."""
    evidence = np.zeros(result.shape, np.float32)
    for pair in result.pairs:
        regions = [pair.full(region, result.shape) for region in (pair.source, pair.target)]
        medians = [float(np.median(other[region >= 0.5])) if (region >= 0.5).any() else 0.0 for region in regions]
        for region, share in zip(regions, _shares(medians)):
            evidence = np.maximum(evidence, region * share)
    return evidence


def streamed_evidence(
    result: CopyMoveResult, other: Callable[[int, int], np.ndarray]
) -> Callable[[int, int], np.ndarray]:
    """:func:`evidence_logits` of a large picture, a strip of rows at a time: ``other(top, bottom)``
    gives rows of the other evidence; returns the function that gives the same rows of this one.
    The medians are exact (:func:`imlforensic.chunked.order_statistics`, two passes over ``other``);
    the regions are enlarged from the working size where a strip needs them."""
    shape = result.shape
    regions = [[LinearRows(region, shape) for region in (pair.source, pair.target)] for pair in result.pairs]

    def chunks() -> Iterator[tuple[np.ndarray, ...]]:
        for top, bottom in row_strips(*shape):
            values = other(top, bottom)
            yield tuple(values[region.rows(top, bottom) >= 0.5] for pair in regions for region in pair)

    found = order_statistics(chunks, 2 * len(regions), median_ranks) if regions else []
    medians = [median_of(values) if values else 0.0 for values in found]
    shares = [_shares(medians[2 * i : 2 * i + 2]) for i in range(len(regions))]

    def rows(top: int, bottom: int) -> np.ndarray:
        evidence = np.zeros((bottom - top, shape[1]), np.float32)
        for pair, weights in zip(regions, shares):
            for region, share in zip(pair, weights):
                evidence = np.maximum(evidence, region.rows(top, bottom) * share)
        return evidence

    return rows
