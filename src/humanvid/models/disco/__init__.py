"""DisCo (Wang et al., CVPR 2024): spec.py (declaration), model.py, released.py (the released checkpoint)."""
