"""The public weight files of the metric networks, rebuilt by key name and shape from the published
layouts (written out here independently of src/), with random values: what the loaders must accept."""

from __future__ import annotations

from pathlib import Path

import torch


def _bn(prefix: str, c: int, sd: dict, tracked: bool = True) -> None:
    sd[f"{prefix}.weight"] = torch.ones(c) + 0.05 * torch.randn(c)
    sd[f"{prefix}.bias"] = 0.05 * torch.randn(c)
    sd[f"{prefix}.running_mean"] = 0.05 * torch.randn(c)
    sd[f"{prefix}.running_var"] = torch.rand(c) + 0.5
    if tracked:
        sd[f"{prefix}.num_batches_tracked"] = torch.tensor(0)


def _conv(name: str, shape: tuple[int, ...], sd: dict) -> None:
    fan_in = 1
    for s in shape[1:]:
        fan_in *= s
    sd[name] = torch.randn(shape) * (1.0 / fan_in) ** 0.5


def fid_inception_state() -> dict[str, torch.Tensor]:
    """pytorch-fid `pt_inception-2015-12-05-6726825d.pth`: torchvision Inception3 names, 1008 classes, no AuxLogits."""
    sd: dict[str, torch.Tensor] = {}

    def basic(name, c_out, c_in, kh, kw=None):
        _conv(f"{name}.conv.weight", (c_out, c_in, kh, kw or kh), sd)
        _bn(f"{name}.bn", c_out, sd, tracked=False)  # the file predates num_batches_tracked

    for name, c_out, c_in, k in [("Conv2d_1a_3x3", 32, 3, 3), ("Conv2d_2a_3x3", 32, 32, 3), ("Conv2d_2b_3x3", 64, 32, 3),
                                 ("Conv2d_3b_1x1", 80, 64, 1), ("Conv2d_4a_3x3", 192, 80, 3)]:  # fmt: skip
        basic(name, c_out, c_in, k)
    for name, c_in, pf in [("Mixed_5b", 192, 32), ("Mixed_5c", 256, 64), ("Mixed_5d", 288, 64)]:
        basic(f"{name}.branch1x1", 64, c_in, 1)
        basic(f"{name}.branch5x5_1", 48, c_in, 1)
        basic(f"{name}.branch5x5_2", 64, 48, 5)
        basic(f"{name}.branch3x3dbl_1", 64, c_in, 1)
        basic(f"{name}.branch3x3dbl_2", 96, 64, 3)
        basic(f"{name}.branch3x3dbl_3", 96, 96, 3)
        basic(f"{name}.branch_pool", pf, c_in, 1)
    basic("Mixed_6a.branch3x3", 384, 288, 3)
    basic("Mixed_6a.branch3x3dbl_1", 64, 288, 1)
    basic("Mixed_6a.branch3x3dbl_2", 96, 64, 3)
    basic("Mixed_6a.branch3x3dbl_3", 96, 96, 3)
    for name, c7 in [("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)]:
        basic(f"{name}.branch1x1", 192, 768, 1)
        basic(f"{name}.branch7x7_1", c7, 768, 1)
        basic(f"{name}.branch7x7_2", c7, c7, 1, 7)
        basic(f"{name}.branch7x7_3", 192, c7, 7, 1)
        basic(f"{name}.branch7x7dbl_1", c7, 768, 1)
        basic(f"{name}.branch7x7dbl_2", c7, c7, 7, 1)
        basic(f"{name}.branch7x7dbl_3", c7, c7, 1, 7)
        basic(f"{name}.branch7x7dbl_4", c7, c7, 7, 1)
        basic(f"{name}.branch7x7dbl_5", 192, c7, 1, 7)
        basic(f"{name}.branch_pool", 192, 768, 1)
    basic("Mixed_7a.branch3x3_1", 192, 768, 1)
    basic("Mixed_7a.branch3x3_2", 320, 192, 3)
    basic("Mixed_7a.branch7x7x3_1", 192, 768, 1)
    basic("Mixed_7a.branch7x7x3_2", 192, 192, 1, 7)
    basic("Mixed_7a.branch7x7x3_3", 192, 192, 7, 1)
    basic("Mixed_7a.branch7x7x3_4", 192, 192, 3)
    for name, c_in in [("Mixed_7b", 1280), ("Mixed_7c", 2048)]:
        basic(f"{name}.branch1x1", 320, c_in, 1)
        basic(f"{name}.branch3x3_1", 384, c_in, 1)
        basic(f"{name}.branch3x3_2a", 384, 384, 1, 3)
        basic(f"{name}.branch3x3_2b", 384, 384, 3, 1)
        basic(f"{name}.branch3x3dbl_1", 448, c_in, 1)
        basic(f"{name}.branch3x3dbl_2", 384, 448, 3)
        basic(f"{name}.branch3x3dbl_3a", 384, 384, 1, 3)
        basic(f"{name}.branch3x3dbl_3b", 384, 384, 3, 1)
        basic(f"{name}.branch_pool", 192, c_in, 1)
    sd["fc.weight"] = 0.01 * torch.randn(1008, 2048)
    sd["fc.bias"] = torch.zeros(1008)
    return sd


def r3d50_checkpoint() -> dict:
    """kenshohara `resnet-50-kinetics.pth`: a training checkpoint, DataParallel `module.` names, shortcut B."""
    sd: dict[str, torch.Tensor] = {}
    _conv("module.conv1.weight", (64, 3, 7, 7, 7), sd)
    _bn("module.bn1", 64, sd)
    c_in = 64
    for layer, (planes, blocks) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3), strict=True), 1):
        for b in range(blocks):
            p = f"module.layer{layer}.{b}"
            _conv(f"{p}.conv1.weight", (planes, c_in, 1, 1, 1), sd)
            _bn(f"{p}.bn1", planes, sd)
            _conv(f"{p}.conv2.weight", (planes, planes, 3, 3, 3), sd)
            _bn(f"{p}.bn2", planes, sd)
            _conv(f"{p}.conv3.weight", (planes * 4, planes, 1, 1, 1), sd)
            _bn(f"{p}.bn3", planes * 4, sd)
            if b == 0:
                _conv(f"{p}.downsample.0.weight", (planes * 4, c_in, 1, 1, 1), sd)
                _bn(f"{p}.downsample.1", planes * 4, sd)
            c_in = planes * 4
    sd["module.fc.weight"] = 0.01 * torch.randn(400, 2048)
    sd["module.fc.bias"] = torch.zeros(400)
    return {"epoch": 200, "arch": "resnet-50", "state_dict": sd, "optimizer": {"state": {}, "param_groups": [{"lr": 0.1, "params": [0, 1]}]}}


