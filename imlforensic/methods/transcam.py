"""``transcam``: the CNN-Transformer dual-stream localizer of paper 3 behind the method contract.

The network (:mod:`imlforensic.models.transcam`) gives three maps at the resolution of its patch
tokens, as logits; the registry entries read one each:

* ``transcam``: the CNN's class activation map refined by the Transformer's patch affinity
  (``p' = A p``, the method's map; why this reading, in the model's docstring);
* ``transcam-cam``: the class activation map alone;
* ``transcam-attention``: the class token's attention to the patches alone (scaled by the class
  token's image probability).

Inference is the learned localizer's (:class:`~imlforensic.methods.mvcam.LearnedLocalizer`): the
views computed on the whole image at its own resolution, one pass up to ``tile`` view pixels a
side, overlapping tiles (origins on the 32-pixel grid, blended) beyond, the large-picture path
above 4.2 megapixels, the map enlarged bilinearly to the image and the score pooled from it
(:func:`imlforensic.maps.pool_score`), so score and map agree. Differences from ``mvcam-net``:
tiles are at most 640 view pixels (1280 image pixels) a side, because self-attention costs grow
with the square of the number of tokens (640 / 16 = 40 x 40 = 1600 tokens), and the mirror image is
not read (one pass instead of two, for the time budget of a 1-megapixel picture), so the
Transformer's attention spans the whole picture up to 1280 x 1280 pixels and a tile beyond.

Without trained weights (``weights/transcam-lite0.safetensors`` is not shipped until a training run
has made it) the method fails with the registry's one-line "weights ... are not installed"; a
checkpoint made by ``imlforensic train --network transcam`` runs with ``--weights FILE``.
"""

from __future__ import annotations

import torch

from imlforensic.methods.mvcam import LearnedLocalizer
from imlforensic.models.checkpoint import CheckpointError, load_model
from imlforensic.models.folding import fold_batch_norms
from imlforensic.models.transcam import TransCAMNet
from imlforensic.registry.registry import BuildContext

MAPS = {
    "product": "logit_map",
    "cam": "cam_logit_map",
    "attention": "attention_logit_map",
    "cam-x-attention": "cam_attention_logit_map",
}
"""Registry ``extra["map"]`` -> the network output read (module docstring; ``cam-x-attention``, the
CAM times the class token's attention cell by cell, is read by the benchmark only)."""
TILE = 640
OVERLAP = 128


def build(context: BuildContext) -> LearnedLocalizer:  # registry builder
    entry = context.entry
    assert context.weights_path is not None and context.device is not None
    model, metadata = load_model(context.weights_path, device=context.device)
    if not isinstance(model, TransCAMNet):
        raise CheckpointError(f"{context.weights_path}: not a transcam checkpoint (train one with --network transcam)")
    fold_batch_norms(model)
    reading = str(entry.extra.get("map", "product"))
    chosen = metadata.get("thresholds", {}).get("network", {}) if reading == "product" else {}
    background = metadata.get("background", {}).get("logit") if reading == "product" else None
    return LearnedLocalizer(
        model=model.to(memory_format=torch.channels_last),
        device=context.device,
        card=context.card,
        default_threshold=float(chosen.get("threshold", entry.default_threshold)),
        tile=TILE,
        overlap=OVERLAP,
        flip=False,
        background=None if background is None else float(background),
        map_key=MAPS[reading],
    )
