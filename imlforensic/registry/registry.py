"""A registry of named models shared by every command (in the spirit of timm's registry).

An entry only *describes* a model: its name, task, version, weights source and a builder given
as ``"module:function"``. Nothing is imported or loaded until a caller asks for the model; then
it is built once per process, entry and device, and cached.

* **Builders** have the signature ``builder(context: BuildContext) -> object``: the entry, the
  local path of its weights (``None`` for models without weights), the resolved torch device
  (``None`` for models that do not use torch) and the :class:`ModelCard` that outputs record.
  :meth:`Registry.load` checks that the built object is of the type the caller expects (a
  method, a refiner), so the registry itself imports no method or refiner module.
* **Aliases** (``alias_of``): an entry such as ``sam`` names a preference list of concrete
  entries; :meth:`Registry.resolve` (and so :meth:`Registry.load`) picks the first installed one,
  so outputs record the checkpoint that actually ran.
* **Local weights** (``--weights``, ``--sam-checkpoint``): :meth:`Registry.with_weights` returns a
  new entry that loads a user's file, for the caller to pass to :meth:`Registry.load`; the
  registered entry and other users of the registry are not affected.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TypeVar

from imlforensic.io.hashing import sha256_file
from imlforensic.io.messages import notice
from imlforensic.registry.cards import ModelCard
from imlforensic.registry.weights import LocalFile, WeightsError, WeightSource

Task = Literal["detector", "classifier", "segmenter"]
T = TypeVar("T")


class UnknownModelError(KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


@dataclass(frozen=True)
class ModelEntry:
    name: str
    task: Task
    version: str
    summary: str
    builder: str = ""  # "package.module:function", imported lazily (empty for aliases)
    weights: WeightSource | None = None
    requires: tuple[str, ...] = ()  # importable modules the builder needs
    uses_torch: bool = False
    reference: str = ""  # paper or source the method follows
    default_threshold: float = 0.5
    fallback: str | None = None  # entry to use when these weights are absent
    alias_of: tuple[str, ...] = ()  # an alias: the concrete entries it may run as, best first
    alias_notices: dict[str, str] = field(default_factory=dict)  # target -> notice when the alias runs as it
    classes: tuple[str, ...] = ("authentic", "manipulated")  # the verdicts the model's output can tell apart
    extra: dict[str, Any] = field(default_factory=dict)  # builder options

    @property
    def is_alias(self) -> bool:
        return bool(self.alias_of)

    def missing_modules(self) -> list[str]:
        needed = (("torch",) if self.uses_torch else ()) + self.requires
        return [module for module in needed if importlib.util.find_spec(module) is None]

    def key(self) -> tuple[str, str, str]:
        """What tells two entries' models apart in the cache (a local variant has its own)."""
        return self.name, self.version, self.weights.describe() if self.weights else ""


