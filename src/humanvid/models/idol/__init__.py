"""IDOL (Zhai et al., ECCV 2024): losses.py (the video-depth alignment terms), unet.py (the unified UNet's parts).

Not a registered method yet (issue 22): docs/idol.md."""
