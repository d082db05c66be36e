"""3D ResNet-50 (Hara et al., "Can Spatiotemporal 3D CNNs Retrace the History of 2D CNNs and
ImageNet?"), Kinetics-400, as FID-VID uses it: the released `resnet-50-kinetics.pth` (a checkpoint
whose `state_dict` keys carry DataParallel's `module.` prefix), shortcut type B, 16-frame 112×112
clips, the 2048-d features after global average pooling (the classifier is not applied).

Input: (N, 3, 16, 112, 112), RGB in 0..255 minus the Kinetics mean (114.7748, 107.7354, 99.4750)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from humanvid.metrics.networks import load_exact, read_state_dict

KINETICS_MEAN = (114.7748, 107.7354, 99.4750)


class Bottleneck3d(nn.Module):
    expansion = 4

    def __init__(self, c_in: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv3d(c_in, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm3d(planes)
        self.conv2 = nn.Conv3d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm3d(planes)
        self.conv3 = nn.Conv3d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm3d(planes * 4)
        self.downsample = downsample

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNet3d50(nn.Module):
    FEATURES = 2048

    def __init__(self, layers: tuple[int, ...] = (3, 4, 6, 3), num_classes: int = 400):
        super().__init__()
        self.conv1 = nn.Conv3d(3, 64, 7, stride=(1, 2, 2), padding=3, bias=False)
        self.bn1 = nn.BatchNorm3d(64)
        c_in = 64
        for i, (planes, blocks) in enumerate(zip((64, 128, 256, 512), layers, strict=True)):
            stride = 1 if i == 0 else 2
            downsample = None
            if stride != 1 or c_in != planes * 4:  # shortcut type B: a projection where shapes change
                downsample = nn.Sequential(nn.Conv3d(c_in, planes * 4, 1, stride=stride, bias=False), nn.BatchNorm3d(planes * 4))
            stage = [Bottleneck3d(c_in, planes, stride, downsample)]
            c_in = planes * 4
            stage += [Bottleneck3d(c_in, planes) for _ in range(1, blocks)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*stage))
        self.fc = nn.Linear(2048, num_classes)  # in the weight file; FID-VID reads the pooled features

    @classmethod
    def from_file(cls, path: str) -> "ResNet3d50":
        raw = read_state_dict(path)
        state = raw.get("state_dict", raw)
        model = cls()
        load_exact(model, {k.removeprefix("module."): v for k, v in state.items()}, path)
        return model.eval().requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, T, H, W) mean-subtracted 0..255 -> (N, 2048)."""
        x = F.relu(self.bn1(self.conv1(x)))  # (N, 64, T, H/2, W/2)
        x = F.max_pool3d(x, 3, stride=2, padding=1)  # (N, 64, T/2, H/4, W/4)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))  # (N, 2048, T/16, H/32, W/32)
        # The original average-pools with a window the size of this map (1×4×4 for 16×112×112 clips).
        return x.mean(dim=(2, 3, 4))
