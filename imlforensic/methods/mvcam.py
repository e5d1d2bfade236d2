"""The learned weakly supervised localizer (``mvcam``, ``mvcam-net``) behind the method contract.

Inference is fully convolutional on views computed at the image's own resolution (forensic
traces do not survive resizing the image; views with ``input_scale`` > 1 are local statistics
computed before any averaging). Views up to ``tile`` x ``tile`` go through in one pass; larger ones
are cut into overlapping tiles whose origins are multiples of 32 (so the JPEG 8x8 grid and the
network's stride line up the same way in every tile), and the tiles' logit maps are blended
with weights that fall off towards tile borders. The views are computed once on the whole image
before tiling. With ``flip`` the map is also read from the mirrored views (test-time
augmentation, which averages out the jitter of class activation maps at their stride): a single
network reads both orientations and its two maps are averaged; the members of an ensemble take
turns instead (the second reads the mirror image), which on the development set gave the same
figures as every member reading both, at half the cost.

With ``fuse_sel`` (the ``mvcam`` entry) the network's evidence is combined with the classical
signed-error-level view by adding log-likelihood ratios (naive Bayes):
``logit p = z_net + llr_sel``, where ``llr_sel`` is zero at the median authentic pixel of the
view's calibration (:func:`imlforensic.views.calibration.log_likelihood_ratio`). The network reads
JPEG-ghost *statistics* at half resolution and its activation maps are coarse; the error-level
view keeps the full-resolution outline of a region with another compression history, and
where it sees nothing unusual it lowers the map a little instead of leaving it unchanged (a
noisy-OR, the first design, could only raise it). The two are not independent (the network
reads statistics of the same recompressions), so the sum over-counts shared evidence; the
threshold is chosen for the fused map (:mod:`imlforensic.training.calibration`), which absorbs a
constant over-count. The copy-move view (:mod:`imlforensic.views.copy_move`) is added the same
way: pixels of a duplicated region get its evidence weight
(:data:`imlforensic.views.copy_move.EVIDENCE_LOGIT`, measured on synthetic edits), shared
between the two regions of a pair by the network's and sel's evidence
(:func:`imlforensic.views.copy_move.evidence_logits`), other pixels nothing. A region moved
within its own photo carries that photo's compression and noise, so the network and sel often
miss it; the repetition itself is what gives it away, and their weaker evidence is still enough
to tell, more often than not, which of the two regions is the copy. ``mvcam-net`` is the
network's map alone.

**Fusion weights and the calibrated decision** (``mvcam`` 2.3). The error-level view's
log-likelihood ratio was calibrated on small JPEG photos; on large, smooth or re-encoded
pictures of other origins it grows without bound and alone flagged most of the authentic
wallpaper photos and camera originals of the wild benchmark (docs/wild-benchmark.md). It is
therefore weighted and capped: ``z = z_net + sel_weight * min(llr_sel, sel_cap) + copy-move``.
The image decision is then calibrated on authentic pictures of many kinds at their own size
(training-side material only, ``benchmarks/calibrate_decision.py``): with ``t`` the threshold at
which at most 5 % of them are flagged and ``a`` a logistic slope fitted on the same pictures and
synthetic edits, the map reported is ``sigmoid(a * (z - logit t))``, so its pooled score reads
as a probability of an edit on that material and the decision is made at 0.5.

**Background level.** Edits are a minority of a picture, so where the edit is shows in how a
region stands out from the image's own background, not in how high the whole map is: a network
map raised everywhere (a whole picture recompressed twice, a texture that looks odd to the
network) is image-level evidence that, left in, floods the mask. When the map's median logit lies
above ``background`` - the median of authentic photos' medians, measured on synthetic samples
when the checkpoint was calibrated (:mod:`imlforensic.training.calibration`) - the map is
lowered by the difference before anything else; maps at or below it are left as they are.

**Large pictures** (above :data:`imlforensic.chunked.LARGE_PICTURE_PIXELS`, 4.2 megapixels; issue
16) are analysed in bounded memory; smaller ones exactly as described above. The network's views
are computed one tile at a time (:class:`~imlforensic.models.inputs.TiledViews`, tiles of at most
:data:`LARGE_PICTURE_TILE`) after their image-wide statistics have been gathered in strips; the
blended logits stay at the views' resolution and are enlarged a strip of rows at a time; the sel
anomaly is held at its reduced resolution (:func:`~imlforensic.views.calibration.reduced_anomaly`)
and the copy-move regions at the working size; the median of the background level and the
copy-move medians are exact order statistics over strips (:mod:`imlforensic.chunked`). Only the
final map is held at full size. The map is the same evidence as the whole-picture one but not
identical to it: tiles' views are exact cell means, the sel map is smoothed before being enlarged,
and tiles are smaller (``views`` of the output is empty).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from imlforensic.chunked import LinearRows, is_large, median_of, median_ranks, order_statistics, row_strips
from imlforensic.io.images import LoadedImage
from imlforensic.maps import pool_score, sigmoid
from imlforensic.methods.base import Method, MethodOutput
from imlforensic.models.checkpoint import CheckpointError, Localizer, load_model
from imlforensic.models.folding import fold_batch_norms
from imlforensic.models.inputs import TiledViews, build_views, view_size
from imlforensic.models.network import CAMEnsemble
from imlforensic.models.transcam import TransCAMNet
from imlforensic.registry.cards import ModelCard
from imlforensic.registry.registry import BuildContext
from imlforensic.registry.weights import LocalFile
from imlforensic.views.calibration import calibrate, log_likelihood_ratio, raw_anomaly, reduced_anomaly
from imlforensic.views.copy_move import CopyMoveResult, evidence_logits, find_copies, streamed_evidence

STRIDE = 32  # the network's coarsest stride
LARGE_PICTURE_TILE = 768
"""Largest tile (in view pixels) for large pictures: a 768 x 768 tile's views and network pass take
about 300 MB (1024: about 600 MB, most of the peak at 16 megapixels); 12 % more network work."""

# The sel and copy-move views run in this thread while the network's views and passes run
# (OpenCV's JPEG codec and SIFT and numpy release the GIL; the network's views are largely
# single-threaded, so the second core is free for most of that time).
_SIDE_VIEWS_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="imlforensic-side-views")


def _pad_to_multiple(views: torch.Tensor, multiple: int) -> torch.Tensor:
    h, w = views.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        views = F.pad(views, (0, pw, 0, ph), mode="reflect" if min(h, w) > max(ph, pw) else "replicate")
    return views


def _ramp(length: int, overlap: int, taper_start: bool, taper_end: bool) -> np.ndarray:
    """Blending weights along one side of a tile: 1, falling linearly over ``overlap`` pixels
    at an end that another tile overlaps (image borders keep full weight)."""
    ramp = np.ones(length, np.float32)
    n = min(overlap, length // 2)
    if n > 0:
        edge = np.linspace(0.05, 1.0, n, dtype=np.float32)
        if taper_start:
            ramp[:n] = edge
        if taper_end:
            ramp[-n:] = edge[::-1]
    return ramp


def tile_origins(length: int, tile: int, overlap: int) -> list[int]:
    """Tile starts (multiples of STRIDE) covering ``length`` with at least ``overlap`` shared."""
    if length <= tile:
        return [0]
    step = max(STRIDE, (tile - overlap) // STRIDE * STRIDE)
    last = (length - tile + STRIDE - 1) // STRIDE * STRIDE
    origins = list(range(0, last, step)) + [last]
    return sorted(set(origins))


LOCAL_CARD = ModelCard(name="learned-localizer", task="detector")
"""The card of a localizer built outside the registry (calibration, tests)."""


class LearnedLocalizer(Method):
    """A trained network (or ensemble) read as a localization map (see the module docstring).

    ``default_threshold`` is the one chosen on synthetic edits when the checkpoint was calibrated
    (:mod:`imlforensic.training.calibration`); ``fuse_sel`` adds the sel and copy-move views'
    log-likelihood ratios; ``flip`` averages with the mirrored views' map; ``background`` is the
    typical authentic background logit; ``map_key``: the network output read as the logit map
    (the dual-stream network of :mod:`imlforensic.methods.transcam` has several).
    """

    def __init__(
        self,
        model: Localizer,
        device: str,
        card: ModelCard = LOCAL_CARD,
        default_threshold: float = 0.5,
        tile: int = 1024,
        overlap: int = 128,
        fuse_sel: bool = False,
        flip: bool = True,
        background: float | None = None,
        sel_weight: float = 1.0,
        sel_cap: float | None = None,
        decision: tuple[float, float] | None = None,
        map_key: str = "logit_map",
    ) -> None:
        super().__init__(card, 0.5 if decision is not None else default_threshold)
        self.model = model
        self.map_key = map_key
        self.device = device
        self.tile = tile
        self.overlap = overlap
        self.fuse_sel = fuse_sel
        self.flip = flip
        self.background = background
        self.sel_weight = sel_weight
        self.sel_cap = sel_cap
        self.decision = decision  # (threshold t on the fused map, slope a): see the module docstring

    @torch.inference_mode()
    def logit_map(self, rgb: np.ndarray, luma_table: np.ndarray | None = None) -> np.ndarray:
        """Fused logit map at the image's full size (H x W, float32)."""
        height, width = rgb.shape[:2]
        views = torch.from_numpy(build_views(rgb, self.model.config, luma_table)).unsqueeze(0)
        h, w = views.shape[-2:]
        if h <= self.tile and w <= self.tile:
            return self._to_image_size(self._run(views)[:h, :w], height, width)
        logits = self._blend(h, w, lambda y, x, th, tw: views[..., y : y + th, x : x + tw])
        return self._to_image_size(logits, height, width)

    @torch.inference_mode()
    def view_logits(self, rgb: np.ndarray, luma_table: np.ndarray | None = None) -> np.ndarray:
        """Logit map at the views' resolution (H / s x W / s), the views computed one tile at a time
        (:class:`~imlforensic.models.inputs.TiledViews`): the large-picture path."""
        views = TiledViews(rgb, self.model.config, luma_table)
        h, w = views.size
        tile = min(self.tile, LARGE_PICTURE_TILE)
        return self._blend(
            h, w, lambda y, x, th, tw: torch.from_numpy(views.window(y, y + th, x, x + tw)).unsqueeze(0), tile
        )

    def _blend(
        self, h: int, w: int, crop: Callable[[int, int, int, int], torch.Tensor], tile: int | None = None
    ) -> np.ndarray:
        """Tiles' logit maps blended into one (module docstring); ``crop(y, x, th, tw)`` gives a tile's
        views; ``tile``: the tile size, :attr:`tile` by default."""
        tile = self.tile if tile is None else tile
        total = np.zeros((h, w), np.float32)
        weight = np.zeros((h, w), np.float32)
        for y in tile_origins(h, tile, self.overlap):
            for x in tile_origins(w, tile, self.overlap):
                th, tw = min(tile, h - y), min(tile, w - x)
                logits = self._run(crop(y, x, th, tw))[:th, :tw]
                ramp = np.outer(_ramp(th, self.overlap, y > 0, y + th < h), _ramp(tw, self.overlap, x > 0, x + tw < w))
                total[y : y + th, x : x + tw] += ramp * logits
                weight[y : y + th, x : x + tw] += ramp
        total /= np.maximum(weight, 1e-6)
        return total

    @staticmethod
    def _to_image_size(logits: np.ndarray, height: int, width: int) -> np.ndarray:
        if logits.shape == (height, width):
            return logits
        return cv2.resize(logits, (width, height), interpolation=cv2.INTER_LINEAR)

    def _run(self, views: torch.Tensor) -> np.ndarray:
        return self.run_batch(views)[0]

    @torch.inference_mode()
    def run_batch(self, views: torch.Tensor) -> np.ndarray:
        """Logit maps (B x H x W, float32) of a batch of views of one size, at the views' size.

        The one network path: :meth:`logit_map` runs it on one image (or tile), batched
        inference (``benchmarks/throughput.py``) on several; under ``torch.autocast`` it runs in
        half precision and the maps come back as float32.
        """
        h, w = views.shape[-2:]
        padded = _pad_to_multiple(views, STRIDE).to(self.device, memory_format=torch.channels_last)
        logits = torch.stack(
            [
                torch.flip(network(torch.flip(padded, dims=[3]))[self.map_key], dims=[3])
                if mirrored
                else network(padded)[self.map_key]
                for network, mirrored in self._passes()
            ]
        ).mean(dim=0)
        full = F.interpolate(logits, size=padded.shape[-2:], mode="bilinear", align_corners=False)
        return full[:, 0, :h, :w].float().cpu().numpy()

    def fits_one_pass(self, height: int, width: int) -> bool:
        """Whether the views of a ``height`` x ``width`` picture go through in one pass (no tiles)."""
        h, w = view_size(height, width, self.model.config.input_scale)
        return h <= self.tile and w <= self.tile

    def output_from_logits(
        self, logits: np.ndarray, image: LoadedImage, copies: CopyMoveResult | None, anomaly: np.ndarray | None
    ) -> MethodOutput:
        """:meth:`analyse`'s output from a one-pass logit map of ``image`` (:meth:`run_batch`) and,
        for ``fuse_sel``, its copy-move view and raw sel anomaly."""
        full = self._to_image_size(logits, image.height, image.width)
        heatmap, views, details = self.read_logits(full, image.rgb, copies, anomaly)
        return MethodOutput(heatmap=heatmap, score=pool_score(heatmap), views=views, details=details)

    def _passes(self) -> list[tuple[torch.nn.Module, bool]]:
        """(network, reads the mirror image) for every forward pass (module docstring)."""
        members = list(self.model.members) if isinstance(self.model, CAMEnsemble) else [self.model]
        if not self.flip:
            return [(self.model, False)]
        if len(members) == 1:
            return [(members[0], False), (members[0], True)]
        return [(member, i % 2 == 1) for i, member in enumerate(members)]

    def heatmap(
        self, rgb: np.ndarray, luma_table: np.ndarray | None = None
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The method's probability map and its parts (``network``, ``sel`` and ``copymove`` when fused)."""
        return self.read_logits(self.logit_map(rgb, luma_table), rgb)[:2]

    def read_logits(
        self,
        logits: np.ndarray,
        rgb: np.ndarray,
        copies: CopyMoveResult | None = None,
        anomaly: np.ndarray | None = None,
    ) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, float]]:
        """The map, its parts and the numbers behind it from a :meth:`logit_map` of ``rgb``
        (``copies``, ``anomaly``: the copy-move view and the raw sel anomaly of ``rgb`` when
        already computed)."""
        details: dict[str, float] = {}
        if self.background is not None:
            shift = max(0.0, float(np.median(logits)) - self.background)
            logits = logits - shift
            details["background_shift_logit"] = round(shift, 4)
        if not self.fuse_sel:
            return sigmoid(logits), {}, details
        anomaly = raw_anomaly(rgb, "sel") if anomaly is None else anomaly
        copies = find_copies(rgb) if copies is None else copies
        evidence = self._with_sel(logits, anomaly)
        fused = self._decided(evidence + evidence_logits(copies, evidence))
        details["copy_move_pairs"] = len(copies.pairs)
        details["copy_move_repetitions"] = copies.repetitions
        views = {"network": sigmoid(logits), "sel": calibrate(anomaly, "sel"), "copymove": copies.map}
        return fused, views, details

    def _with_sel(self, logits: np.ndarray, anomaly: np.ndarray) -> np.ndarray:
        """``logits`` plus the weighted, capped sel evidence of ``anomaly`` (module docstring)."""
        llr = log_likelihood_ratio(anomaly, "sel")
        if self.sel_cap is not None:
            llr = np.minimum(llr, np.float32(self.sel_cap))
        return logits + np.float32(self.sel_weight) * llr

    def _decided(self, combined: np.ndarray) -> np.ndarray:
        """The fused map from the combined evidence, with the calibrated decision when there is one."""
        if self.decision is not None:
            threshold, slope = self.decision
            combined = np.float32(slope) * (combined - np.float32(np.log(threshold / (1.0 - threshold))))
        return sigmoid(combined)

    def analyse(self, image: LoadedImage) -> MethodOutput:
        if is_large(image.rgb.shape):
            return self._analyse_large(image)
        copies = _SIDE_VIEWS_THREAD.submit(find_copies, image.rgb) if self.fuse_sel else None
        anomaly = _SIDE_VIEWS_THREAD.submit(raw_anomaly, image.rgb, "sel") if self.fuse_sel else None
        logits = self.logit_map(image.rgb, image.luma_table)
        heatmap, views, details = self.read_logits(
            logits, image.rgb, copies.result() if copies else None, anomaly.result() if anomaly else None
        )
        return MethodOutput(heatmap=heatmap, score=pool_score(heatmap), views=views, details=details)

    def _analyse_large(self, image: LoadedImage) -> MethodOutput:
        """:meth:`analyse` of a large picture in bounded memory (module docstring, "Large pictures")."""
        rgb = image.rgb
        shape = (rgb.shape[0], rgb.shape[1])
        copies = _SIDE_VIEWS_THREAD.submit(find_copies, rgb, False) if self.fuse_sel else None
        anomaly = _SIDE_VIEWS_THREAD.submit(reduced_anomaly, rgb, "sel") if self.fuse_sel else None
        scale = 1.0 / self.model.config.input_scale
        network = LinearRows(self.view_logits(rgb, image.luma_table), shape, (scale, scale))
        details: dict[str, float] = {}
        shift = 0.0
        if self.background is not None:
            [middle] = order_statistics(lambda: ((rows,) for _, _, rows in network.strips()), 1, median_ranks)
            shift = max(0.0, median_of(middle or [0.0]) - self.background)
            details["background_shift_logit"] = round(shift, 4)
        sel = anomaly.result() if anomaly is not None else None
        found = copies.result() if copies is not None else None

        def evidence(top: int, bottom: int) -> np.ndarray:
            logits = network.rows(top, bottom) - shift
            return logits if sel is None else self._with_sel(logits, sel.rows(top, bottom))

        copy_evidence = streamed_evidence(found, evidence) if found is not None else None
        heatmap = np.empty(shape, np.float32)
        for top, bottom in row_strips(*shape):
            rows = evidence(top, bottom)
            if copy_evidence is None:  # the network alone (mvcam-net)
                heatmap[top:bottom] = sigmoid(rows)
            else:
                heatmap[top:bottom] = self._decided(rows + copy_evidence(top, bottom))
        if found is not None:
            details["copy_move_pairs"] = len(found.pairs)
            details["copy_move_repetitions"] = found.repetitions
        return MethodOutput(heatmap=heatmap, score=pool_score(heatmap), details=details)

    def side_views(self, image: LoadedImage) -> tuple[CopyMoveResult | None, np.ndarray | None]:
        """The copy-move view and the raw sel anomaly that ``fuse_sel`` adds (None, None without it)."""
        if not self.fuse_sel:
            return None, None
        return find_copies(image.rgb), raw_anomaly(image.rgb, "sel")


