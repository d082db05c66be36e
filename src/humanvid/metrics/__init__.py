"""Metrics by name, each computed in every evaluation protocol (`humanvid.metrics.protocols`, docs/metrics.md):

- `corrected`: the standard definitions, at the model's resolution.
- `disco`, `disco@2024-04`: DisCo's evaluation code exactly, quirks included, at 256² (the code behind the TikTok
  numbers of DisCo, MagicAnimate and their followers), before and after its PSNR fix.

The registry is light (names, labels, kinds, the weights each needs) so validating params.yaml imports
neither scipy nor torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from humanvid.metrics.protocols import PROTOCOLS, protocol


@dataclass(frozen=True)
class Metric:
    name: str
    kind: str
    """`frame` (paired per frame, averaged; `tl1` per consecutive pair), `fid` (frames pooled), `fid_vid`/`fvd` (clips pooled),
    `depth` (needs generated depth), `landmark` (needs a pose estimator)."""
    higher_is_better: bool
    label: str
    fmt: str
    weights: tuple[str, ...] = ()
    """Released weights the metric needs (FVD's depend on `evaluation.fvd.weights`)."""
    features: int | None = None
    """A Fréchet distance's feature dimension: with fewer samples its covariance is rank-deficient (the report warns)."""


METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        Metric("l1", "frame", False, "L1 ↓", "{:.4g}"),
        Metric("psnr", "frame", True, "PSNR ↑", "{:.2f}"),
        Metric("ssim", "frame", True, "SSIM ↑", "{:.3f}"),
        Metric("tl1", "frame", False, "tL1 ↓", "{:.4g}"),
        Metric("lpips", "frame", False, "LPIPS ↓", "{:.3f}", ("vgg16-imagenet", "lpips-vgg-v0.1")),
        Metric("fid", "fid", False, "FID ↓", "{:.2f}", ("fid-inception",), 2048),
        Metric("fid_vid", "fid_vid", False, "FID-VID ↓", "{:.2f}", ("r3d50-kinetics",), 2048),
        Metric("fvd", "fvd", False, "FVD ↓", "{:.2f}", (), 400),
        Metric("depth_l2", "depth", False, "Depth L2 ↓", "{:.4f}"),
        Metric("depth_absrel", "depth", False, "Depth AbsRel ↓", "{:.3f}"),
        Metric("depth_delta1", "depth", True, "Depth δ1 ↑", "{:.3f}"),
        Metric("depth_fid", "depth", False, "Depth FID ↓", "{:.2f}", ("fid-inception",), 2048),
        Metric("lmd_face", "landmark", False, "LMD face ↓", "{:.2f}"),
        Metric("lmd_body", "landmark", False, "LMD body ↓", "{:.2f}"),
        Metric("lmd_hand", "landmark", False, "LMD hand ↓", "{:.2f}"),
        Metric("lmd_missing", "landmark", False, "missing keypoints ↓", "{:.1%}"),
    ]
}

FVD_WEIGHTS = {"i3d-400": "i3d-kinetics400", "i3d-torchscript": "i3d-torchscript-styleganv"}
"""`evaluation.fvd.weights` choice -> weight registry name."""


def weights_needed(metric: str, protocol_name: str, fvd_weights: str = "i3d-400") -> tuple[str, ...]:
    """Weight names one metric needs in one protocol (DisCo's FVD always uses the PyTorch I3D port)."""
    if metric == "fvd":
        return (FVD_WEIGHTS["i3d-400" if protocol(protocol_name).fvd == "disco" else fvd_weights],)
    return METRICS[metric].weights


def rank_warning(warning: dict) -> str:
    """The sentence for an evaluate document's `warnings` entry: a Fréchet distance with no more samples than
    feature dimensions."""
    return (f"{warning['metric']} ({warning['protocol']}): {warning['samples']} samples for {warning['features']}-dimensional "
            "features — the covariance estimates are rank-deficient and dominate the distance; compare it only with numbers "
            "from the same clips")  # fmt: skip


__all__ = ["FVD_WEIGHTS", "METRICS", "Metric", "PROTOCOLS", "protocol", "rank_warning", "weights_needed"]
