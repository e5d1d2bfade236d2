"""Checkpoints as safetensors: tensors plus JSON metadata (config, classes, data, commit).

No pickled objects: loading a checkpoint cannot execute code. A checkpoint given with
``--weights`` is untrusted: :func:`load_model` checks its metadata (types and bounds of every
field it reads, :data:`CONFIG_RULES`) and its tensors' names, shapes and dtypes against the
declared configuration before it builds anything. The optimizer state needed to
resume training is kept beside it (``*.train-state.pt``, tensors and numbers only, loaded with
``torch.load(weights_only=True)``).
"""

from __future__ import annotations

import json
import math
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from imlforensic.io.atomic import atomic_path
from imlforensic.io.paths import printable
from imlforensic.models.backbones import LITE_PACKAGES
from imlforensic.models.inputs import VIEW_KINDS
from imlforensic.models.network import CAMEnsemble, MultiViewCAMNet, NetworkConfig
from imlforensic.models.transcam import TransCAMConfig, TransCAMNet

FORMAT = "imlforensic.multiview-cam/1"
TRANSCAM_FORMAT = "imlforensic.transcam/1"
"""The dual-stream network's checkpoints (:mod:`imlforensic.models.transcam`): same layout, other
configuration fields, never an ensemble."""
FORMATS = (FORMAT, TRANSCAM_FORMAT)

Localizer = MultiViewCAMNet | CAMEnsemble | TransCAMNet


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


def save_checkpoint(path: Path, model: Localizer, metadata: dict[str, Any]) -> None:
    """Write weights and metadata atomically. ``metadata`` values must be JSON-serialisable.
    An ensemble is one file: its members' tensors under ``members.N.`` and ``members`` = N."""
    path = Path(path)
    kind = TRANSCAM_FORMAT if isinstance(model, TransCAMNet) else FORMAT
    header = {"format": kind, "config": json.dumps(model.config.as_dict())}
    if isinstance(model, CAMEnsemble):
        header["members"] = json.dumps(len(model.members))
    header.update({key: json.dumps(value) for key, value in metadata.items()})
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=header)


MAX_MEMBERS = 8
"""Most networks an ensemble checkpoint may declare (the shipped one has 2)."""
MAX_METADATA_VALUE_BYTES = 1 << 20
KNOWN_BACKBONES = tuple(LITE_PACKAGES)
_FLOAT_DTYPES = frozenset({"F16", "BF16", "F32", "F64"})
_INTEGER_DTYPES = frozenset({"I8", "I16", "I32", "I64", "U8"})


def _is_int(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _distinct_list(value: Any, item: Callable[[Any], bool], longest: int) -> bool:
    return (
        isinstance(value, list)
        and 0 < len(value) <= longest
        and all(item(v) for v in value)
        and len(set(value)) == len(value)
    )


CONFIG_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "backbone": (lambda v: v in KNOWN_BACKBONES, "one of " + ", ".join(KNOWN_BACKBONES)),
    "views": (
        lambda v: _distinct_list(v, lambda x: x in VIEW_KINDS, len(VIEW_KINDS)),
        "a list of distinct views among " + ", ".join(VIEW_KINDS),
    ),
    "input_scale": (lambda v: _is_int(v, 1, 8), "an integer from 1 to 8"),
    "qualities": (
        lambda v: _distinct_list(v, lambda x: _is_int(x, 1, 100), 16),
        "a list of up to 16 distinct JPEG qualities (1-100)",
    ),
    "blocks": (
        lambda v: _distinct_list(v, lambda x: _is_int(x, 0, 4), 5) and v == sorted(v),
        "an increasing list of feature stages (0-4)",
    ),
    "head_width": (lambda v: _is_int(v, 1, 512), "an integer from 1 to 512"),
    "top_fraction": (lambda v: _is_number(v) and 0 < v <= 1, "a number in (0, 1]"),
}
"""What each field of a checkpoint's ``config`` may hold: bounded, so that nothing a file declares
can make building its network slow or large (an unknown backbone, 400 members, a huge head)."""

