"""The shared model registry, with the built-in methods and refiners registered.

Registering an entry imports nothing heavy; see :mod:`imlforensic.registry.registry`. The
registry depends on no method or refiner: they depend on it.
"""

from imlforensic.registry.builtin import DEFAULT_METHOD, MVCAM_SHA256, register_builtin
from imlforensic.registry.cards import LOCALIZER_CLASSES, ModelCard, input_card
from imlforensic.registry.plugins import register_plugins
from imlforensic.registry.registry import (
    DEVICE_PATTERN,
    BuildContext,
    ModelEntry,
    Registry,
    UnknownModelError,
    resolve_device,
)
from imlforensic.registry.weights import BundledFile, DownloadedFile, LocalFile, PackageFile, WeightsError, WeightSource

REGISTRY = Registry()
register_builtin(REGISTRY)
register_plugins(REGISTRY)  # other packages' methods and refiners (entry point group imlforensic.registry)

__all__ = [
    "REGISTRY",
    "DEFAULT_METHOD",
    "DEVICE_PATTERN",
    "LOCALIZER_CLASSES",
    "MVCAM_SHA256",
    "BuildContext",
    "ModelCard",
    "ModelEntry",
    "Registry",
    "UnknownModelError",
    "input_card",
    "resolve_device",
    "BundledFile",
    "DownloadedFile",
    "LocalFile",
    "PackageFile",
    "WeightsError",
    "WeightSource",
]
