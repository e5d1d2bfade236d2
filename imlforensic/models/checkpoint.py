"""Checkpoints as safetensors: tensors plus JSON metadata (config, classes, data, commit).

No pickled objects: loading a checkpoint cannot execute code. The optimizer state needed to
resume training is kept beside it (``*.train-state.pt``, tensors and numbers only, loaded with
``torch.load(weights_only=True)``).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from imlforensic.models.network import CAMEnsemble, MultiViewCAMNet, NetworkConfig

FORMAT = "imlforensic.multiview-cam/1"


class CheckpointError(ValueError):
    """A file that is not a readable localizer checkpoint (one-line message)."""


def git_commit() -> str:
    """The project's git commit (with ``-dirty`` when there are uncommitted changes), or ``unknown``."""
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def save_checkpoint(path: Path, model: MultiViewCAMNet | CAMEnsemble, metadata: dict[str, Any]) -> None:
    """Write weights and metadata atomically. ``metadata`` values must be JSON-serialisable.
    An ensemble is one file: its members' tensors under ``members.N.`` and ``members`` = N."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {"format": FORMAT, "config": json.dumps(model.config.as_dict())}
    if isinstance(model, CAMEnsemble):
        header["members"] = json.dumps(len(model.members))
    header.update({key: json.dumps(value) for key, value in metadata.items()})
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=header)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def read_metadata(path: Path) -> dict[str, Any]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            raw = handle.metadata() or {}
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors checkpoint ({exc})") from None
    if raw.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an imlforensic localizer checkpoint (format {raw.get('format')!r})")
    return {key: (value if key == "format" else json.loads(value)) for key, value in raw.items()}


def load_model(path: Path, device: str = "cpu") -> tuple[MultiViewCAMNet | CAMEnsemble, dict[str, Any]]:
    """Rebuild the network (or ensemble) from a checkpoint (no ImageNet download or package needed)."""
    metadata = read_metadata(path)
    config = NetworkConfig.from_dict(metadata["config"])
    members = int(metadata.get("members", 0))
    model: MultiViewCAMNet | CAMEnsemble = (
        CAMEnsemble([MultiViewCAMNet(config, imagenet_init=False) for _ in range(members)])
        if members
        else MultiViewCAMNet(config, imagenet_init=False)
    )
    try:
        model.load_state_dict(load_file(str(path)), strict=True)
    except (RuntimeError, SafetensorError) as exc:
        raise CheckpointError(
            f"{path}: weights do not fit the recorded configuration ({str(exc).splitlines()[0]})"
        ) from None
    return model.to(device).eval(), metadata
