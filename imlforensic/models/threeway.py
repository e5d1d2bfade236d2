"""The three-way classifier of paper 3 (real / partially edited / fully generated) on frozen features.

Paper 3, sections 3.2, 3.3 and 3.6 (``../shared/papers/03-*``). Every picture is first turned into
features ``f = E(x)`` by a frozen extractor (:mod:`imlforensic.models.features`; the features of
the training pictures are cached once). Here ``f`` is a set of *tokens*, one per stage of the
backbone (mean + std pooled). Notation: ``R`` real, ``PF`` partially fake (locally edited),
``FF`` fully fake (generated); ``z_N = N(f)`` the three logits of a network ``N``; ``B`` the batch;
``[u]_+ = max(u, 0)``; ``(a - b)^2`` the squared Euclidean distance of two logit vectors (summed
over the three logits); ``M`` the margin (paper: 4, :data:`MARGIN`).

Networks (:class:`TokenTransformer`, each a small transformer over the feature tokens with a
class token; the paper's 4 layers x 384 wide x 6 heads shrunk to the :class:`ThreewayConfig`
default, 1 x 64 x 4: on this shared 2-core machine one training step of a 2 x 128 network took
0.57 s against 0.2 s, and the student stage runs the three networks on five parts of each batch;
the shipped weights stay under 2 MB):

* teacher ``N_T``: trained first with cross-entropy on the three classes, then frozen;
* students ``N_S1`` (tracks the teacher on real and partially fake pictures, departs from it on
  generated ones) and ``N_S2`` (tracks it on real and generated pictures, departs on partially
  fake ones);
* generalizers ``G_PF`` and ``G_FF`` (:class:`FeatureGeneralizer`, training only): move fake
  features to where the students' discrepancies are hardest to keep, ``G(f) = f + s tanh(h(f))``
  with a bounded step ``s`` (in units of the standardised features; the paper leaves the form open);
* classifier ``N_C``: a small MLP on the concatenated squared discrepancies (equation 8).

Student losses (teacher frozen; ``G`` is the identity when the generalizers are off)::

    (1)  L^R_Si   = 1/B sum_b (N_T(f^R) - N_Si(f^R))^2                                 i = 1, 2
    (2)  L^PF_S2  = 1/B sum_b [M - (N_T(G_PF(f^PF)) - N_S2(G_PF(f^PF)))^2]_+
    (3)  L^PF_S1  = 1/B sum_b (N_T(f^PF) - N_S1(f^PF))^2
    (4)  L^FF_S1  = 1/B sum_b [M - (N_T(G_FF(f^FF)) - N_S1(G_FF(f^FF)))^2]_+
    (5)  L^FF_S2  = 1/B sum_b (N_T(f^FF) - N_S2(f^FF))^2

Generalizer losses (teacher and students frozen; adversarial to (2) and (4))::

    (6)  L_GPF = 1/B sum_b ([M - (z_T - z_S1)^2]_+ + (z_T - z_S2)^2),   z_N = N(G_PF(f^PF))
    (7)  L_GFF = 1/B sum_b ([M - (z_T - z_S2)^2]_+ + (z_T - z_S1)^2),   z_N = N(G_FF(f^FF))

Classifier (cross-entropy on the three classes, everything else frozen)::

    (8)  y^ = N_C(concat((N_T(E(x)) - N_S1(E(x)))^2, (N_T(E(x)) - N_S2(E(x)))^2))

with the squares taken per logit (six numbers; ``N_C`` reads them through ``log1p``).

Stages (:mod:`imlforensic.training.threeway`): teacher; then students and generalizers rotated
step by step (one student step on equations 1-5 with the generalizers' current output, one
generalizer step on 6-7); then ``N_C``. At inference (section 3.6) only ``N_T``, ``N_S1``,
``N_S2`` and ``N_C`` run; the generalizers are not shipped.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

CLASSES = ("authentic", "manipulated", "generated")
MARGIN = 4.0
FORMAT = "imlforensic-threeway/1"


@dataclass(frozen=True)
class ThreewayConfig:
    layout: tuple[tuple[str, int], ...]  # the extractor's tokens: (name, width)
    width: int = 64
    layers: int = 1
    heads: int = 4
    dropout: float = 0.1
    margin: float = MARGIN
    classifier_hidden: int = 32
    generalizer_hidden: int = 256
    generalizer_step: float = 0.5

    @property
    def dim(self) -> int:
        return sum(w for _, w in self.layout)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["layout"] = [list(t) for t in self.layout]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ThreewayConfig:
        data = dict(data)
        data["layout"] = tuple((str(n), int(w)) for n, w in data["layout"])
        return cls(**data)


class TokenTransformer(nn.Module):
    """``f`` (B, dim) -> three logits: each token embedded on its own, a class token, a
    transformer encoder (pre-norm), the class token's output through a linear head."""

    def __init__(self, config: ThreewayConfig) -> None:
        super().__init__()
        self.widths = [w for _, w in config.layout]
        self.embed = nn.ModuleList(nn.Linear(w, config.width) for w in self.widths)
        self.position = nn.Parameter(torch.zeros(1, len(self.widths) + 1, config.width))
        self.cls = nn.Parameter(torch.zeros(1, 1, config.width))
        nn.init.trunc_normal_(self.position, std=0.02)
        nn.init.trunc_normal_(self.cls, std=0.02)
        layer = nn.TransformerEncoderLayer(
            config.width,
            config.heads,
            dim_feedforward=4 * config.width,
            dropout=config.dropout,
            batch_first=True,
            norm_first=True,
            activation="gelu",
        )
        self.encoder = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(config.width)
        self.head = nn.Linear(config.width, len(CLASSES))

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        parts = torch.split(f, self.widths, dim=1)
        tokens = torch.stack([embed(p) for embed, p in zip(self.embed, parts)], 1)
        x = torch.cat([self.cls.expand(f.shape[0], -1, -1), tokens], 1) + self.position
        return self.head(self.norm(self.encoder(x)[:, 0]))


