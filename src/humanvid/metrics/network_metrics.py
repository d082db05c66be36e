"""The feature networks the metrics need, loaded once each from the weight registry, and the
network-side per-frame metric (LPIPS) in each protocol's variant."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from humanvid import weights

# network id -> (weight names, loader)
NETWORK_WEIGHTS = {
    "lpips": ("vgg16-imagenet", "lpips-vgg-v0.1"),
    "fid-inception": ("fid-inception",),
    "r3d50-kinetics": ("r3d50-kinetics",),
    "i3d-kinetics400": ("i3d-kinetics400",),
    "i3d-torchscript-styleganv": ("i3d-torchscript-styleganv",),
}


def _build(net: str, paths: list[str]) -> nn.Module:
    if net == "lpips":
        from humanvid.metrics.networks.lpips import LPIPS

        return LPIPS.from_files(*paths)
    if net == "fid-inception":
        from humanvid.metrics.networks.inception import FIDInceptionV3

        return FIDInceptionV3.from_file(paths[0])
    if net == "r3d50-kinetics":
        from humanvid.metrics.networks.resnet3d import ResNet3d50

        return ResNet3d50.from_file(paths[0])
    if net == "i3d-kinetics400":
        from humanvid.metrics.networks.i3d import InceptionI3d

        return InceptionI3d.from_file(paths[0])
    if net == "i3d-torchscript-styleganv":
        from humanvid.metrics.networks.i3d import TorchScriptI3d

        return TorchScriptI3d.from_file(paths[0])
    raise KeyError(f"unknown feature network {net!r}; known: {', '.join(NETWORK_WEIGHTS)}")


def build_network(net: str, overrides: dict[str, str] | None = None) -> nn.Module:
    """A feature network from its weight files; a file that cannot be read or does not fit is a
    `WeightFileError` naming the weight (`weights.overrides.NAME` when the user pointed it somewhere)."""
    from humanvid.state_dicts import WeightFileError

    names = NETWORK_WEIGHTS[net]
    paths = [weights.resolve(name, overrides) for name in names]
    try:
        return _build(net, paths)
    except (WeightFileError, ValueError, RuntimeError, OSError) as exc:
        raise WeightFileError(f"{' + '.join(weights.named(n, overrides) for n in names)}: {exc}") from None


def network_of(weight: str) -> str | None:
    """The feature network a weight belongs to, if any."""
    return next((net for net, names in NETWORK_WEIGHTS.items() if weight in names), None)


class FeatureNetworks:
    """Each network built on first use and kept; device and dtype come from the caller."""

    def __init__(self, device: torch.device, dtype: torch.dtype = torch.float32, overrides: dict[str, str] | None = None, batch_size: int = 16):
        self.device, self.dtype, self.overrides, self.batch_size = device, dtype, overrides, batch_size
        self._nets: dict[str, nn.Module] = {}

    def get(self, net: str) -> nn.Module:
        if net not in self._nets:
            self._nets[net] = build_network(net, self.overrides).to(self.device, self.dtype)
        return self._nets[net]

    @torch.inference_mode()
    def run(self, net: str, *inputs: torch.Tensor) -> np.ndarray:
        """Apply a network in batches along dim 0 -> float64 numpy."""
        model, outs = self.get(net), []
        for i in range(0, len(inputs[0]), self.batch_size):
            batch = [x[i : i + self.batch_size].to(self.device, self.dtype) for x in inputs]
            outs.append(model(*batch).float().cpu().numpy().astype(np.float64))
        return np.concatenate(outs) if outs else np.zeros((0,))


def lpips_per_frame(nets: FeatureNetworks, pred: np.ndarray, target: np.ndarray, variant: str) -> list[float]:
    """LPIPS (VGG) per frame. Variant (`Protocol.lpips`) `standard` maps frames to [-1, 1] as LPIPS expects;
    `disco` feeds [0, 1] (DisCo applies ToTensor and nothing else)."""
    a = torch.from_numpy(pred.astype(np.float32) / 255.0).permute(0, 3, 1, 2)
    b = torch.from_numpy(target.astype(np.float32) / 255.0).permute(0, 3, 1, 2)
    if variant == "standard":
        a, b = a * 2 - 1, b * 2 - 1
    elif variant != "disco":
        raise ValueError(f"unknown LPIPS input variant {variant!r}; known: standard, disco")
    return [float(v) for v in nets.run("lpips", a, b).reshape(-1)]
