"""I3D (Carreira & Zisserman 2017), Inception-v1 inflated to 3D, Kinetics-400, as FVD uses it.

Two public weight variants load here:
- `i3d_pretrained_400.pt`: the PyTorch port (pytorch-i3d layout: `Conv3d_1a_7x7.conv3d.weight`,
  `Mixed_3b.b1b.bn.running_mean`, `logits.conv3d.bias`, …) that DisCo's FVD loads into `InceptionI3d`.
- `i3d_torchscript.pt`: StyleGAN-V's TorchScript export of the original TF-Hub model, called as
  `model(x, rescale=False, resize=False, return_features=True)`.
Both take (N, 3, T, 224, 224) in [-1, 1] and give the 400 logits per clip (pre-softmax), averaged over
the remaining time steps.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from humanvid.metrics.networks import load_exact, read_state_dict


def _same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow 'SAME' padding (front, back) for one dimension."""
    total = max(kernel - stride, 0) if size % stride == 0 else max(kernel - size % stride, 0)
    return total // 2, total - total // 2


def _pad_same(x: torch.Tensor, kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> torch.Tensor:
    (tf, tb), (hf, hb), (wf, wb) = (_same_pad(s, k, st) for s, k, st in zip(x.shape[2:], kernel, stride, strict=True))
    return F.pad(x, (wf, wb, hf, hb, tf, tb))


class Unit3D(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel=(1, 1, 1), stride=(1, 1, 1), batch_norm: bool = True, bias: bool = False, relu: bool = True):
        super().__init__()
        self.kernel, self.stride, self.relu = tuple(kernel), tuple(stride), relu
        self.conv3d = nn.Conv3d(c_in, c_out, self.kernel, stride=self.stride, bias=bias)
        self.bn = nn.BatchNorm3d(c_out, eps=0.001, momentum=0.01) if batch_norm else None

    def forward(self, x):
        x = self.conv3d(_pad_same(x, self.kernel, self.stride))
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.relu else x


class MaxPool3dSame(nn.Module):
    def __init__(self, kernel, stride):
        super().__init__()
        self.kernel, self.stride = tuple(kernel), tuple(stride)

    def forward(self, x):
        # Zero padding, as the port does (inputs after ReLU are ≥ 0, so it equals TF's -inf padding).
        return F.max_pool3d(_pad_same(x, self.kernel, self.stride), self.kernel, self.stride)


class InceptionBlock3d(nn.Module):
    def __init__(self, c_in: int, c: tuple[int, int, int, int, int, int]):
        super().__init__()
        self.b0 = Unit3D(c_in, c[0])
        self.b1a = Unit3D(c_in, c[1])
        self.b1b = Unit3D(c[1], c[2], kernel=(3, 3, 3))
        self.b2a = Unit3D(c_in, c[3])
        self.b2b = Unit3D(c[3], c[4], kernel=(3, 3, 3))
        self.b3a = MaxPool3dSame((3, 3, 3), (1, 1, 1))
        self.b3b = Unit3D(c_in, c[5])

    def forward(self, x):
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], 1)


# (name, kind, args): the port's end points in order.
_LAYOUT = [
    ("Conv3d_1a_7x7", "unit", (3, 64, (7, 7, 7), (2, 2, 2))),
    ("MaxPool3d_2a_3x3", "pool", ((1, 3, 3), (1, 2, 2))),
    ("Conv3d_2b_1x1", "unit", (64, 64, (1, 1, 1), (1, 1, 1))),
    ("Conv3d_2c_3x3", "unit", (64, 192, (3, 3, 3), (1, 1, 1))),
    ("MaxPool3d_3a_3x3", "pool", ((1, 3, 3), (1, 2, 2))),
    ("Mixed_3b", "mixed", (192, (64, 96, 128, 16, 32, 32))),
    ("Mixed_3c", "mixed", (256, (128, 128, 192, 32, 96, 64))),
    ("MaxPool3d_4a_3x3", "pool", ((3, 3, 3), (2, 2, 2))),
    ("Mixed_4b", "mixed", (480, (192, 96, 208, 16, 48, 64))),
    ("Mixed_4c", "mixed", (512, (160, 112, 224, 24, 64, 64))),
    ("Mixed_4d", "mixed", (512, (128, 128, 256, 24, 64, 64))),
    ("Mixed_4e", "mixed", (512, (112, 144, 288, 32, 64, 64))),
    ("Mixed_4f", "mixed", (528, (256, 160, 320, 32, 128, 128))),
    ("MaxPool3d_5a_2x2", "pool", ((2, 2, 2), (2, 2, 2))),
    ("Mixed_5b", "mixed", (832, (256, 160, 320, 32, 128, 128))),
    ("Mixed_5c", "mixed", (832, (384, 192, 384, 48, 128, 128))),
]


class InceptionI3d(nn.Module):
    LOGITS = 400

    def __init__(self, num_classes: int = 400):
        super().__init__()
        for name, kind, args in _LAYOUT:
            if kind == "unit":
                c_in, c_out, kernel, stride = args
                self.add_module(name, Unit3D(c_in, c_out, kernel, stride))
            elif kind == "pool":
                self.add_module(name, MaxPool3dSame(*args))
            else:
                self.add_module(name, InceptionBlock3d(*args))
        self.logits = Unit3D(1024, num_classes, batch_norm=False, bias=True, relu=False)

    @classmethod
    def from_file(cls, path: str) -> "InceptionI3d":
        model = cls()
        load_exact(model, read_state_dict(path), path)
        return model.eval().requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, T, 224, 224) in [-1, 1] -> (N, 400) logits averaged over time."""
        for name, _, _ in _LAYOUT:
            x = getattr(self, name)(x)  # ... (N, 1024, T/8, 7, 7)
        x = F.avg_pool3d(x, (1, 7, 7), stride=1)  # (N, 1024, T/8, 1, 1)
        return self.logits(x).squeeze(4).squeeze(3).mean(2)


class TorchScriptI3d(nn.Module):
    """StyleGAN-V's `i3d_torchscript.pt`, behind the same call as `InceptionI3d`."""

    def __init__(self, scripted: torch.jit.ScriptModule):
        super().__init__()
        self.scripted = scripted

    @classmethod
    def from_file(cls, path: str) -> "TorchScriptI3d":
        try:
            scripted = torch.jit.load(str(path), map_location="cpu")
        except RuntimeError as exc:
            raise ValueError(f"{path}: not a TorchScript archive ({exc})") from exc
        return cls(scripted.eval())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.scripted(x, rescale=False, resize=False, return_features=True)
        if out.ndim != 2:
            raise ValueError(f"I3D TorchScript returned shape {tuple(out.shape)}, expected (N, {InceptionI3d.LOGITS})")
        return out