class FeatureGeneralizer(nn.Module):
    """``G(f) = f + step * tanh(h(f))`` (training only, section 3.3); ``h`` is a two-layer MLP."""

    def __init__(self, config: ThreewayConfig) -> None:
        super().__init__()
        self.step = config.generalizer_step
        out = nn.Linear(config.generalizer_hidden, config.dim)
        nn.init.zeros_(out.weight)  # starts as the identity
        nn.init.zeros_(out.bias)
        self.net = nn.Sequential(nn.Linear(config.dim, config.generalizer_hidden), nn.GELU(), out)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return f + self.step * torch.tanh(self.net(f))


class DiscrepancyClassifier(nn.Module):
    """``N_C`` of equation 8: the six squared discrepancies -> three logits."""

    def __init__(self, config: ThreewayConfig) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(2 * len(CLASSES), config.classifier_hidden),
            nn.GELU(),
            nn.Linear(config.classifier_hidden, len(CLASSES)),
        )

    def forward(self, discrepancies: torch.Tensor) -> torch.Tensor:
        return self.net(torch.log1p(discrepancies))


# ----------------------------------------------------------------------------- losses


def squared_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(a - b)^2 summed over the logits: one number per sample."""
    return ((a - b) ** 2).sum(1)


def pull(z_t: torch.Tensor, z_s: torch.Tensor) -> torch.Tensor:
    """Equations 1, 3, 5: the mean squared discrepancy (to be minimised)."""
    return squared_distance(z_t, z_s).mean()


def push(z_t: torch.Tensor, z_s: torch.Tensor, margin: float = MARGIN) -> torch.Tensor:
    """Equations 2, 4: the hinge ``[M - (z_T - z_S)^2]_+``, zero once the discrepancy exceeds M."""
    return F.relu(margin - squared_distance(z_t, z_s)).mean()


def student_losses(z: dict[str, dict[str, torch.Tensor]], margin: float = MARGIN) -> dict[str, torch.Tensor]:
    """Equations 1-5. ``z[part][net]``: logits of ``net`` in (T, S1, S2) for ``part`` in
    ``R`` (real features), ``PF`` / ``FF`` (raw fake features) and ``GPF`` / ``GFF`` (the
    generalizers' output); a missing part contributes no term."""
    out: dict[str, torch.Tensor] = {}
    if "R" in z:
        out["eq1_S1"] = pull(z["R"]["T"], z["R"]["S1"])
        out["eq1_S2"] = pull(z["R"]["T"], z["R"]["S2"])
    if "GPF" in z:
        out["eq2"] = push(z["GPF"]["T"], z["GPF"]["S2"], margin)
    if "PF" in z:
        out["eq3"] = pull(z["PF"]["T"], z["PF"]["S1"])
    if "GFF" in z:
        out["eq4"] = push(z["GFF"]["T"], z["GFF"]["S1"], margin)
    if "FF" in z:
        out["eq5"] = pull(z["FF"]["T"], z["FF"]["S2"])
    return out


def generalizer_loss_pf(
    z_t: torch.Tensor, z_s1: torch.Tensor, z_s2: torch.Tensor, margin: float = MARGIN
) -> torch.Tensor:
    """Equation 6 (logits of ``G_PF(f^PF)``)."""
    return (F.relu(margin - squared_distance(z_t, z_s1)) + squared_distance(z_t, z_s2)).mean()


def generalizer_loss_ff(
    z_t: torch.Tensor, z_s1: torch.Tensor, z_s2: torch.Tensor, margin: float = MARGIN
) -> torch.Tensor:
    """Equation 7 (logits of ``G_FF(f^FF)``)."""
    return (F.relu(margin - squared_distance(z_t, z_s2)) + squared_distance(z_t, z_s1)).mean()


# ----------------------------------------------------------------------------- the inference model


@dataclass
class Calibration:
    """The decision rule fitted on validation pictures of the training side (never the test sets):
    the generated class wins when its probability reaches ``generated_threshold``."""

    generated_threshold: float = 0.5
    head: str = "classifier"  # which output the probabilities come from: classifier | teacher
    notes: dict[str, Any] = field(default_factory=dict)


class ThreewayModel(nn.Module):
    """What runs at inference (section 3.6): standardisation, ``N_T``, ``N_S1``, ``N_S2``, ``N_C``."""

    def __init__(self, config: ThreewayConfig) -> None:
        super().__init__()
        self.config = config
        self.mean: torch.Tensor
        self.std: torch.Tensor
        self.register_buffer("mean", torch.zeros(config.dim))
        self.register_buffer("std", torch.ones(config.dim))
        self.teacher = TokenTransformer(config)
        self.student1 = TokenTransformer(config)
        self.student2 = TokenTransformer(config)
        self.classifier = DiscrepancyClassifier(config)
        self.calibration = Calibration()

    def standardise(self, features: torch.Tensor) -> torch.Tensor:
        return (features - self.mean) / self.std

    def discrepancies(self, f: torch.Tensor) -> torch.Tensor:
        """The classifier's input (equation 8) for standardised features ``f``."""
        z_t = self.teacher(f)
        return torch.cat([(z_t - self.student1(f)) ** 2, (z_t - self.student2(f)) ** 2], 1)

    def logits(self, f: torch.Tensor, head: str | None = None) -> torch.Tensor:
        head = head or self.calibration.head
        if head == "teacher":
            return self.teacher(f)
        return self.classifier(self.discrepancies(f))

    @torch.inference_mode()
    def probabilities(self, features: torch.Tensor, head: str | None = None) -> torch.Tensor:
        """(N, dim) raw features (rows of one picture's views are averaged by the caller) -> (N, 3)."""
        return torch.softmax(self.logits(self.standardise(features.float()), head), 1)


def save_threeway(model: ThreewayModel, path: Path, metadata: dict[str, Any]) -> None:
    """safetensors, float16 weights (the buffers stay float32), the config and calibration in the header."""
    from safetensors.torch import save_file

    from imlforensic.io.atomic import atomic_path

    state = {}
    for key, value in model.state_dict().items():
        value = value.detach().cpu().contiguous()
        state[key] = value if key in ("mean", "std") else value.half()
    header = {
        "format": FORMAT,
        "config": model.config.to_json(),
        "calibration": asdict(model.calibration),
        "classes": list(CLASSES),
    } | metadata
    with atomic_path(Path(path)) as temporary:
        save_file(state, str(temporary), metadata={"threeway": json.dumps(header)})


class ThreewayCheckpointError(ValueError):
    """A file that is not a three-way checkpoint (one-line message)."""


def load_threeway(path: Path, device: str = "cpu") -> tuple[ThreewayModel, dict[str, Any]]:
    from safetensors import safe_open
    from safetensors.torch import load_file

    try:
        with safe_open(str(path), framework="pt") as handle:
            raw = (handle.metadata() or {}).get("threeway")
        header = json.loads(raw) if raw else None
    except Exception as exc:  # safetensors raises several types for a file it cannot parse
        raise ThreewayCheckpointError(f"{path}: not a safetensors file ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ThreewayCheckpointError(f"{path}: not a three-way classifier checkpoint ({FORMAT})")
    model = ThreewayModel(ThreewayConfig.from_json(header["config"]))
    state = {k: v.float() for k, v in load_file(str(path)).items()}
    model.load_state_dict(state)
    calibration = header.get("calibration", {})
    model.calibration = Calibration(**calibration)
    return model.to(device).eval(), header
