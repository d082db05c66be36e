"""MagicAnimate (spec.py: its declaration; model.py: the networks; imported lazily through METHODS)."""
