"""Bayesian fusion of a coarse manipulation map with the regions of a segmenter (paper 1).

Every refiner backend ends here: the segmenter proposes *where the boundaries are* (a partition
of the image, or candidate masks for prompted areas), the coarse map says *how strongly each
pixel looks edited*, and this module turns both into a posterior probability map.

The model
---------
**Pixel evidence.** The coarse map ``c(x)`` in [0, 1] is read as a probability whose decision
point is ``neutral`` (the method's threshold, 0.5): the log-likelihood ratio that pixel ``x`` is
edited rather than authentic is

    l(x) = logit(c(x)) - logit(neutral)

so ``c = neutral`` carries no evidence, and values above (below) it are evidence for (against)
an edit. This is the logistic likelihood model of a calibrated map; ``c`` is clipped to
``[clip, 1 - clip]`` so that a saturated map cannot give infinite evidence.

**Regions.** Each region ``r`` (a superpixel, a semantic segment, a SAM or GrabCut mask) has a
latent label ``z_r`` with prior ``P(z_r = 1) = region_prior`` (pi). Coarse maps are smooth, so
neighbouring pixels are not independent observations; a region of ``n`` pixels counts as

    s(n) = n / (A + n / max_samples),      A = (corr_length * short side)^2

effective samples: about ``n / A`` for regions smaller than the map's correlation area ``A``,
and never more than ``max_samples`` however large the region (the errors of a forensic map
are correlated over the whole image, e.g. by texture or compression, so evidence saturates).
The tempered region posterior is

    logit P(z_r = 1 | c) = logit(pi) + s(n_r) * mean_{x in r} l(x).

**Candidate masks** (SAM, GrabCut) compete inside a prompt's domain ``D`` (its box and the
candidates): hypotheses "the edit is candidate m_j" (prior ``pi_c * q_j``, ``q_j`` the
candidates' normalised quality weights) and "nothing is edited here" (prior ``1 - pi_c``). A
prompt is not an arbitrary region: the map already flagged it, so its prior ``pi_c``
(``candidate_prior``) is the map's own, ``neutral``, not the small ``region_prior``. A labelling's
evidence is ``w * sum_{x in m_j} l(x)`` with ``w = s(|D|) / |D|`` (the same tempering). The
posterior probability that ``x`` lies in the edit is ``P_in(x) = sum_j P(m_j) [x in m_j]``;
pixels outside every domain form one more region, scored with the region formula.

**Pixels.** A region is not perfectly aligned with an edit: a pixel shares its region's label
with probability ``purity`` (rho). The region posterior gives the pixel the prior
``q(x) = rho * P_in + (1 - rho) * (1 - P_in)``, and the pixel's own evidence is added with a
weight ``pixel_weight`` (beta < 1: it was already counted once in its region):

    logit P(y_x = 1 | c) = logit(q(x)) + beta * l(x).

So a pixel follows its region unless its own evidence is strong: a pixel in a confidently
edited region is dropped only where ``l < -logit(rho) / beta`` (with the defaults practically
never: the coarse map is too blurry to overrule a region pixel by pixel), while within a region
the pixel term keeps the map's ranking, which the AUC and best-F1 figures measure.

**Prompts** (SAM, GrabCut; see :mod:`imlforensic.refiners.prompts`): the coarse map thresholded
at ``neutral`` is split into connected components of at least ``min_area`` pixels (the
image-score rule of :mod:`imlforensic.maps`); each gives a box (its bounding box, and a tighter
one around its core, the pixels above the midpoint between ``neutral`` and its maximum) and a
point at its maximum (used only by segmenters that take point prompts).

Defaults (principle first, then one check on the development set, global values only):
``neutral`` = 0.3, below the usual 0.5 threshold, because detection thresholds are image-level
operating points (the classical views put 0.5 where only 5 % of authentic photos reach it
anywhere, while their median authentic pixel sits at 0.05): a pixel at 0.3 is already evidence.
``region_prior`` = 0.15: edits are small, in an edited image an arbitrary region is a priori
unlikely to be part of the edit (public benchmarks' edits cover roughly 5-20 % of the image);
a prompted area (already flagged by the map) gets ``candidate_prior`` = ``neutral``. Together they
move the mask outline without making masks larger on average on authentic images.
``corr_length`` = 1/32 of the short side matches the smoothing of the classical views (a
Gaussian of sigma = short side / 64, correlated over about two sigma); ``purity`` = 0.85 and
``pixel_weight`` = 0.25 let regions dominate; ``max_samples`` = 4. For a map decided at another
threshold, :meth:`FusionParams.for_threshold` keeps ``neutral`` at the same log-odds below it.
The dev-set check (a small sweep of ``neutral`` and ``region_prior``) is in docs/BENCHMARKS.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace

import numpy as np

from imlforensic.maps import sigmoid


@dataclass(frozen=True)
class FusionParams:
    """The few global parameters of the fusion (see the module docstring)."""

    neutral: float = 0.3
    region_prior: float | None = 0.15  # None: the map's own prior, ``neutral``
    prompt_level: float | None = None  # None: ``neutral``; where prompts are placed (see prompts.py)
    candidate_prior: float | None = None  # None: ``neutral``; prior of "an edit here" for a prompted area
    corr_length: float = 1.0 / 32.0
    max_samples: float = 4.0
    purity: float = 0.85
    pixel_weight: float = 0.25
    clip: float = 1e-3

    def __post_init__(self) -> None:
        for name in ("neutral", "region_prior", "purity", "prompt_level", "candidate_prior"):
            value = getattr(self, name)
            if value is not None and not 0.0 < value < 1.0:
                raise ValueError(f"{name} must lie strictly between 0 and 1, got {value}")
        if self.corr_length <= 0 or self.max_samples <= 0 or self.pixel_weight < 0:
            raise ValueError("corr_length and max_samples must be positive, pixel_weight non-negative")
        if not 0.0 < self.clip < 0.5:
            raise ValueError("clip must lie in (0, 0.5)")

    @property
    def prompt_threshold(self) -> float:
        return self.neutral if self.prompt_level is None else self.prompt_level

    @property
    def prompt_prior(self) -> float:
        return self.neutral if self.candidate_prior is None else self.candidate_prior

    @property
    def prior(self) -> float:
        """The region prior pi (``region_prior``, by default the map's neutral point)."""
        return self.neutral if self.region_prior is None else self.region_prior

    def for_threshold(self, threshold: float) -> FusionParams:
        """These parameters for a map decided at ``threshold`` instead of 0.5: ``neutral`` keeps
        its log-odds distance below the threshold."""
        shift = float(np.log(self.neutral) - np.log1p(-self.neutral))
        z = float(np.log(np.clip(threshold, 0.01, 0.99)) - np.log1p(-np.clip(threshold, 0.01, 0.99))) + shift
        return replace(self, neutral=float(np.clip(1.0 / (1.0 + np.exp(-z)), 0.01, 0.99)))

    def with_overrides(self, **overrides: float) -> FusionParams:
        known = {f.name for f in fields(self)}
        unknown = set(overrides) - known
        if unknown:
            raise ValueError(
                f"unknown fusion parameter(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}"
            )
        return replace(self, **overrides)


def logit(p: np.ndarray | float) -> np.ndarray | float:
    return np.log(p) - np.log1p(-np.asarray(p)) if isinstance(p, np.ndarray) else float(np.log(p) - np.log1p(-p))


def evidence(coarse: np.ndarray, params: FusionParams) -> np.ndarray:
    """Per-pixel log-likelihood ratio ``l(x)`` of "edited" vs "authentic"."""
    c = np.clip(np.asarray(coarse, dtype=np.float64), params.clip, 1.0 - params.clip)
    return (np.log(c) - np.log1p(-c) - logit(params.neutral)).astype(np.float32)


def correlation_area(shape: tuple[int, int], params: FusionParams) -> float:
    return max(1.0, (params.corr_length * min(shape)) ** 2)


def effective_samples(n: np.ndarray | float, shape: tuple[int, int], params: FusionParams) -> np.ndarray:
    """Tempered number of independent observations in a region of ``n`` pixels."""
    n = np.asarray(n, dtype=np.float64)
    return n / (correlation_area(shape, params) + n / params.max_samples)


def region_posteriors(labels: np.ndarray, ell: np.ndarray, params: FusionParams) -> np.ndarray:
    """Posterior ``P(z_r = 1)`` for every label ``r`` in ``labels`` (non-negative ints), indexed by label."""
    flat = labels.ravel()
    counts = np.bincount(flat).astype(np.float64)
    sums = np.bincount(flat, weights=ell.ravel().astype(np.float64), minlength=counts.size)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.maximum(counts, 1.0), 0.0)
    log_odds = logit(params.prior) + effective_samples(counts, labels.shape, params) * means
    return sigmoid(log_odds)


