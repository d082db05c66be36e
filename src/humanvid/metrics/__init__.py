"""Metrics by name, each computed in two protocols (see docs/metrics.md):

- `corrected`: the standard definitions.
- `disco`: DisCo's evaluation code exactly, quirks included (the code behind the TikTok numbers of
  DisCo, MagicAnimate and their followers).

The registry is light (names, labels, kinds, the weights each needs) so validating params.yaml imports
neither scipy nor torch.
"""

from __future__ import annotations

from dataclasses import dataclass

PROTOCOLS = ("corrected", "disco")


@dataclass(frozen=True)
class Metric:
    name: str
    kind: str
    """`frame` (paired per frame, averaged), `fid` (frames pooled), `fid_vid`/`fvd` (clips pooled),
    `depth` (needs generated depth), `landmark` (needs a pose estimator)."""
    higher_is_better: bool
    label: str
    fmt: str
    weights: tuple[str, ...] = ()
    """Released weights the metric needs (FVD's depend on `evaluation.fvd.weights`)."""


METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        Metric("l1", "frame", False, "L1 ↓", "{:.4g}"),
        Metric("psnr", "frame", True, "PSNR ↑", "{:.2f}"),
        Metric("ssim", "frame", True, "SSIM ↑", "{:.3f}"),
        Metric("lpips", "frame", False, "LPIPS ↓", "{:.3f}", ("vgg16-imagenet", "lpips-vgg-v0.1")),
        Metric("fid", "fid", False, "FID ↓", "{:.2f}", ("fid-inception",)),
        Metric("fid_vid", "fid_vid", False, "FID-VID ↓", "{:.2f}", ("r3d50-kinetics",)),
        Metric("fvd", "fvd", False, "FVD ↓", "{:.2f}"),
        Metric("depth_l2", "depth", False, "Depth L2 ↓", "{:.4f}"),
        Metric("depth_absrel", "depth", False, "Depth AbsRel ↓", "{:.3f}"),
        Metric("depth_delta1", "depth", True, "Depth δ1 ↑", "{:.3f}"),
        Metric("depth_fid", "depth", False, "Depth FID ↓", "{:.2f}", ("fid-inception",)),
        Metric("lmd_face", "landmark", False, "LMD face ↓", "{:.2f}"),
        Metric("lmd_body", "landmark", False, "LMD body ↓", "{:.2f}"),
        Metric("lmd_hand", "landmark", False, "LMD hand ↓", "{:.2f}"),
        Metric("lmd_missing", "landmark", False, "missing keypoints ↓", "{:.1%}"),
    ]
}

FVD_WEIGHTS = {"i3d-400": "i3d-kinetics400", "i3d-torchscript": "i3d-torchscript-styleganv"}
"""`evaluation.fvd.weights` choice -> weight registry name."""


def weights_needed(metric: str, protocol: str, fvd_weights: str = "i3d-400") -> tuple[str, ...]:
    """Weight names one metric needs in one protocol (DisCo's FVD always uses the PyTorch I3D port)."""
    if metric == "fvd":
        return (FVD_WEIGHTS["i3d-400" if protocol == "disco" else fvd_weights],)
    return METRICS[metric].weights


__all__ = ["FVD_WEIGHTS", "METRICS", "Metric", "PROTOCOLS", "weights_needed"]
