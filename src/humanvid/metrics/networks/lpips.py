"""LPIPS (Zhang et al. 2018), VGG variant, as the `lpips` package computes it (version 0.1).

VGG16 features (torchvision layout `features.N.*`, ImageNet weights `vgg16-397923af.pth`) cut after
relu1_2, relu2_2, relu3_3, relu4_3, relu5_3; each feature map unit-normalised over channels; squared
differences weighted by the learned 1×1 heads `lin{k}.model.1.weight` (the package's `vgg.pth`),
averaged over space and summed over layers. Input range is [-1, 1].
"""

from __future__ import annotations

import torch
from torch import nn

from humanvid.metrics.networks import load_exact, read_state_dict

VGG16_LAYOUT = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
SLICE_ENDS = (4, 9, 16, 23, 30)  # features[:4] ends at relu1_2, ... features[23:30] at relu5_3
CHANNELS = (64, 128, 256, 512, 512)


class VGG16Features(nn.Module):
    def __init__(self):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for v in VGG16_LAYOUT:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c_in, v, 3, padding=1), nn.ReLU(inplace=True)]
                c_in = v
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs, start = [], 0
        for end in SLICE_ENDS:
            for layer in self.features[start:end]:
                x = layer(x)
            outs.append(x)
            start = end
        return outs


class LinearHead(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        # Index 0 is the package's (inactive at eval) dropout; index 1 carries the weight, as in its file.
        self.model = nn.Sequential(nn.Dropout(), nn.Conv2d(channels, 1, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class LinearHeads(nn.Module):
    """`lin0` … `lin4`: the attribute names the package's weight file uses."""

    def __init__(self):
        super().__init__()
        for k, c in enumerate(CHANNELS):
            self.add_module(f"lin{k}", LinearHead(c))

    def __iter__(self):
        return iter(self.children())


class LPIPS(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1), persistent=False)
        self.net = VGG16Features()
        self.heads = LinearHeads()

    @classmethod
    def from_files(cls, vgg16_path: str, heads_path: str) -> "LPIPS":
        model = cls()
        # The torchvision file also holds the classifier, which LPIPS does not use.
        load_exact(model.net, read_state_dict(vgg16_path), vgg16_path, ignore_prefixes=("classifier.",))
        load_exact(model.heads, read_state_dict(heads_path), heads_path)
        return model.eval().requires_grad_(False)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """a, b: (N, 3, H, W) in [-1, 1] -> (N,) distances."""
        fa, fb = self.net((a - self.shift) / self.scale), self.net((b - self.shift) / self.scale)
        total = 0.0
        for lin, x, y in zip(self.heads, fa, fb, strict=True):
            x = x / (x.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            y = y / (y.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            total = total + lin((x - y) ** 2).mean(dim=(2, 3))
        return total.flatten()