def pixel_posterior(p_in: np.ndarray, ell: np.ndarray, params: FusionParams) -> np.ndarray:
    """Combine the region posterior seen by each pixel with the pixel's own evidence."""
    rho = params.purity
    q = np.clip(rho * p_in + (1.0 - rho) * (1.0 - p_in), 1e-6, 1.0 - 1e-6).astype(np.float64)
    return sigmoid(np.log(q) - np.log1p(-q) + params.pixel_weight * ell)


@dataclass
class FusionResult:
    posterior: np.ndarray  # H x W float32 in [0, 1]
    region_probability: np.ndarray  # H x W: P_in(x), the region-level posterior each pixel sees
    details: dict = field(default_factory=dict)


def fuse_partition(labels: np.ndarray, coarse: np.ndarray, params: FusionParams | None = None) -> FusionResult:
    """Posterior map from a partition (one integer label per pixel) and a coarse map."""
    params = params or FusionParams()
    labels = np.asarray(labels)
    if labels.shape != coarse.shape:
        raise ValueError(f"partition shape {labels.shape} differs from map shape {coarse.shape}")
    _, dense = np.unique(labels, return_inverse=True)
    dense = dense.reshape(labels.shape)
    ell = evidence(coarse, params)
    p_regions = region_posteriors(dense, ell, params)
    p_in = p_regions[dense]
    return FusionResult(
        posterior=pixel_posterior(p_in, ell, params),
        region_probability=p_in.astype(np.float32),
        details={"regions": int(p_regions.size), "regions_edited": int((p_regions >= 0.5).sum())},
    )