I3D_MIXED = [("Mixed_3b", 192, (64, 96, 128, 16, 32, 32)), ("Mixed_3c", 256, (128, 128, 192, 32, 96, 64)),
             ("Mixed_4b", 480, (192, 96, 208, 16, 48, 64)), ("Mixed_4c", 512, (160, 112, 224, 24, 64, 64)),
             ("Mixed_4d", 512, (128, 128, 256, 24, 64, 64)), ("Mixed_4e", 512, (112, 144, 288, 32, 64, 64)),
             ("Mixed_4f", 528, (256, 160, 320, 32, 128, 128)), ("Mixed_5b", 832, (256, 160, 320, 32, 128, 128)),
             ("Mixed_5c", 832, (384, 192, 384, 48, 128, 128))]  # fmt: skip


def i3d_state() -> dict[str, torch.Tensor]:
    """`i3d_pretrained_400.pt` (pytorch-i3d layout): Unit3D = conv3d (+ bn), logits with a bias."""
    sd: dict[str, torch.Tensor] = {}

    def unit(name, c_out, c_in, k):
        _conv(f"{name}.conv3d.weight", (c_out, c_in, k, k, k), sd)
        _bn(f"{name}.bn", c_out, sd)

    unit("Conv3d_1a_7x7", 64, 3, 7)
    unit("Conv3d_2b_1x1", 64, 64, 1)
    unit("Conv3d_2c_3x3", 192, 64, 3)
    for name, c_in, c in I3D_MIXED:
        unit(f"{name}.b0", c[0], c_in, 1)
        unit(f"{name}.b1a", c[1], c_in, 1)
        unit(f"{name}.b1b", c[2], c[1], 3)
        unit(f"{name}.b2a", c[3], c_in, 1)
        unit(f"{name}.b2b", c[4], c[3], 3)
        unit(f"{name}.b3b", c[5], c_in, 1)
    sd["logits.conv3d.weight"] = 0.01 * torch.randn(400, 1024, 1, 1, 1)
    sd["logits.conv3d.bias"] = torch.zeros(400)
    return sd


