"""imlforensic: find and outline the edited regions of an image.

Layout (each layer only calls the ones below it)::

    cli/        Typer commands: argument parsing, exit codes, progress
    pipeline/   input expansion, the per-image run (method -> refiner -> outputs), batches
    views/      classical forensic views (no weights): signed error levels, noise residuals
    registry/   named models with lazily loaded, verified weights
    metrics/    pixel- and image-level metrics, dataset evaluation
    data/       dataset folder readers
    io/         image decoding, hashing, atomic output writing
"""

import os
from importlib.metadata import PackageNotFoundError, version

# OpenMP threads (PyTorch, OpenCV) spin while waiting by default, which makes a CPU run several
# times slower when other processes share the cores. Passive waiting costs little when the
# machine is idle. Set before any of those libraries load; the user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

try:
    __version__ = version("imlforensic")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.1.0"

__all__ = ["__version__"]
