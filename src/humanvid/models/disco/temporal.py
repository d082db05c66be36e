"""DisCo's temporal layers (the release's `config/disco_w_tm/tem_disco_temp_attn`), added to diffusers' 2D networks.

The release rebuilds its UNet and both ControlNets from 3D blocks; the differences from the image model are three, and
each is added here to the image model's own modules, so its weights and key names stay as they were:

- every ResNet block gets a **temporal convolution** after its second convolution: GroupNorm over the clip -> SiLU ->
  a kernel-3 `Conv1d` along the frames at each pixel, zero-initialised, added to its input (`tem_norm`, `tem_conv`);
- every transformer block gets a **temporal self-attention** after its spatial self-attention: each token attends to
  the same token of the clip's other frames, its output projection zero-initialised, added to the residual stream
  (`tem_attn`; the release normalises its input with the block's `norm2`, the one its cross-attention then uses again,
  and keeps an unused `tem_norm` beside it — `temporal_norm` chooses);
- the ResNet blocks' GroupNorms (and the UNet's output GroupNorm) take their statistics over the whole clip (a GroupNorm
  applied to (B, C, F, H, W), as the release's 3D blocks do), not over each frame.

The networks still take (B·F, ...) rows, a clip's frames consecutive; a `FrameCount` shared by every layer says F. With
F = 1, or a clip of identical frames, the untrained temporal layers leave the image model's output unchanged (the
temporal convolution and the attention's output start at zero; clip statistics of identical frames are each frame's).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers.models.attention import Attention, BasicTransformerBlock
from diffusers.models.resnet import ResnetBlock2D

from humanvid.models.block_hooks import after_self_attention

TEMPORAL_PREFIX = "tem_"
"""What the release's temporal parameters' names start with (their key names below each block)."""

MOTION_MODULES = "motion_modules"
"""Where AnimateDiff's motion modules sit when a model uses them as its temporal layers (humanvid.models.idol.motion):
their parameters are temporal too."""

TEMPORAL_NORMS = ("shared", "own")
"""`shared`: the temporal attention reads the block's `norm2` (the release's forward); `own`: its own `tem_norm`."""


@dataclass
class FrameCount:
    """How many consecutive rows of the next forward pass form one clip (set by the model before each call)."""

    value: int = 1
    attached: bool = False
    """Whether temporal layers read this count (set by `add_temporal_layers`): the model's cheap "is it temporal"."""

    def clips(self, rows: int) -> int:
        if rows % self.value:
            raise ValueError(f"{rows} rows are not whole clips of {self.value} frames")
        return rows // self.value


class ClipGroupNorm(torch.nn.GroupNorm):
    """A GroupNorm whose statistics span each clip's frames: rows (B·F, C, H, W) normalised as (B, C, F, H, W)."""

    def __init__(self, num_groups: int, num_channels: int, eps: float, affine: bool, frames: FrameCount) -> None:
        super().__init__(num_groups, num_channels, eps=eps, affine=affine)
        self.frames = frames

    @classmethod
    def replacing(cls, norm: torch.nn.GroupNorm, frames: FrameCount) -> "ClipGroupNorm":
        new = cls(norm.num_groups, norm.num_channels, norm.eps, norm.affine, frames)
        new.load_state_dict(norm.state_dict())
        return new.to(norm.weight.device, norm.weight.dtype) if norm.affine else new

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.frames.value
        if f == 1:
            return super().forward(x)
        b = self.frames.clips(x.shape[0])
        clip = x.unflatten(0, (b, f)).transpose(1, 2)  # (B, C, F, H, W)
        out = F.group_norm(clip, self.num_groups, self.weight, self.bias, self.eps)
        return out.transpose(1, 2).flatten(0, 1)


def temporal_conv(resnet: ResnetBlock2D, x: torch.Tensor, frames: FrameCount) -> torch.Tensor:
    """x (B·F, C, H, W), the block's second convolution's output -> x plus its temporal convolution."""
    f = frames.value
    b = frames.clips(x.shape[0])
    h = F.silu(resnet.tem_norm(x))
    c, hh, ww = h.shape[1:]
    seq = h.unflatten(0, (b, f)).permute(0, 3, 4, 2, 1).reshape(b * hh * ww, c, f)  # (B·H·W, C, F)
    seq = resnet.tem_conv(seq)
    return x + seq.reshape(b, hh, ww, c, f).permute(0, 4, 3, 1, 2).flatten(0, 1)