VGG16_CONVS = [(0, 3, 64), (2, 64, 64), (5, 64, 128), (7, 128, 128), (10, 128, 256), (12, 256, 256), (14, 256, 256),
               (17, 256, 512), (19, 512, 512), (21, 512, 512), (24, 512, 512), (26, 512, 512), (28, 512, 512)]  # fmt: skip


def vgg16_state() -> dict[str, torch.Tensor]:
    """torchvision `vgg16-397923af.pth`. The classifier (4096×25088 …) is present under its real names but
    at a token size here: the LPIPS loader drops `classifier.*` unread."""
    sd: dict[str, torch.Tensor] = {}
    for i, c_in, c_out in VGG16_CONVS:
        _conv(f"features.{i}.weight", (c_out, c_in, 3, 3), sd)
        sd[f"features.{i}.bias"] = torch.zeros(c_out)
    for i in (0, 3, 6):
        sd[f"classifier.{i}.weight"] = torch.zeros(2, 2)
        sd[f"classifier.{i}.bias"] = torch.zeros(2)
    return sd


def lpips_heads_state() -> dict[str, torch.Tensor]:
    """The `lpips` package's `weights/v0.1/vgg.pth`: five non-negative 1×1 heads."""
    return {f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1) * 0.1 for k, c in enumerate((64, 128, 256, 512, 512))}


class _TinyScriptedI3d(torch.nn.Module):
    """The call signature of StyleGAN-V's `i3d_torchscript.pt` (a tiny body, 400 outputs)."""

    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(3, 400)

    def forward(self, x: torch.Tensor, rescale: bool = True, resize: bool = True, return_features: bool = False) -> torch.Tensor:
        pooled = x.mean(dim=(2, 3, 4))
        out = self.proj(pooled)
        if not return_features:
            out = torch.softmax(out, dim=1)
        return out


def write_all(cache: Path, seed: int = 0) -> dict[str, Path]:
    """Every metric weight file under `<cache>/<name>/<file>`, as `humanvid weights fetch` lays them out."""
    torch.manual_seed(seed)
    files = {
        "fid-inception": ("pt_inception-2015-12-05-6726825d.pth", fid_inception_state()),
        "r3d50-kinetics": ("resnet-50-kinetics.pth", r3d50_checkpoint()),
        "i3d-kinetics400": ("i3d_pretrained_400.pt", i3d_state()),
        "vgg16-imagenet": ("vgg16-397923af.pth", vgg16_state()),
        "lpips-vgg-v0.1": ("vgg.pth", lpips_heads_state()),
    }
    out = {}
    for name, (filename, obj) in files.items():
        path = cache / name / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(obj, path)
        out[name] = path
    path = cache / "i3d-torchscript-styleganv" / "i3d_torchscript.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.jit.save(torch.jit.script(_TinyScriptedI3d()), str(path))
    out["i3d-torchscript-styleganv"] = path
    return out
