"""``threeway``: the three-way classifier of paper 3 (real / partially edited / fully generated)
together with a localizer, so that ``generated`` is a verdict the tool can give.

Per picture (paper 3, section 3.6): the frozen extractor reads two 256 px windows at the picture's
native resolution (:func:`imlforensic.training.chain.inference_views`), their features are
averaged, and the classifier (:mod:`imlforensic.models.threeway`) gives ``p = (p_authentic,
p_manipulated, p_generated)``. The localizer (``mvcam`` by default) makes the map and the edit
score as it does on its own.

**Class probabilities.** The generated threshold ``t`` fitted when the checkpoint was calibrated
(on validation pictures of the training side, so that few real pictures are called generated)
is folded into the generated probability by a logit shift, ``g = sigmoid(logit(p_generated) -
logit(t))``, so that ``g > 1/2`` exactly when ``p_generated > t``. The rest, ``1 - g``, is split
between ``manipulated`` and ``authentic`` by the localizer's score ``s`` (the classifier's own
manipulated probability stays in the details: on real edits such as CASIA's it is near chance,
the localizer's evidence is what tells edits, as the paper's section 3.6 does). When ``g`` is
between 1/3 and 1/2 the split is widened just enough that ``generated`` is never the most probable
class, so the verdict is ``generated`` exactly when ``g > 1/2``.

**Maps.** For a ``generated`` verdict the finding is the whole picture: the heatmap is ``g``
everywhere (the mask covers the picture at the threshold, no patchwork), and the localizer's map
is kept as the extra view ``localizer``. Otherwise the heatmap is the localizer's.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch

from imlforensic.io.images import LoadedImage
from imlforensic.methods.base import Method, MethodOutput
from imlforensic.models.features import ExtractorError, FeatureExtractor, build_extractor, sha256_of
from imlforensic.models.threeway import ThreewayModel, load_threeway
from imlforensic.registry.cards import ModelCard
from imlforensic.registry.registry import BuildContext
from imlforensic.training.chain import INFERENCE_VIEWS, inference_views


def _logit(p: float) -> float:
    p = min(max(p, 1e-7), 1 - 1e-7)
    return math.log(p / (1 - p))


def combine(p_generated: float, threshold: float, score: float) -> dict[str, float]:
    """The method's class probabilities (see the module docstring)."""
    g = 1.0 / (1.0 + math.exp(-(_logit(p_generated) - _logit(threshold))))
    s = min(max(score, 0.0), 1.0)
    rest = 1.0 - g
    if g <= 0.5 and rest > 0:
        lead = max(s, 1 - s)
        need = min(1.0, g / rest + 1e-6)  # the larger of the other two must reach g
        if lead < need:
            s = need if s >= 0.5 else 1 - need
    return {"authentic": rest * (1 - s), "manipulated": rest * s, "generated": g}


class ThreewayMethod(Method):
    def __init__(
        self,
        card: ModelCard,
        localizer: Method,
        extractor: FeatureExtractor,
        model: ThreewayModel,
        views: int = INFERENCE_VIEWS,
    ) -> None:
        super().__init__(card, localizer.default_threshold)
        self.localizer = localizer
        self.extractor = extractor
        self.model = model.eval()
        self.views = views

    def classify(self, rgb: np.ndarray) -> np.ndarray:
        """The classifier's probabilities (authentic, manipulated, generated) of a picture."""
        features = self.extractor(inference_views(rgb, self.views)).mean(0, keepdims=True)
        return self.model.probabilities(torch.from_numpy(features))[0].numpy()

    def analyse(self, image: LoadedImage) -> MethodOutput:
        started = time.perf_counter()
        probs = self.classify(image.rgb)
        seconds = time.perf_counter() - started
        located = self.localizer.analyse(image)
        threshold = self.model.calibration.generated_threshold
        class_probs = combine(float(probs[2]), threshold, located.score)
        details = dict(located.details)
        details |= {f"classifier_{name}": float(p) for name, p in zip(("authentic", "manipulated", "generated"), probs)}
        details |= {"generated_threshold": threshold, "classifier_seconds": seconds}
        if class_probs["generated"] > 0.5:
            heatmap = np.full(located.heatmap.shape, class_probs["generated"], np.float32)
            views = dict(located.views) | {"localizer": located.heatmap}
            return MethodOutput(heatmap=heatmap, score=1.0, class_probs=class_probs, views=views, details=details)
        return MethodOutput(
            heatmap=located.heatmap,
            score=located.score,
            class_probs=class_probs,
            views=located.views,
            details=details,
        )


def extractor_weights(header: dict) -> Path | None:
    """The local backbone file a checkpoint trained on another extractor names (``timm:MODEL``),
    checked against the sha256 recorded at training; ``None`` for the built-in extractors."""
    recorded = header.get("extractor_weights")
    if not recorded:
        return None
    path = Path(str(recorded))
    if not path.is_file():
        raise ExtractorError(f"the checkpoint's extractor weights {path} are not on this machine")
    if sha256_of(path) != header.get("extractor_weights_sha256"):
        raise ExtractorError(f"{path} is not the extractor file the checkpoint was trained on (sha256 differs)")
    return path


def build(context: BuildContext) -> ThreewayMethod:  # registry builder
    from imlforensic.registry import REGISTRY

    entry = context.entry
    assert context.weights_path is not None and context.device is not None
    model, header = load_threeway(context.weights_path, device="cpu")
    localizer = REGISTRY.load(str(entry.extra.get("localizer", "mvcam")), context.device, expect=Method)
    extractor = build_extractor(str(header.get("extractor", "lite0")), extractor_weights(header), context.device)
    return ThreewayMethod(context.card, localizer, extractor, model, int(header.get("views", INFERENCE_VIEWS)))
