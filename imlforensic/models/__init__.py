"""Learned models: backbones, the multi-view weakly supervised localizer, checkpoints."""
