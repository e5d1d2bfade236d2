"""The shared model registry and the built-in entries.

Registering an entry imports nothing heavy; see :mod:`imlforensic.registry.registry`.
"""

from imlforensic.registry.registry import ModelEntry, Registry, UnknownModelError, resolve_device
from imlforensic.registry.weights import BundledFile, DownloadedFile, LocalFile, PackageFile, WeightsError

REGISTRY = Registry()

# sha256 of weights/mvcam-lite0.safetensors, produced by scripts/train_default.py --install
MVCAM_SHA256 = "1b4f7a9996b908ab9fb952c9c002d3e3171dc74fcdd482b1e705581def29e4e8"

_PAPER_WCBNET = "Wang & Abhayaratne, WCBnet, MMSP 2023 (signed error levels); Farid, JPEG ghosts, TIFS 2009"

REGISTRY.register(ModelEntry(
    name="sel",
    task="detector",
    version="1.0",
    summary="Signed error levels: inconsistency of JPEG recompression error profiles (no weights)",
    builder="imlforensic.views.classical:build",
    reference=_PAPER_WCBNET,
    extra={"view": "sel"},
))
REGISTRY.register(ModelEntry(
    name="noise",
    task="detector",
    version="1.0",
    summary="Noise-residual inconsistency: local noise level vs the image's dominant level (no weights)",
    builder="imlforensic.views.classical:build",
    reference="Mahdian & Saic, Using noise inconsistencies for blind image forensics, IVC 2009",
    extra={"view": "noise"},
))
REGISTRY.register(ModelEntry(
    name="classical",
    task="detector",
    version="1.0",
    summary="Combination of the sel and noise views (no weights)",
    builder="imlforensic.views.classical:build",
    reference=_PAPER_WCBNET,
    extra={"view": "classical"},
))

def _mvcam_entry(name: str, version: str, summary: str, fuse_sel: bool) -> ModelEntry:
    """The shipped learned localizer (both entries load the same weights)."""
    return ModelEntry(
        name=name,
        task="detector",
        version=version,
        summary=summary,
        builder="imlforensic.models.localizer:build",
        weights=BundledFile("mvcam-lite0.safetensors", sha256=MVCAM_SHA256),
        uses_torch=True,
        requires=("timm",),
        reference="Wang & Abhayaratne, Weakly-supervised localization of manipulated image regions using "
                  "multi-resolution learned features, BMVC-W 2024; WCBnet, MMSP 2023",
        fallback="classical",
        extra={"fuse_sel": fuse_sel},
    )


REGISTRY.register(_mvcam_entry(
    "mvcam", "2.2",
    "Weakly supervised localizer: multi-view (JPEG ghost, noise residual, double quantisation), multi-resolution "
    "CAMs read as a product, trained from image-level labels (two EfficientNet-Lite0); sel and copy-move evidence added "
    "(the copy-move evidence shared between the two regions of a pair, natural repetition set aside)",
    fuse_sel=True,
))
REGISTRY.register(_mvcam_entry(
    "mvcam-net", "2.0", "The mvcam network's map alone, without the sel and copy-move views (for comparison)",
    fuse_sel=False,
))

DEFAULT_METHOD = "mvcam"

# Segmentation refiners (issue 4): superpixel, grabcut, sam*, deeplab*; see imlforensic/refiners/.
from imlforensic.refiners.entries import register_segmenters  # noqa: E402

register_segmenters(REGISTRY)

__all__ = [
    "REGISTRY",
    "DEFAULT_METHOD",
    "ModelEntry",
    "Registry",
    "UnknownModelError",
    "resolve_device",
    "BundledFile",
    "DownloadedFile",
    "LocalFile",
    "PackageFile",
    "WeightsError",
]
