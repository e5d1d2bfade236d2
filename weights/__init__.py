"""Checkpoints shipped with imlforensic (installed as the package ``imlforensic.weights``)."""
