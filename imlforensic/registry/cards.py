"""Model cards: the identity of a model (or of an analyst's input) that every output records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

LOCALIZER_CLASSES: tuple[str, ...] = ("authentic", "manipulated")
"""The verdicts a localizer's output tells apart (it cannot say ``generated``)."""


@dataclass(frozen=True)
class ModelCard:
    """Name, task, version, weights sha256 and reference of what produced a map.

    ``task`` is a registry task (``detector``, ``classifier``, ``segmenter``) or ``input`` for a
    map or boxes an analyst gave (``refine``); inputs carry their ``path`` and file ``sha256``.
    """

    name: str
    task: str
    version: str | None = None
    weights_sha256: str | None = None
    reference: str | None = None
    classes: tuple[str, ...] = LOCALIZER_CLASSES
    path: str | None = None  # inputs only
    sha256: str | None = None  # inputs only
    extra: dict[str, Any] = field(default_factory=dict)  # fields of other versions, kept as they were

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "task": self.task,
            "version": self.version,
            "weights_sha256": self.weights_sha256,
            "reference": self.reference,
            "classes": list(self.classes),
        }
        if self.task == "input":
            data.update({"path": self.path, "sha256": self.sha256})
        data.update(self.extra)
        return data

    @classmethod
    def from_json(cls, data: Any) -> ModelCard | None:
        if not isinstance(data, dict) or not data.get("name"):
            return None
        known = {"name", "task", "version", "weights_sha256", "reference", "classes", "path", "sha256"}
        classes = data.get("classes")
        return cls(
            name=str(data["name"]),
            task=str(data.get("task") or ""),
            version=_text(data.get("version")),
            weights_sha256=_text(data.get("weights_sha256")),
            reference=_text(data.get("reference")),
            classes=tuple(str(c) for c in classes) if isinstance(classes, list) else LOCALIZER_CLASSES,
            path=_text(data.get("path")),
            sha256=_text(data.get("sha256")),
            extra={k: v for k, v in data.items() if k not in known},
        )

    @property
    def line(self) -> str:
        """``name version``, as pages and tables name a model."""
        return " ".join(p for p in (self.name, self.version) if p)


def input_card(name: str, path: str | None = None, sha256: str | None = None) -> ModelCard:
    """The card of an analyst's input standing in for a method (``refine --heatmap`` / ``--box``)."""
    return ModelCard(name=name, task="input", path=path, sha256=sha256, classes=())


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
