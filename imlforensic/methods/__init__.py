"""Analysis methods behind one contract (:class:`Method` -> :class:`MethodOutput`).

:mod:`.base` (the contract and the verdict rule), :mod:`.classical` (``sel``, ``noise``,
``classical``: no weights), :mod:`.mvcam` (the learned weakly supervised localizer, ``mvcam``
and ``mvcam-net``). Methods are registered in :mod:`imlforensic.registry.builtin` and built by
the registry; see docs/ARCHITECTURE.md for adding one.
"""

from imlforensic.methods.base import VERDICTS, Method, MethodOutput, Verdict, decide_verdict, localizer_probs

__all__ = ["VERDICTS", "Method", "MethodOutput", "Verdict", "decide_verdict", "localizer_probs"]
