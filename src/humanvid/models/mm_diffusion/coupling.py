"""MM-Diffusion's coupled U-Nets, as IDOL adapts them for video and depth (docs/mm_diffusion.md).

MM-Diffusion (Ruan et al., CVPR 2023) generates video and audio with two sub-networks that exchange features through a
random-shift multimodal attention (RS-MMA: each video frame attends to a window of the audio around it, the window
shifted at random in training; each modality its own normalisation and q/k/v projection; a zero-initialised output
projection added to the residual). IDOL's adaptation replaces the audio U-Net with a copy of the video U-Net that
shares no parameters, and keeps the rest.

Here the two U-Nets run **in lockstep as one network**: the video U-Net's structure runs on a joint batch (video rows,
then as many depth rows, `Streams`), and every layer of it that holds parameters hands the depth rows to its
counterpart of the same name in the depth U-Net (`pair_layers`). Every such layer acts on each row alone (convolutions,
linear maps, norms over a row's own features; DisCo's temporal layers over a clip's own frames), so this is exactly the
two U-Nets run side by side — which a test checks — while RS-MMA, which needs both streams at the same block, sees them
together. The depth U-Net is a complete diffusers U-Net (its own folder, key names as the video one's) that is never run
through its own blocks.

**RS-MMA** (`CoupledAttention`, in every transformer block after its spatial self-attention, where IDOL puts its
cross-modal attention): each stream's tokens (LayerNorm, then q, k, v by one linear map) attend to the other stream's
tokens of the frames in a window of `w` frames of the same clip; the window starts `w // 2` frames before the frame
(clamped to the clip), in training at a random offset — one draw per call, the window still holding the frame itself
(MM-Diffusion's `window_shift`). A single-frame clip attends to its own counterpart.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.models.attention import BasicTransformerBlock

from humanvid.models.block_hooks import after_self_attention
from humanvid.models.disco.temporal import FrameCount
from humanvid.models.idol.unet import Streams

COUPLING = "mm_attn"
"""The attribute (and state-dict name) of each transformer block's RS-MMA half."""
ROW_WISE = (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.GroupNorm, torch.nn.LayerNorm)
"""Layer types that act on each row of a batch alone: the only ones a joint pass may split between the two U-Nets."""


class CoupledAttention(torch.nn.Module):
    """One stream's half of an RS-MMA block: its normalisation, its q/k/v projection, its zero-initialised output."""

    def __init__(self, dim: int, heads: int, window: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"{dim} channels do not split into {heads} heads")
        if window < 1:
            raise ValueError(f"the coupling window must be at least one frame, got {window}")
        self.heads, self.window = heads, window
        self.norm = torch.nn.LayerNorm(dim)
        self.qkv = torch.nn.Linear(dim, 3 * dim)
        self.out = torch.nn.Linear(dim, dim)
        torch.nn.init.zeros_(self.out.weight)
        torch.nn.init.zeros_(self.out.bias)


def window_frames(frames: int, window: int, shift: int) -> torch.Tensor:
    """(frames, window) indices: frame i's window starts at i - window // 2 + shift, clamped to [0, frames - 1]."""
    start = torch.arange(frames)[:, None] - window // 2 + shift
    return (start + torch.arange(window)[None]).clamp(0, frames - 1)


def rs_mma(video: torch.Tensor, depth: torch.Tensor, video_half: CoupledAttention, depth_half: CoupledAttention, frames: int,
           shift: int = 0) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Tokens of both streams (B·F, L, C), rows clips of `frames` consecutive frames -> what each stream adds to its
    residual stream (B·F, L, C): its queries over the other stream's keys and values in each frame's window."""
    qkv = {name: half.qkv(half.norm(x)).chunk(3, dim=-1) for name, half, x in (("video", video_half, video), ("depth", depth_half, depth))}
    index = window_frames(frames, video_half.window, shift).to(video.device)

    def attend(own: str, other: str, half: CoupledAttention) -> torch.Tensor:
        q = qkv[own][0]
        rows, length, dim = q.shape
        b, h = rows // frames, half.heads

        def windowed(x: torch.Tensor) -> torch.Tensor:  # (B·F, L, C) -> (B·F, heads, w·L, C/heads)
            clip = x.unflatten(0, (b, frames))[:, index]  # (B, F, w, L, C)
            return clip.reshape(rows, -1, h, dim // h).transpose(1, 2)

        out = F.scaled_dot_product_attention(q.reshape(rows, length, h, dim // h).transpose(1, 2), windowed(qkv[other][1]),
                                             windowed(qkv[other][2]))  # fmt: skip
        return half.out(out.transpose(1, 2).reshape(rows, length, dim))

    return attend("video", "depth", video_half), attend("depth", "video", depth_half)


class _SplitRows:
    """A video-U-Net layer's forward that, in a joint pass, runs its first half of rows itself and hands the second
    half to its depth counterpart's forward (not `__call__`: the depth U-Net's own hooks never run)."""

    def __init__(self, video_forward, depth_layer: torch.nn.Module, streams: Streams) -> None:
        self.video_forward, self.depth_layer, self.streams = video_forward, depth_layer, streams

    def __call__(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        if not self.streams.joint:
            return self.video_forward(x, *args, **kwargs)
        n = x.shape[0]
        if n % 2:
            raise ValueError(f"a joint pass holds video and depth rows alike, got {n} rows")
        return torch.cat([self.video_forward(x[: n // 2], *args, **kwargs), self.depth_layer.forward(x[n // 2 :], *args, **kwargs)])


def pair_layers(video: torch.nn.Module, depth: torch.nn.Module, streams: Streams) -> int:
    """Make every parameter-holding layer of `video` (outside the RS-MMA halves) hand the depth rows of a joint pass to
    `depth`'s layer of the same name; layers paired before are left as they are. Returns how many were paired now."""
    counterparts = dict(depth.named_modules())
    paired = 0
    for name, layer in video.named_modules():
        if COUPLING in name.split(".") or not any(True for _ in layer.parameters(recurse=False)):
            continue
        if isinstance(layer.__dict__.get("forward"), _SplitRows):
            continue
        other = counterparts.get(name)
        if other is None or type(other) is not type(layer):
            raise ValueError(f"the depth U-Net has no {type(layer).__name__} {name!r} to pair with the video U-Net's")
        if not isinstance(layer, ROW_WISE):
            raise ValueError(f"{name!r} is a {type(layer).__name__}: not known to act on each row alone, so it cannot be split")
        layer.forward = _SplitRows(layer.forward, other, streams)
        paired += 1
    return paired


