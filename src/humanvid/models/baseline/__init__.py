"""The pose-guided video diffusion baseline (see model.py; imported lazily through METHODS)."""