def build(context: BuildContext) -> LearnedLocalizer:  # registry builder
    entry = context.entry
    assert context.weights_path is not None and context.device is not None
    model, metadata = load_model(context.weights_path, device=context.device)
    if isinstance(model, TransCAMNet):
        raise CheckpointError(f"{context.weights_path}: a transcam checkpoint; run it with --method transcam")
    fold_batch_norms(model)  # inference only: one pass fewer over every feature map
    fuse_sel = bool(entry.extra.get("fuse_sel", False))
    chosen = metadata.get("thresholds", {}).get("sel" if fuse_sel else "network", {})
    background = metadata.get("background", {}).get("logit")
    fusion = entry.extra.get("fusion", {}) if fuse_sel else {}
    # the calibrated decision belongs to the shipped network; a user's checkpoint (--weights)
    # decides at its own calibrated threshold
    decision = None if isinstance(entry.weights, LocalFile) else fusion.get("decision")
    return LearnedLocalizer(
        model=model.to(memory_format=torch.channels_last),
        device=context.device,
        card=context.card,
        default_threshold=float(chosen.get("threshold", entry.default_threshold)),
        fuse_sel=fuse_sel,
        background=None if background is None else float(background),
        sel_weight=float(fusion.get("sel_weight", 1.0)),
        sel_cap=fusion.get("sel_cap"),
        decision=None if decision is None else (float(decision[0]), float(decision[1])),
    )