@dataclass
class CandidateGroup:
    """Candidate masks proposed for one prompt, competing inside ``domain``."""

    domain: np.ndarray  # bool H x W (the prompt box); candidates are added to it
    candidates: list[np.ndarray]  # bool H x W each
    weights: Sequence[float] | None = None  # relative prior weights (e.g. SAM's predicted IoU)


def candidate_posteriors(group: CandidateGroup, ell: np.ndarray, params: FusionParams) -> tuple[np.ndarray, float]:
    """Posterior of each candidate being the edit, and of "nothing edited here"."""
    domain = group.domain.copy()
    for mask in group.candidates:
        domain |= mask
    n_domain = max(1, int(domain.sum()))
    w = float(effective_samples(n_domain, ell.shape, params)) / n_domain
    J = len(group.candidates)
    weights = np.ones(J) if group.weights is None else np.clip(np.asarray(group.weights, dtype=np.float64), 1e-3, None)
    weights = weights / weights.sum()
    log_prior = np.log(params.prompt_prior) + np.log(weights)
    log_evidence = np.array([w * float(ell[mask].sum()) for mask in group.candidates])
    scores = np.concatenate([log_prior + log_evidence, [np.log1p(-params.prompt_prior)]])
    scores -= scores.max()
    probs = np.exp(scores)
    probs /= probs.sum()
    return probs[:J], float(probs[J])


def fuse_candidates(
    groups: list[CandidateGroup], coarse: np.ndarray, params: FusionParams | None = None
) -> FusionResult:
    """Posterior map from candidate masks for prompted areas (SAM, GrabCut) and a coarse map."""
    params = params or FusionParams()
    ell = evidence(coarse, params)
    shape = coarse.shape
    p_in = np.zeros(shape, dtype=np.float32)
    covered = np.zeros(shape, dtype=bool)
    chosen = []
    for group in groups:
        if not group.candidates:
            continue
        probs, p_none = candidate_posteriors(group, ell, params)
        group_p = np.zeros(shape, dtype=np.float32)
        for p, mask in zip(probs, group.candidates):
            group_p[mask] += p
        np.maximum(p_in, np.minimum(group_p, 1.0), out=p_in)
        covered |= group.domain
        for mask in group.candidates:
            covered |= mask
        chosen.append({"candidates": [round(float(p), 4) for p in probs], "none": round(p_none, 4)})
    rest = ~covered
    if rest.any():
        n = float(rest.sum())
        log_odds = logit(params.prior) + float(effective_samples(n, shape, params)) * float(ell[rest].mean())
        p_in[rest] = float(sigmoid(np.array(log_odds)))
    return FusionResult(
        posterior=pixel_posterior(p_in, ell, params),
        region_probability=p_in,
        details={"groups": chosen},
    )
