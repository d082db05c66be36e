"""The facial mask Make-Your-Anchor's release inpaints: BiSeNet face parsing (zllrunning/face-parsing.PyTorch, weights
`79999_iter.pth` shipped in the release's `inference/res/cp/`), as its `get_mask.py` runs it on aligned face crops.

The network: a ResNet-18 context path (torchvision's block layout: the release's `resnet.py` has the same keys),
attention refinement at 1/16 and 1/32, a feature fusion module, and three heads of which inference reads the first;
19 CelebAMask-HQ classes. The weight keys are the release's (`cp.resnet.layer1.0.conv1.weight`, `cp.arm16.conv.bn.*`,
`ffm.convblk.conv.weight`, `conv_out.conv_out.weight`, ...). `get_mask.py`: the crop resized to 512² (bilinear), ImageNet
normalisation, argmax of the first head; the face is every class but background, neck, necklace, cloth, hair and hat,
dilated by one 3 × 3 step.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

CLASSES = ("background", "skin", "l_brow", "r_brow", "l_eye", "r_eye", "eye_g", "l_ear", "r_ear", "ear_r", "nose", "mouth", "u_lip",
           "l_lip", "neck", "neck_l", "cloth", "hair", "hat")  # fmt: skip
"""The 19 parsing classes, in the network's output order."""
NOT_FACE = (0, 14, 15, 16, 17, 18)
"""Classes `get_mask.py` leaves out of the face: background, neck, necklace, cloth, hair, hat."""
INPUT_SIZE = 512
PARSER_FILE = "model.safetensors"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ConvBNReLU(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, padding: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


class AttentionRefinement(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = ConvBNReLU(cin, cout)
        self.conv_atten = nn.Conv2d(cout, cout, 1, bias=False)
        self.bn_atten = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv(x)
        return feat * torch.sigmoid(self.bn_atten(self.conv_atten(feat.mean((2, 3), keepdim=True))))


class ResNet18Features(nn.Module):
    """ResNet-18 without its classifier -> the 1/8, 1/16 and 1/32 features."""

    def __init__(self) -> None:
        super().__init__()
        from torchvision.models import resnet18

        net = resnet18(weights=None)
        self.conv1, self.bn1, self.maxpool = net.conv1, net.bn1, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.layer1(self.maxpool(F.relu(self.bn1(self.conv1(x)))))
        feat8 = self.layer2(x)
        feat16 = self.layer3(feat8)
        return feat8, feat16, self.layer4(feat16)


class ContextPath(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.resnet = ResNet18Features()
        self.arm16 = AttentionRefinement(256, 128)
        self.arm32 = AttentionRefinement(512, 128)
        self.conv_head32 = ConvBNReLU(128, 128)
        self.conv_head16 = ConvBNReLU(128, 128)
        self.conv_avg = ConvBNReLU(512, 128, kernel=1, padding=0)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feat8, feat16, feat32 = self.resnet(x)
        avg = self.conv_avg(feat32.mean((2, 3), keepdim=True))
        up32 = self.conv_head32(F.interpolate(self.arm32(feat32) + avg, feat16.shape[2:], mode="nearest"))
        up16 = self.conv_head16(F.interpolate(self.arm16(feat16) + up32, feat8.shape[2:], mode="nearest"))
        return feat8, up16


class FeatureFusion(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.convblk = ConvBNReLU(cin, cout, kernel=1, padding=0)
        self.conv1 = nn.Conv2d(cout, cout // 4, 1, bias=False)
        self.conv2 = nn.Conv2d(cout // 4, cout, 1, bias=False)

    def forward(self, spatial: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        feat = self.convblk(torch.cat([spatial, context], 1))
        attention = torch.sigmoid(self.conv2(F.relu(self.conv1(feat.mean((2, 3), keepdim=True)))))
        return feat * attention + feat


class Head(nn.Module):
    def __init__(self, cin: int, mid: int, classes: int) -> None:
        super().__init__()
        self.conv = ConvBNReLU(cin, mid)
        self.conv_out = nn.Conv2d(mid, classes, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_out(self.conv(x))


class FaceParser(nn.Module):
    """BiSeNet for face parsing (inference: the first head only; the other two are trained auxiliaries, kept for the
    weights' keys)."""

    def __init__(self, classes: int = len(CLASSES)) -> None:
        super().__init__()
        self.cp = ContextPath()
        self.ffm = FeatureFusion(256, 256)
        self.conv_out = Head(256, 256, classes)
        self.conv_out16 = Head(128, 64, classes)
        self.conv_out32 = Head(128, 64, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised images (N, 3, H, W) -> class logits (N, 19, H, W)."""
        feat8, context8 = self.cp(x)
        logits = self.conv_out(self.ffm(feat8, context8))
        return F.interpolate(logits, x.shape[2:], mode="bilinear", align_corners=True)

    @classmethod
    def from_file(cls, path: str | Path, device: torch.device, dtype: torch.dtype) -> "FaceParser":
        """The released state dict (a plain `torch.save` of tensors: read with `weights_only=True`), key for key."""
        path = Path(path)
        state = torch.load(path, map_location="cpu", weights_only=True)
        model = cls()
        own = model.state_dict()
        missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
        missing = [k for k in missing if not k.endswith("num_batches_tracked")]  # a counter older files do not hold
        if missing or unexpected:
            raise ValueError(f"{path}: not BiSeNet face parsing weights: missing {missing[:5]}, unexpected {unexpected[:5]}")
        model.load_state_dict(state, strict=False)  # every key checked above
        return model.eval().requires_grad_(False).to(device, dtype)

    def save_pretrained(self, folder: str | Path, safe_serialization: bool = True) -> None:
        """The weights as one safetensors file (a checkpoint's `face_parser/`)."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_file({k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}, str(folder / PARSER_FILE))

    @classmethod
    def from_folder(cls, folder: str | Path) -> "FaceParser":
        """What `save_pretrained` wrote (float32 on the CPU; the caller moves it)."""
        from safetensors.torch import load_file

        model = cls()
        model.load_state_dict(load_file(str(Path(folder) / PARSER_FILE)))
        return model.eval().requires_grad_(False)

    @torch.no_grad()
    def face_masks(self, crops: torch.Tensor) -> torch.Tensor:
        """Aligned face crops (N, 3, f, f) in [-1, 1] -> face masks (N, 1, f, f) in {0, 1}: `get_mask.py`'s classes,
        dilated by one 3 × 3 step, brought back to the crop size (nearest)."""
        dtype = next(self.parameters()).dtype
        x = F.interpolate((crops.float() + 1) / 2, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
        parsing = self(((x - mean) / std).to(dtype)).argmax(1)
        face = ~torch.isin(parsing, torch.tensor(NOT_FACE, device=parsing.device))
        face = F.max_pool2d(face[:, None].float(), kernel_size=3, stride=1, padding=1)  # cv2.dilate with a 3 × 3 kernel
        return F.interpolate(face, size=crops.shape[2:], mode="nearest")