TRANSCAM_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    **CONFIG_RULES,
    "blocks": (lambda v: isinstance(v, list) and len(v) == 1 and _is_int(v[0], 1, 4), "one feature stage (1-4)"),
    "first_stage": (lambda v: _is_int(v, 0, 6), "an integer from 0 to 6"),
    "depths": (
        lambda v: isinstance(v, list) and 0 < len(v) <= 7 and all(_is_int(d, 0, 12) for d in v),
        "up to 7 depths of 0-12",
    ),
    "embed_dim": (lambda v: _is_int(v, 8, 768), "an integer from 8 to 768"),
    "heads": (lambda v: _is_int(v, 1, 16), "an integer from 1 to 16"),
    "mlp_ratio": (lambda v: _is_number(v) and 0.25 <= v <= 8, "a number from 0.25 to 8"),
    "token_stride": (lambda v: v in (8, 16, 32), "8, 16 or 32"),
}
"""The dual-stream network's fields, as bounded (a Transformer 12 x 768 wide at most)."""


@dataclass(frozen=True)
class Header:
    """What a safetensors file declares, read by safetensors without loading any tensor."""

    metadata: dict[str, str]
    tensors: dict[str, tuple[tuple[int, ...], str]]  # name -> (shape, safetensors dtype such as "F32")


def read_header(path: Path) -> Header:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {}
            for name in handle.keys():
                tensor = handle.get_slice(name)
                tensors[name] = (tuple(tensor.get_shape()), tensor.get_dtype())
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{_name(path)}: not a readable safetensors checkpoint ({_first_line(exc)})") from None
    return Header(metadata=metadata, tensors=tensors)


def read_metadata(path: Path) -> dict[str, Any]:
    """The checkpoint's metadata, each value decoded from JSON (``format`` excepted) and checked."""
    return _parse_metadata(path, read_header(path).metadata)


def _parse_metadata(path: Path, raw: dict[str, str]) -> dict[str, Any]:
    kind = raw.get("format")
    if kind not in FORMATS:
        raise CheckpointError(f"{_name(path)}: not an imlforensic localizer checkpoint (format {str(kind)[:60]!r})")
    metadata: dict[str, Any] = {"format": kind}
    for key, value in raw.items():
        if key == "format":
            continue
        if len(value) > MAX_METADATA_VALUE_BYTES:
            raise CheckpointError(
                f"{_name(path)}: metadata {key[:60]!r} is {len(value):,} characters long (at most {MAX_METADATA_VALUE_BYTES:,})"
            )
        try:
            metadata[key] = json.loads(value)
        except ValueError as exc:
            raise CheckpointError(f"{_name(path)}: metadata {key[:60]!r} is not JSON ({_first_line(exc)})") from None
    _check_metadata(path, metadata)
    return metadata


def _check_metadata(path: Path, metadata: dict[str, Any]) -> None:
    """The fields the loader and the localizer read, with their types and bounds."""
    config = metadata.get("config")
    if not isinstance(config, dict):
        raise CheckpointError(f"{_name(path)}: metadata 'config' is missing or not an object")
    transcam = metadata["format"] == TRANSCAM_FORMAT
    for key, (valid, wanted) in (TRANSCAM_RULES if transcam else CONFIG_RULES).items():
        if key in config and not valid(config[key]):
            raise CheckpointError(f"{_name(path)}: config {key!r} is {_shown(config[key])}; it must be {wanted}")
    if "sel" in config.get("views", ()) and config.get("input_scale", 1) != 1:
        raise CheckpointError(f"{_name(path)}: config: the 'sel' view needs input_scale 1")
    if transcam and "members" in metadata:
        raise CheckpointError(f"{_name(path)}: a transcam checkpoint holds one network, not an ensemble")
    if "members" in metadata and not _is_int(metadata["members"], 0, MAX_MEMBERS):
        raise CheckpointError(
            f"{_name(path)}: metadata 'members' is {_shown(metadata['members'])}; it must be an integer from 0 to {MAX_MEMBERS}"
        )
    thresholds = metadata.get("thresholds", {})
    if not isinstance(thresholds, dict) or not all(
        isinstance(t, dict) and ("threshold" not in t or (_is_number(t["threshold"]) and 0 <= t["threshold"] <= 1))
        for t in thresholds.values()
    ):
        raise CheckpointError(
            f"{_name(path)}: metadata 'thresholds' must map names to objects with a 'threshold' in [0, 1]"
        )
    background = metadata.get("background", {})
    if not isinstance(background, dict) or background.get("logit") is not None and not _is_number(background["logit"]):
        raise CheckpointError(
            f"{_name(path)}: metadata 'background' must be an object whose 'logit' is a finite number or null"
        )


