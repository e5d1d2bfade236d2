"""A registry of named models shared by every command (in the spirit of timm's registry).

An entry only *describes* a model: its name, task, version, weights source and a builder
given as ``"module:function"``. Nothing is imported or loaded until a command asks for the
model; then it is built once per process and device and cached.

A builder has the signature ``builder(entry, weights_path, device) -> object`` where
``weights_path`` is ``None`` for models without weights and ``device`` is a resolved device
string (``"cpu"``, ``"cuda:0"``) or ``None`` for models that do not use torch.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Literal

from imlforensic.registry.weights import WeightsError, WeightSource, file_sha256

Task = Literal["detector", "segmenter", "classifier", "backbone"]


class UnknownModelError(KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


@dataclass(frozen=True)
class ModelEntry:
    name: str
    task: Task
    version: str
    summary: str
    builder: str  # "package.module:function", imported lazily
    weights: WeightSource | None = None
    requires: tuple[str, ...] = ()  # importable modules the builder needs
    uses_torch: bool = False
    reference: str = ""  # paper or source the method follows
    default_threshold: float = 0.5
    fallback: str | None = None  # entry to use when these weights are absent
    extra: dict[str, Any] = field(default_factory=dict)

    def missing_modules(self) -> list[str]:
        needed = (("torch",) if self.uses_torch else ()) + self.requires
        return [module for module in needed if importlib.util.find_spec(module) is None]

    def state(self) -> str:
        """``ready``, ``needs download``, ``missing weights`` or ``missing dependency: ...``."""
        missing = self.missing_modules()
        if missing:
            return "missing dependency: " + ", ".join(missing)
        if self.weights is None:
            return "ready"
        state = self.weights.state()
        return "missing weights" if state == "missing" else state


DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")


def resolve_device(spec: str) -> str:
    """Turn ``auto|cpu|cuda|cuda:N|mps`` into a concrete torch device string."""
    if not DEVICE_PATTERN.match(spec):
        raise ValueError(f"unknown device {spec!r}; use auto, cpu, cuda, cuda:N or mps")
    import torch

    if spec == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {spec!r} requested but CUDA is not available on this machine")
        index = int(spec.split(":")[1]) if ":" in spec else 0
        if index >= torch.cuda.device_count():
            raise ValueError(f"device {spec!r} requested but only {torch.cuda.device_count()} CUDA device(s) exist")
        return f"cuda:{index}"
    return spec


class Registry:
    def __init__(self) -> None:
        self._entries: dict[str, ModelEntry] = {}
        self._loaded: dict[tuple[str, str | None], Any] = {}
        self._weights_sha: dict[str, str | None] = {}
        self._lock = threading.Lock()

    def register(self, entry: ModelEntry) -> ModelEntry:
        if entry.name in self._entries:
            raise ValueError(f"model {entry.name!r} is already registered")
        self._entries[entry.name] = entry
        return entry

    def use_weights(self, name: str, path: str | Path) -> ModelEntry:
        """Make entry ``name`` load the checkpoint at ``path`` (``--weights``) instead of its own.

        The entry keeps its name (so its method notes and options still apply), its version gains
        ``+local`` and outputs record the file's computed sha256. Raises ``ValueError`` for an entry
        without weights or a path that is not a file.
        """
        from imlforensic.registry.weights import LocalFile

        entry = self.entry(name)
        if entry.weights is None:
            raise ValueError(f"{name!r} has no weights to replace")
        path = Path(path).expanduser()
        if not path.is_file():
            raise ValueError(f"weights {path}: no such file")
        local = replace(
            entry, weights=LocalFile(str(path.resolve())), version=entry.version.split("+")[0] + "+local",
            summary=f"{entry.summary} [weights: {path}]", fallback=None,
        )
        with self._lock:
            self._entries[name] = local
            self._weights_sha.pop(name, None)
            self._loaded = {key: model for key, model in self._loaded.items() if key[0] != name}
        return local

    def entry(self, name: str) -> ModelEntry:
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries))
            raise UnknownModelError(f"unknown model {name!r}; known models: {known}") from None

    def entries(self, task: Task | None = None) -> list[ModelEntry]:
        return [e for e in self._entries.values() if task is None or e.task == task]

    def names(self, task: Task | None = None) -> list[str]:
        return [e.name for e in self.entries(task)]

    def weights_path(self, name: str) -> Path | None:
        """Local path of the entry's weights; raises :class:`WeightsError` if they are not present."""
        entry = self.entry(name)
        if entry.weights is None:
            return None
        path = entry.weights.locate()
        if path is None:
            how = (
                f"run `imlforensic models fetch {name}`"
                if entry.weights.state() == "needs download"
                else f"expected {entry.weights.describe()}"
            )
            raise WeightsError(f"weights for {name!r} are not installed: {how}")
        return path

    def weights_sha256(self, name: str) -> str | None:
        """sha256 of the entry's weights file (computed once per process; None without weights)."""
        if name not in self._weights_sha:
            path = self.weights_path(name)
            expected = getattr(self.entry(name).weights, "sha256", None)
            self._weights_sha[name] = None if path is None else (expected or file_sha256(path))
        return self._weights_sha[name]

    def load(self, name: str, device: str = "auto") -> Any:
        """Build the model (once per process and device) and return it."""
        entry = self.entry(name)
        missing = entry.missing_modules()
        if missing:
            raise ImportError(f"model {name!r} needs the Python package(s) {', '.join(missing)}")
        resolved = resolve_device(device) if entry.uses_torch else None
        key = (name, resolved)
        with self._lock:
            if key not in self._loaded:
                weights = self.weights_path(name)
                if weights is not None and isinstance(getattr(entry.weights, "sha256", None), str):
                    self._verify_once(name, weights)
                self._loaded[key] = _import_builder(entry.builder)(entry, weights, resolved)
            return self._loaded[key]

    def default_threshold(self, name: str, model: Any = None) -> float:
        """The threshold a method decides at: the loaded model's own (a learned checkpoint carries
        the one chosen in training), else its registry entry's."""
        if model is not None and hasattr(model, "default_threshold"):
            return float(model.default_threshold)
        return self.entry(name).default_threshold

    def _verify_once(self, name: str, path: Path) -> None:
        expected = self.entry(name).weights.sha256  # type: ignore[union-attr]
        if name in self._weights_sha:
            return
        actual = file_sha256(path)
        if actual != expected:
            raise WeightsError(
                f"weights for {name!r} at {path} do not match the registry (sha256 {actual[:16]}..., "
                f"expected {expected[:16]}...); delete the file and fetch it again"
            )
        self._weights_sha[name] = actual

    def is_loaded(self, name: str) -> bool:
        return any(key[0] == name for key in self._loaded)

    def clear(self) -> None:
        """Forget built models (tests use it to check laziness)."""
        with self._lock:
            self._loaded.clear()
            self._weights_sha.clear()


def _import_builder(spec: str) -> Callable[..., Any]:
    module_name, _, attribute = spec.partition(":")
    return getattr(importlib.import_module(module_name), attribute)
