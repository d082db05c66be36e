"""Evaluation protocols: for each metric the variant a paper's numbers came from, and the size frames are
compared at. A protocol is a named composition of per-metric variants (docs/metrics.md), so a paper
table names exactly what produced its numbers — `disco@2024-04` is DisCo's evaluation code with the PSNR
fix of 2024-04-10 and every other quirk kept.

No torch here: validating params.yaml and rendering reports read this registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PsnrVariant = Literal["standard", "disco-wrapped", "disco-fixed"]
L1Variant = Literal["standard", "disco"]
SsimVariant = Literal["standard", "disco"]
LpipsVariant = Literal["standard", "disco"]
FidVariant = Literal["pytorch-fid", "clean"]
FidVidVariant = Literal["clips", "video-mean"]
FvdVariant = Literal["configured", "disco"]
LmdVariant = Literal["dwpose", "openpose"]

LMD_ESTIMATORS: dict[str, str] = {"dwpose": "dwpose", "openpose": "openpose_wholebody"}
"""LMD variant -> the estimator (`humanvid.estimators`) that finds the landmarks on both videos."""


@dataclass(frozen=True)
class Protocol:
    """One evaluation protocol: a variant per metric family and the evaluation size."""

    name: str
    summary: str
    """One line for reports: whose code, which revision."""
    psnr: PsnrVariant
    """`standard`: 10·log10(1/MSE) in float64, identical frames +inf (left out of means); `disco-wrapped`: DisCo before
    commit 6190108 (2024-04-10) — the squared error taken in uint8, wrapping mod 256, identical frames 100;
    `disco-fixed`: DisCo from that commit — float64 MSE on 0..255, identical frames 100."""
    l1: L1Variant
    """`standard`: mean |a − b| in [0, 1]; `disco`: |a − b| in 0..255 divided by H·W, then averaged."""
    ssim: SsimVariant
    """`standard`: RGB, Gaussian window σ 1.5; `disco`: OpenCV grey, scikit-image's 7×7 uniform defaults."""
    lpips: LpipsVariant
    """`standard`: inputs in [-1, 1]; `disco`: inputs in [0, 1] (DisCo's `ToTensor()` only)."""
    fid: FidVariant
    """`pytorch-fid`: [0, 1] frames resized bilinearly to 299 inside the network; `clean`: PIL bicubic to 299 first."""
    fid_vid: FidVidVariant
    """`clips`: every complete 16-frame clip one sample; `video-mean`: the tail padded, one mean vector per video."""
    fvd: FvdVariant
    """`configured`: `evaluation.fvd` (network and clip extraction); `disco`: the PyTorch I3D port on every 16-frame
    window at stride 1."""
    lmd: LmdVariant
    """The pose estimator behind LMD, run on generated and ground-truth frames alike: `dwpose` (DWPose whole-body,
    feet included in the body part); `openpose` (OpenPose's body, hand and face networks, Make-Your-Anchor's choice;
    the body part is the 17 COCO points, no feet)."""
    size: int | None
    """Evaluation size (square): the ground truth is centre-cropped and resized to it like the model's inputs, a
    generated frame of another size is resized to it with OpenCV's bilinear default (what DisCo's code does to a
    generated frame whose size differs from the ground truth's). None: the model's resolution."""

    def variant(self, family: str) -> str:
        """The variant this protocol uses for a metric family (`psnr`, `l1`, …)."""
        return getattr(self, family)


_STANDARD = dict(psnr="standard", l1="standard", ssim="standard", lpips="standard", fid="pytorch-fid", fid_vid="clips", fvd="configured", size=None)
_DISCO = dict(l1="disco", ssim="disco", lpips="disco", fid="clean", fid_vid="video-mean", fvd="disco", lmd="dwpose", size=256)

PROTOCOL_REGISTRY: dict[str, Protocol] = {
    p.name: p
    for p in (
        Protocol("corrected", "standard definitions, at the model's resolution", lmd="dwpose", **_STANDARD),
        Protocol("disco", "DisCo's evaluation code before 2024-04-10 (uint8 wrap-around PSNR), at 256²", psnr="disco-wrapped", **_DISCO),
        Protocol("disco@2024-04", "DisCo's evaluation code from 2024-04-10 (PSNR fixed, other quirks kept), at 256²",
                 psnr="disco-fixed", **_DISCO),  # fmt: skip
        Protocol("openpose-lmd", "standard definitions, at the model's resolution; LMD from OpenPose's body, hand and face networks "
                 "(Make-Your-Anchor's estimator)", lmd="openpose", **_STANDARD),  # fmt: skip
    )
}
PROTOCOLS = tuple(PROTOCOL_REGISTRY)
"""Every protocol the evaluate stage computes, the first the primary (what DVC metrics read)."""


def protocol(name: str) -> Protocol:
    try:
        return PROTOCOL_REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown evaluation protocol {name!r}; known: {', '.join(PROTOCOLS)}") from None
