"""IDOL (Zhai et al., ECCV 2024): spec.py (its declaration), model.py (the method), unet.py (the unified UNet's parts),
losses.py (the video-depth alignment terms), haop.py (the outpainting pre-training's hole). docs/idol.md."""
