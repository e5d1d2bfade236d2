"""Segmentation-guided refinement of coarse manipulation maps (papers 1 and 2).

Layout: :mod:`.base` (the one refine contract, :class:`~.base.Refiner`), :mod:`.bayes` (the
Bayesian fusion every backend uses, with the model written down), :mod:`.prompts` (prompts from
a coarse map, analyst boxes), and one module per backend (:mod:`.superpixel`, :mod:`.grabcut`,
:mod:`.sam`, :mod:`.deeplab`). Their registry entries are in :mod:`imlforensic.registry.builtin`;
the aliases ``sam`` and ``deeplab`` are resolved by the registry to the best installed
checkpoint. Importing this package imports nothing heavy.
"""