@dataclass(frozen=True)
class BuildContext:
    """What a builder gets (see the module docstring)."""

    entry: ModelEntry
    weights_path: Path | None
    device: str | None
    card: ModelCard


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
        self._loaded: dict[tuple[tuple[str, str, str], str | None], Any] = {}
        self._weights_sha: dict[str, str] = {}  # weights description -> sha256 (checked or computed)
        self._lock = threading.RLock()

    # -- entries ---------------------------------------------------------------------------
    def register(self, entry: ModelEntry) -> ModelEntry:
        if entry.name in self._entries:
            raise ValueError(f"model {entry.name!r} is already registered")
        for target in entry.alias_of:
            if target not in self._entries:
                raise ValueError(f"alias {entry.name!r}: register its target {target!r} first")
        self._entries[entry.name] = entry
        return entry

    def entry(self, name: str | ModelEntry) -> ModelEntry:
        if isinstance(name, ModelEntry):
            return name
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries))
            raise UnknownModelError(f"unknown model {name!r}; known models: {known}") from None

    def entries(self, task: Task | None = None) -> list[ModelEntry]:
        return [e for e in self._entries.values() if task is None or e.task == task]

    def names(self, task: Task | None = None) -> list[str]:
        return [e.name for e in self.entries(task)]

    def with_weights(
        self, name: str | ModelEntry, path: str | Path, summary: str | None = None, **changes: Any
    ) -> ModelEntry:
        """An entry like ``name`` that loads the checkpoint at ``path`` (``--weights``); not registered.

        It keeps the name (so its method notes and options still apply), its version gains
        ``+local`` and outputs record the file's computed sha256. Raises ``ValueError`` for an
        entry without weights or a path that is not a file.
        """
        entry = self.entry(name)
        if entry.weights is None or entry.is_alias:
            raise ValueError(f"{entry.name!r} has no weights to replace")
        file = Path(path).expanduser()
        if not file.is_file():
            raise ValueError(f"weights {file}: no such file")
        return replace(
            entry,
            weights=LocalFile(str(file.resolve())),
            version=entry.version.split("+")[0] + "+local",
            summary=summary or f"{entry.summary} [weights: {file}]",
            fallback=None,
            **changes,
        )

    # -- state and resolution --------------------------------------------------------------
    def state(self, name: str | ModelEntry) -> str:
        """``ready``, ``needs download``, ``missing weights`` or ``missing dependency: ...``."""
        entry = self.entry(name)
        if entry.is_alias:
            states = [self.state(target) for target in entry.alias_of]
            if "ready" in states:
                return "ready"
            return "needs download" if "needs download" in states else states[-1]
        missing = entry.missing_modules()
        if missing:
            return "missing dependency: " + ", ".join(missing)
        if entry.weights is None:
            return "ready"
        state = entry.weights.state()
        return "missing weights" if state == "missing" else state

    def resolve(self, name: str | ModelEntry, quiet: bool = False) -> ModelEntry:
        """The concrete entry ``name`` runs as: an alias becomes its first installed target
        (with its notice, if it has one); other entries are returned as they are.

        Raises :class:`WeightsError` when no target of an alias is installed.
        """
        entry = self.entry(name)
        if not entry.is_alias:
            return entry
        for target in entry.alias_of:
            if self.state(target) == "ready":
                if target in entry.alias_notices and not quiet:
                    notice(entry.alias_notices[target])
                return self.resolve(target, quiet=quiet)
        fetchable = [t for t in entry.alias_of if self.state(t) == "needs download"]
        hint = f"run `imlforensic models fetch {fetchable[-1]}`" if fetchable else "see `imlforensic models list`"
        raise WeightsError(f"no checkpoint for {entry.name!r} is installed ({', '.join(entry.alias_of)}): {hint}")

    # -- weights ---------------------------------------------------------------------------
    def weights_path(self, name: str | ModelEntry) -> Path | None:
        """Local path of the entry's weights; raises :class:`WeightsError` if they are not present."""
        entry = self.resolve(name, quiet=True)
        if entry.weights is None:
            return None
        path = entry.weights.locate()
        if path is None:
            how = (
                f"run `imlforensic models fetch {entry.name}`"
                if entry.weights.state() == "needs download"
                else f"expected {entry.weights.describe()}"
            )
            raise WeightsError(f"weights for {entry.name!r} are not installed: {how}")
        return path

    def weights_sha256(self, name: str | ModelEntry) -> str | None:
        """sha256 of the entry's weights file: the published value once the file was checked
        against it (:meth:`load` does), else computed (once per process); None without weights."""
        entry = self.resolve(name, quiet=True)
        path = self.weights_path(entry)
        if path is None or entry.weights is None:
            return None
        key = entry.weights.describe()
        with self._lock:
            if key not in self._weights_sha:
                self._weights_sha[key] = entry.weights.sha256 or sha256_file(path)
            return self._weights_sha[key]

    def card(self, name: str | ModelEntry) -> ModelCard:
        """The provenance outputs record for the model ``name`` runs as."""
        entry = self.resolve(name, quiet=True)
        return ModelCard(
            name=entry.name,
            task=entry.task,
            version=entry.version,
            weights_sha256=self.weights_sha256(entry),
            reference=entry.reference or None,
            classes=entry.classes,
        )

    # -- building --------------------------------------------------------------------------
    def load(self, name: str | ModelEntry, device: str = "auto", expect: type[T] | None = None) -> T:
        """Build the model ``name`` runs as (once per process, entry and device) and return it.

        ``expect``: the type the caller needs (``Method``, ``Refiner``); a built object of another
        type is a :class:`TypeError` naming the entry.
        """
        entry = self.resolve(name)
        missing = entry.missing_modules()
        if missing:
            raise ImportError(f"model {entry.name!r} needs the Python package(s) {', '.join(missing)}")
        resolved = resolve_device(device) if entry.uses_torch else None
        key = (entry.key(), resolved)
        with self._lock:
            if key not in self._loaded:
                weights = self.weights_path(entry)
                if weights is not None:
                    self._verify(entry, weights)
                context = BuildContext(entry=entry, weights_path=weights, device=resolved, card=self.card(entry))
                self._loaded[key] = _import_builder(entry.builder)(context)
            model = self._loaded[key]
        if expect is not None and not isinstance(model, expect):
            raise TypeError(f"model {entry.name!r} is a {type(model).__name__}, not a {expect.__name__}")
        return model

    def _verify(self, entry: ModelEntry, path: Path) -> None:
        """Check the file against the entry's published sha256 (once per process and file)."""
        assert entry.weights is not None
        expected = entry.weights.sha256
        key = entry.weights.describe()
        if expected is None or self._weights_sha.get(key) == expected:
            return
        actual = sha256_file(path)
        if actual != expected:
            raise WeightsError(
                f"weights for {entry.name!r} at {path} do not match the registry (sha256 {actual[:16]}..., "
                f"expected {expected[:16]}...); delete the file and fetch it again"
            )
        self._weights_sha[key] = actual

    def is_loaded(self, name: str) -> bool:
        return any(key[0][0] == name for key in self._loaded)

    def clear(self) -> None:
        """Forget built models (tests use it to check laziness)."""
        with self._lock:
            self._loaded.clear()
            self._weights_sha.clear()


def _import_builder(spec: str) -> Callable[[BuildContext], Any]:
    module_name, _, attribute = spec.partition(":")
    builder: Callable[[BuildContext], Any] = getattr(importlib.import_module(module_name), attribute)
    return builder