def temporal_attention(block: BasicTransformerBlock, stream: torch.Tensor, norm: torch.nn.Module, frames: FrameCount) -> torch.Tensor:
    """The residual stream after spatial self-attention (B·F, L, C) -> the temporal attention's output, same shape
    (each of the L tokens attends over the clip's F frames)."""
    f = frames.value
    b = frames.clips(stream.shape[0])
    length, c = stream.shape[1:]
    seq = stream.unflatten(0, (b, f)).transpose(1, 2).reshape(b * length, f, c)
    out = block.tem_attn(norm(seq))
    return out.reshape(b, length, f, c).transpose(1, 2).flatten(0, 1)


def _add_temporal_conv(resnet: ResnetBlock2D, frames: FrameCount) -> None:
    channels = resnet.conv2.out_channels
    resnet.tem_norm = ClipGroupNorm(resnet.norm2.num_groups, channels, resnet.norm2.eps, True, frames)
    resnet.tem_conv = torch.nn.Conv1d(channels, channels, kernel_size=3, stride=1, padding=1)
    torch.nn.init.zeros_(resnet.tem_conv.weight)
    torch.nn.init.zeros_(resnet.tem_conv.bias)
    resnet.norm1 = ClipGroupNorm.replacing(resnet.norm1, frames)
    resnet.norm2 = ClipGroupNorm.replacing(resnet.norm2, frames)
    resnet.conv2.register_forward_hook(lambda module, args, out: temporal_conv(resnet, out, frames))


def _add_temporal_attention(block: BasicTransformerBlock, frames: FrameCount, norm: str) -> None:
    attn1 = block.attn1
    dim = attn1.inner_dim
    block.tem_attn = Attention(query_dim=dim, heads=attn1.heads, dim_head=dim // attn1.heads,
                               bias=attn1.to_q.bias is not None, upcast_attention=attn1.upcast_attention)  # fmt: skip
    torch.nn.init.zeros_(block.tem_attn.to_out[0].weight)
    torch.nn.init.zeros_(block.tem_attn.to_out[0].bias)
    block.tem_norm = torch.nn.LayerNorm(dim, elementwise_affine=block.norm1.elementwise_affine)
    use = block.norm2 if norm == "shared" else block.tem_norm
    after_self_attention(block, lambda before, after: temporal_attention(block, after, use, frames))


def add_temporal_layers(network: torch.nn.Module, frames: FrameCount, norm: str = "shared") -> list[str]:
    """Add DisCo's temporal layers to a diffusers UNet or ControlNet in place (see the module docstring); returns the
    names of the blocks that got them. The network's own parameters keep their names and values."""
    if norm not in TEMPORAL_NORMS:
        raise ValueError(f"temporal_norm {norm!r}; known: {', '.join(TEMPORAL_NORMS)}")
    if has_temporal_layers(network):
        raise ValueError(f"{type(network).__name__} already has temporal layers")
    named = [(name, m) for name, m in network.named_modules() if isinstance(m, ResnetBlock2D | BasicTransformerBlock)]
    if not named:
        raise ValueError(f"{type(network).__name__} has no ResNet or transformer blocks to add temporal layers to")
    for _, module in named:
        if isinstance(module, ResnetBlock2D):
            _add_temporal_conv(module, frames)
        else:
            _add_temporal_attention(module, frames, norm)
    out_norm = getattr(network, "conv_norm_out", None)  # the UNet's output GroupNorm (a ControlNet has none)
    if isinstance(out_norm, torch.nn.GroupNorm):
        network.conv_norm_out = ClipGroupNorm.replacing(out_norm, frames)
    frames.attached = True
    return [name for name, _ in named]


def is_temporal(name: str) -> bool:
    """Whether a parameter name belongs to a temporal layer (a `tem_` module, or a block's motion modules, on its path)."""
    return any(part.startswith(TEMPORAL_PREFIX) or part == MOTION_MODULES for part in name.split("."))


def has_temporal_layers(network: torch.nn.Module) -> bool:
    return any(is_temporal(name) for name, _ in network.named_parameters())


def temporal_parameters(network: torch.nn.Module) -> list[torch.nn.Parameter]:
    """The parameters the temporal layers added (names with `tem_`)."""
    return [p for name, p in network.named_parameters() if is_temporal(name)]
