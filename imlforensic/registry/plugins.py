"""Methods and refiners from other packages, registered through entry points.

A package adds its models to the tool by declaring, in its own ``pyproject.toml``::

    [project.entry-points."imlforensic.registry"]
    my-method = "my_package.entries:register"

where ``register(registry)`` calls :meth:`~imlforensic.registry.registry.Registry.register` with
entries whose builders are given as strings (so registering stays cheap). The CLI then offers
them like the built-in ones (``imlforensic models list``, ``--method NAME``). A plugin that
fails to load is reported in one line on stderr and left out; it never stops the tool.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points

from imlforensic.io.messages import notice, one_line
from imlforensic.registry.registry import Registry

GROUP = "imlforensic.registry"


def register_plugins(registry: Registry, found: Iterable[EntryPoint] | None = None) -> list[str]:
    """Call every registered plugin's ``register(registry)``; return the names that loaded."""
    loaded = []
    for point in entry_points(group=GROUP) if found is None else found:
        try:
            point.load()(registry)
        except Exception as exc:  # a broken plugin must not break the tool
            notice(f"plugin {point.name!r} ({point.value}) was not loaded: {type(exc).__name__}: {one_line(exc)}")
        else:
            loaded.append(point.name)
    return loaded