def transformer_blocks(unet: torch.nn.Module) -> list[tuple[str, BasicTransformerBlock]]:
    return [(name, m) for name, m in unet.named_modules() if isinstance(m, BasicTransformerBlock)]


def block_window(name: str, levels: int, windows: tuple[int, ...]) -> int:
    """The coupling window of the transformer block `name` in a U-Net with `levels` resolutions: MM-Diffusion widens
    its window with depth (its `cross_attention_windows` 1, 4, 8); level 0 is the finest (down_blocks.0, the last up
    block), the mid block the coarsest."""
    parts = name.split(".")
    if parts[0] == "down_blocks":
        level = int(parts[1])
    elif parts[0] == "up_blocks":
        level = levels - 1 - int(parts[1])
    else:
        level = levels - 1
    return windows[min(level, len(windows) - 1)]


class CoupledUNets:
    """The depth U-Net beside a video U-Net, their RS-MMA blocks and the joint pass's state (`streams`)."""

    def __init__(self, windows: tuple[int, ...] = (1, 4, 8), shift: bool = True, frames: FrameCount | None = None) -> None:
        self.streams = Streams()
        self.windows, self.shift = tuple(windows), shift
        self.frames = frames or FrameCount()
        self.depth_unet: torch.nn.Module | None = None
        self._depth_blocks: dict[str, BasicTransformerBlock] = {}

    def attach(self, unet: torch.nn.Module) -> None:
        """Stage 1: a depth U-Net as a parameter copy of `unet` (built from its config), both given their RS-MMA
        halves, coupled."""
        depth = type(unet).from_config(unet.config)
        depth.load_state_dict(unet.state_dict())
        self.couple(unet)
        self.set_depth(depth.to(unet.device, unet.dtype))
        self.pair(unet)

    def couple(self, unet: torch.nn.Module) -> None:
        """Give the video `unet` its RS-MMA halves and its transformer blocks the coupling branch (before any later
        branch, e.g. the temporal attention: a saved U-Net is rebuilt in the order training built it). The depth
        U-Net's halves are looked up by block name when a joint pass runs."""
        self.add_halves(unet)
        for name, block in transformer_blocks(unet):
            after_self_attention(block, lambda before, after, name=name, block=block: self._couple(after, getattr(block, COUPLING), name))

    def set_depth(self, depth_unet: torch.nn.Module) -> None:
        """The depth U-Net (its RS-MMA halves added if it has none yet) beside the coupled video U-Net."""
        self.add_halves(depth_unet)
        self.depth_unet = depth_unet
        self._depth_blocks = dict(transformer_blocks(depth_unet))

    def add_halves(self, unet: torch.nn.Module) -> None:
        """An RS-MMA half in every transformer block of `unet` (before its weights load, for a saved U-Net)."""
        levels = len(unet.config.block_out_channels)
        for name, block in transformer_blocks(unet):
            if not hasattr(block, COUPLING):
                dim = block.attn1.inner_dim
                setattr(block, COUPLING, CoupledAttention(dim, block.attn1.heads, block_window(name, levels, self.windows)))

    def pair(self, unet: torch.nn.Module) -> int:
        """Pair `unet`'s layers with the depth U-Net's (again after layers were added to both, e.g. temporal ones)."""
        if self.depth_unet is None:
            raise ValueError("no depth U-Net attached")
        return pair_layers(unet, self.depth_unet, self.streams)

    def _couple(self, stream: torch.Tensor, video_half: CoupledAttention, name: str) -> torch.Tensor:
        if not self.streams.joint:
            return torch.zeros_like(stream)
        if name not in self._depth_blocks:
            raise ValueError(f"a joint pass reached transformer block {name!r} with no depth U-Net block of that name")
        depth_half = getattr(self._depth_blocks[name], COUPLING)
        n = stream.shape[0] // 2
        frames = self.frames.value
        self.frames.clips(n)  # each stream's rows are whole clips
        window, shift = video_half.window, 0
        if self.shift and video_half.training and window > 1 and frames > 1:
            shift = int(torch.randint(window // 2 - (window - 1), window // 2 + 1, ()))  # the window still holds the frame
        video, depth = rs_mma(stream[:n], stream[n:], video_half, depth_half, frames, shift)
        return torch.cat([video, depth])


def halves_parameters(unet: torch.nn.Module) -> list[torch.nn.Parameter]:
    """The RS-MMA halves' parameters of one U-Net."""
    return [p for name, p in unet.named_parameters() if COUPLING in name.split(".")]


__all__ = ["COUPLING", "CoupledAttention", "CoupledUNets", "halves_parameters", "pair_layers", "rs_mma", "window_frames"]
