"""BoxPromptIML's student (paper 2): a light segmentation network with memory-guided fusion.

**Network.** An ImageNet-initialised EfficientNet-Lite0 encoder (offline weights,
:mod:`.backbones`) reads the views of the image (by default the RGB image and the noise-residual
anomaly, :mod:`.inputs`; the stem is widened for the extra channel) and gives features at
strides 4, 8, 16 and 32. The deepest features go through the memory-guided fusion module
(:class:`MemoryGuidedFusion`), then a small top-down decoder (feature-pyramid style: 1x1 lateral
convolutions to ``decoder_width`` channels, upsample-and-add, a 3x3 convolution at each level)
predicts one logit per pixel at stride 4, bilinearly enlarged to the input size.

**Memory-guided fusion** (the "active memory" of the paper's title), on features ``F`` (B x C x
h x w) projected to queries ``q = W_q F`` (d channels):

* *recall* (long-term memory): a learned bank of ``K`` prototypes ``M`` (K x d), shared by every
  image, adapted to the current one by its global context ``g = mean_hw q``:
  ``M_b = M + W_g g`` (dual guidance). Each location attends to the bank,
  ``A = softmax(q M_b^T / sqrt(d))`` over the K prototypes, and recalls ``R = A M_b``;
* *observation* (cues computed from the current image only): the query and its local contrast,
  ``c = q - avgpool_5x5(q)`` (how a location stands out from its neighbourhood, which is what an
  edit does), mixed by a 3x3 convolution, ``O = conv([q, c])``;
* a learned *gate* ``G = sigmoid(W_G [q, R, O])`` (per location and channel) combines them, and
  the result is added back: ``F' = F + W_o (G * R + (1 - G) * O)``.

``memory=False`` (the ablation) leaves the features unchanged (``F' = F``).

**Losses** with the teacher's soft logits ``z_T`` and the student's ``z_S`` (per pixel; ``sigma``
the logistic function; means over pixels and images), see :func:`distillation_loss`:

* soft BCE: ``L_bce = -mean[t log sigma(z_S) + (1 - t) log(1 - sigma(z_S))]`` with ``t = sigma(z_T)``
  (``hard=True``, the ablation: ``t = [z_T > 0]``);
* Dice, per image: ``L_dice = 1 - (2 sum sigma(z_S) t + 1) / (sum sigma(z_S) + sum t + 1)``;
* temperature distillation (soft targets only): with ``p_T = sigma(z_T / T)``, ``p_S = sigma(z_S / T)``,
  ``L_kd = T^2 mean[KL(Bern(p_T) || Bern(p_S))]``,
  ``KL = p_T log(p_T / p_S) + (1 - p_T) log((1 - p_T) / (1 - p_S))``;
* ``L = w_bce L_bce + w_dice L_dice + w_kd L_kd``.

Checkpoints are safetensors (format ``imlforensic.boxprompt/1``) whose JSON metadata holds the
configuration; :func:`load_boxprompt` treats the file as untrusted (bounded configuration,
every tensor's name, shape and dtype checked before anything is loaded), as
:mod:`.checkpoint` does for the localizer.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from imlforensic.io.atomic import atomic_path
from imlforensic.models.backbones import LITE_PACKAGES, load_imagenet_weights
from imlforensic.models.checkpoint import CheckpointError, _check_tensors, _first_line, _name, _shown, read_header
from imlforensic.models.inputs import VIEW_KINDS, input_channels
from imlforensic.models.network import NetworkConfig, drop_unused_stages, timm, widen_stem

FORMAT = "imlforensic.boxprompt/1"


@dataclass
class BoxPromptConfig:
    backbone: str = "tf_efficientnet_lite0"
    views: tuple[str, ...] = ("rgb", "noise")  # see imlforensic.models.inputs; "rgb" first keeps its filters
    blocks: tuple[int, ...] = (1, 2, 3, 4)  # timm feature indices: strides 4, 8, 16, 32
    decoder_width: int = 64
    memory: bool = True
    prototypes: int = 32
    memory_dim: int = 128

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> BoxPromptConfig:
        known = {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
        for key in ("views", "blocks"):
            if key in known:
                known[key] = tuple(known[key])
        return cls(**known)

    def network_views(self) -> NetworkConfig:
        """The views as :func:`imlforensic.models.inputs.build_views` computes them (full resolution)."""
        return NetworkConfig(backbone=self.backbone, views=self.views, input_scale=1)


class MemoryGuidedFusion(nn.Module):
    """Recall from a learned prototype bank, observation of the current image, a learned gate
    (module docstring). ``forward`` returns the fused features; :meth:`parts` also returns the
    attention over the prototypes and the gate."""

    def __init__(self, channels: int, dim: int = 128, prototypes: int = 32, contrast_window: int = 5) -> None:
        super().__init__()
        self.dim = dim
        self.query = nn.Conv2d(channels, dim, 1)
        self.memory = nn.Parameter(torch.randn(prototypes, dim) / math.sqrt(dim))
        self.adapt = nn.Linear(dim, dim)
        nn.init.zeros_(self.adapt.weight)
        nn.init.zeros_(self.adapt.bias)
        self.contrast_window = contrast_window
        self.observe = nn.Sequential(nn.Conv2d(2 * dim, dim, 3, padding=1), nn.BatchNorm2d(dim), nn.ReLU(inplace=True))
        self.gate = nn.Conv2d(3 * dim, dim, 1)
        self.out = nn.Conv2d(dim, channels, 1)

    def parts(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        b, _, h, w = features.shape
        q = self.query(features)  # (B, d, h, w)
        context = q.mean(dim=(2, 3))  # (B, d): the current image's global cue
        bank = self.memory[None] + self.adapt(context)[:, None, :]  # (B, K, d): prototypes adapted to it
        flat = q.flatten(2).transpose(1, 2)  # (B, hw, d)
        attention = torch.softmax(flat @ bank.transpose(1, 2) / math.sqrt(self.dim), dim=-1)  # (B, hw, K)
        recall = (attention @ bank).transpose(1, 2).reshape(b, self.dim, h, w)
        k = self.contrast_window
        contrast = q - F.avg_pool2d(q, k, stride=1, padding=k // 2, count_include_pad=False)
        observation = self.observe(torch.cat([q, contrast], dim=1))
        gate = torch.sigmoid(self.gate(torch.cat([q, recall, observation], dim=1)))
        fused = features + self.out(gate * recall + (1.0 - gate) * observation)
        return {"fused": fused, "attention": attention, "gate": gate, "recall": recall, "observation": observation}

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.parts(features)["fused"]


class BoxPromptNet(nn.Module):
    encoder: Any  # a timm features_only model

    def __init__(self, config: BoxPromptConfig, imagenet_init: bool = True) -> None:
        super().__init__()
        self.config = config
        self.encoder = timm.create_model(
            config.backbone, pretrained=False, features_only=True, out_indices=config.blocks
        )
        if imagenet_init:
            load_imagenet_weights(self.encoder, config.backbone)
        drop_unused_stages(self.encoder)
        widen_stem(self.encoder, input_channels(config.network_views()), keep_rgb_filters=config.views[0] == "rgb")
        channels = self.encoder.feature_info.channels()
        self.fusion: nn.Module = (
            MemoryGuidedFusion(channels[-1], config.memory_dim, config.prototypes) if config.memory else nn.Identity()
        )
        width = config.decoder_width
        self.lateral = nn.ModuleList(nn.Conv2d(c, width, 1) for c in channels)
        self.smooth = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)
            )
            for _ in channels
        )
        self.head = nn.Conv2d(width, 1, 1)
        self.stride = int(self.encoder.feature_info.reduction()[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B x 1 x H x W) at the input's size; H and W should be multiples of ``stride``."""
        features = list(self.encoder(x))
        features[-1] = self.fusion(features[-1])
        top = self.smooth[-1](self.lateral[-1](features[-1]))
        for level in range(len(features) - 2, -1, -1):
            lateral = self.lateral[level](features[level])
            top = self.smooth[level](
                lateral + F.interpolate(top, size=lateral.shape[-2:], mode="bilinear", align_corners=False)
            )
        return F.interpolate(self.head(top), size=x.shape[-2:], mode="bilinear", align_corners=False)


