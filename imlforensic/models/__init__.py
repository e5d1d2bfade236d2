"""Neural networks of the learned methods: backbones, the multi-view CAM network, checkpoints, batch-norm folding."""