def _network(config: NetworkConfig) -> MultiViewCAMNet | TransCAMNet:
    """The network a configuration describes, without ImageNet weights."""
    if isinstance(config, TransCAMConfig):
        return TransCAMNet(config, imagenet_init=False)
    return MultiViewCAMNet(config, imagenet_init=False)


def expected_tensors(config: NetworkConfig, members: int) -> dict[str, tuple[tuple[int, ...], bool]]:
    """Name -> (shape, floating point?) of every tensor the configuration's network holds.

    The network is built on PyTorch's ``meta`` device: structure and shapes, no memory, no data.
    """
    with torch.device("meta"):
        state = _network(config).state_dict()
    prefixes = [f"members.{i}." for i in range(members)] if members else [""]
    return {
        prefix + key: (tuple(value.shape), value.is_floating_point())
        for prefix in prefixes
        for key, value in state.items()
    }


def _check_tensors(
    path: Path, found: dict[str, tuple[tuple[int, ...], str]], expected: dict[str, tuple[tuple[int, ...], bool]]
) -> None:
    missing = [name for name in expected if name not in found]
    unexpected = [name for name in found if name not in expected]
    for names, what in ((missing, "misses"), (unexpected, "has an unexpected")):
        if names:
            more = f" (and {len(names) - 1} more)" if len(names) > 1 else ""
            raise CheckpointError(f"{_name(path)}: {what} tensor {names[0][:120]!r}{more} for its configuration")
    for name, (shape, floating) in expected.items():
        found_shape, dtype = found[name]
        if found_shape != shape:
            raise CheckpointError(
                f"{_name(path)}: tensor {name!r} has shape {found_shape}, its configuration needs {shape}"
            )
        if dtype not in (_FLOAT_DTYPES if floating else _INTEGER_DTYPES):
            kind = "floating-point" if floating else "integer"
            raise CheckpointError(f"{_name(path)}: tensor {name!r} is {dtype}, its configuration needs a {kind} tensor")


def load_model(path: Path, device: str = "cpu") -> tuple[Localizer, dict[str, Any]]:
    """Rebuild the network (or ensemble) from a checkpoint (no ImageNet download or package needed);
    a :data:`TRANSCAM_FORMAT` file gives a :class:`~imlforensic.models.transcam.TransCAMNet`.

    The file is untrusted: its metadata, its configuration and every tensor's name, shape and
    dtype are checked against what the configuration builds before anything is built or read
    (:class:`CheckpointError`, one line, otherwise)."""
    header = read_header(path)
    metadata = _parse_metadata(path, header.metadata)
    transcam = metadata["format"] == TRANSCAM_FORMAT
    config = (TransCAMConfig if transcam else NetworkConfig).from_dict(metadata["config"])
    members = int(metadata.get("members", 0))
    try:
        expected = expected_tensors(config, members)
    except ValueError as exc:  # a configuration the network cannot be built from (depths vs stages)
        raise CheckpointError(f"{_name(path)}: config: {_first_line(exc)}") from None
    _check_tensors(path, header.tensors, expected)
    model: Localizer = (
        CAMEnsemble([MultiViewCAMNet(config, imagenet_init=False) for _ in range(members)])
        if members
        else _network(config)
    )
    try:
        model.load_state_dict(load_file(str(path)), strict=True)
    except (RuntimeError, SafetensorError) as exc:
        raise CheckpointError(
            f"{_name(path)}: weights do not fit the recorded configuration ({_first_line(exc)})"
        ) from None
    return model.to(device).eval(), metadata


def _name(path: Path) -> str:
    return printable(str(path))


def _shown(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