# ----------------------------------------------------------------------------- losses


@dataclass(frozen=True)
class LossConfig:
    bce: float = 1.0
    dice: float = 1.0
    kd: float = 0.5
    temperature: float = 2.0
    hard: bool = False  # the ablation: thresholded teacher masks, no distillation term

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def soft_dice_loss(student_logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """``1 - (2 sum p t + s) / (sum p + sum t + s)`` per image (``p = sigmoid(z_S)``), averaged."""
    p = torch.sigmoid(student_logits).flatten(1)
    t = target.flatten(1)
    return (1.0 - (2.0 * (p * t).sum(1) + smooth) / (p.sum(1) + t.sum(1) + smooth)).mean()


def bernoulli_kl(teacher_logits: torch.Tensor, student_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``T^2 mean KL(Bern(sigmoid(z_T / T)) || Bern(sigmoid(z_S / T)))`` (module docstring)."""
    zt, zs = teacher_logits / temperature, student_logits / temperature
    pt = torch.sigmoid(zt)
    kl = pt * (F.logsigmoid(zt) - F.logsigmoid(zs)) + (1.0 - pt) * (F.logsigmoid(-zt) - F.logsigmoid(-zs))
    return temperature**2 * kl.mean()


def distillation_loss(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, config: LossConfig = LossConfig()
) -> dict[str, torch.Tensor]:
    """The terms of the loss and their weighted sum ``loss`` (module docstring, "Losses")."""
    student_logits = student_logits.float()
    teacher_logits = teacher_logits.float()
    target = (teacher_logits > 0).float() if config.hard else torch.sigmoid(teacher_logits)
    terms = {
        "bce": F.binary_cross_entropy_with_logits(student_logits, target),
        "dice": soft_dice_loss(student_logits, target),
    }
    if not config.hard and config.kd > 0:
        terms["kd"] = bernoulli_kl(teacher_logits, student_logits, config.temperature)
    loss = config.bce * terms["bce"] + config.dice * terms["dice"]
    if "kd" in terms:
        loss = loss + config.kd * terms["kd"]
    terms["loss"] = loss
    return terms


# ----------------------------------------------------------------------------- checkpoints


def _is_int(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


CONFIG_RULES: dict[str, tuple[Any, str]] = {
    "backbone": (lambda v: v in LITE_PACKAGES, "one of " + ", ".join(LITE_PACKAGES)),
    "views": (
        lambda v: (
            isinstance(v, list)
            and 0 < len(v) <= len(VIEW_KINDS)
            and len(set(v)) == len(v)
            and all(x in VIEW_KINDS and x != "sel" for x in v)
        ),
        "a list of distinct views among rgb, ghost, noise, dq",
    ),
    "blocks": (
        lambda v: isinstance(v, list) and 0 < len(v) <= 5 and all(_is_int(x, 0, 4) for x in v) and v == sorted(set(v)),
        "an increasing list of feature stages (0-4)",
    ),
    "decoder_width": (lambda v: _is_int(v, 1, 256), "an integer from 1 to 256"),
    "memory": (lambda v: isinstance(v, bool), "true or false"),
    "prototypes": (lambda v: _is_int(v, 1, 512), "an integer from 1 to 512"),
    "memory_dim": (lambda v: _is_int(v, 1, 512), "an integer from 1 to 512"),
}
"""What a checkpoint's configuration may declare: bounded, so no file can make the network large."""


def save_boxprompt(path: Path, model: BoxPromptNet, metadata: dict[str, Any]) -> None:
    """Weights and JSON metadata (configuration first) as safetensors, atomically."""
    header = {"format": FORMAT, "config": json.dumps(model.config.as_dict())}
    header.update({key: json.dumps(value) for key, value in metadata.items()})
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=header)


def load_boxprompt(path: Path, device: str = "cpu") -> tuple[BoxPromptNet, dict[str, Any]]:
    """The student and its metadata from an untrusted checkpoint (:class:`CheckpointError` otherwise)."""
    path = Path(path)
    header = read_header(path)
    raw = header.metadata
    if raw.get("format") != FORMAT:
        raise CheckpointError(f"{_name(path)}: not a boxprompt checkpoint (format {str(raw.get('format'))[:60]!r})")
    try:
        metadata = {k: json.loads(v) for k, v in raw.items() if k != "format"}
    except ValueError as exc:
        raise CheckpointError(f"{_name(path)}: metadata is not JSON ({_first_line(exc)})") from None
    config = metadata.get("config")
    if not isinstance(config, dict):
        raise CheckpointError(f"{_name(path)}: metadata 'config' is missing or not an object")
    for key, (valid, wanted) in CONFIG_RULES.items():
        if key in config and not valid(config[key]):
            raise CheckpointError(f"{_name(path)}: config {key!r} is {_shown(config[key])}; it must be {wanted}")
    threshold = metadata.get("threshold", 0.5)
    if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or not 0.0 < threshold < 1.0:
        raise CheckpointError(f"{_name(path)}: metadata 'threshold' must be a number in (0, 1)")
    parsed = BoxPromptConfig.from_dict(config)
    with torch.device("meta"):
        expected = {
            k: (tuple(v.shape), v.is_floating_point())
            for k, v in BoxPromptNet(parsed, imagenet_init=False).state_dict().items()
        }
    _check_tensors(path, header.tensors, expected)
    model = BoxPromptNet(parsed, imagenet_init=False)
    try:
        state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(path)).items()}
        model.load_state_dict(state, strict=True)
    except (RuntimeError, SafetensorError) as exc:
        raise CheckpointError(f"{_name(path)}: weights do not fit the configuration ({_first_line(exc)})") from None
    return model.to(device).eval(), metadata


@dataclass
class ParameterCount:
    total: int = 0
    by_part: dict[str, int] = field(default_factory=dict)


def count_parameters(model: BoxPromptNet) -> ParameterCount:
    parts: dict[str, int] = {}
    for name, p in model.named_parameters():
        parts[name.split(".")[0]] = parts.get(name.split(".")[0], 0) + p.numel()
    return ParameterCount(total=sum(parts.values()), by_part=parts)
