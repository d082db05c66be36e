"""Make-Your-Anchor's training-free 2D → 3D inflation: all-frame attention (the release's `FullyFrameAttention`).

At inference every spatial self-attention layer of the UNet and of the ControlNet attends over all frames of
its window: the window's (K, L, C) hidden states are one sequence of K·L tokens, so each frame's queries meet
every frame's keys and values. The layer's own projections are used as trained on single frames: inflation adds
no parameter. With one frame per window it is the per-frame layer, exactly.

The window length travels with each call (`cross_attention_kwargs={"frames": K}`), never in shared state; every
other attention layer gets a processor that accepts and drops the argument.
"""

from __future__ import annotations

import torch

from humanvid.models.attention_ops import SPATIAL_SELF_ATTENTION, DropsArguments, attend, check_plain


class AllFrameAttention:
    """Self-attention over the K frames of each window: hidden states (B·K, L, C), frame-major per window."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, frames: int = 1) -> torch.Tensor:
        if encoder_hidden_states is not None or attention_mask is not None:
            raise ValueError(f"{self.name}: all-frame attention is self-attention without a context or mask")
        n, length, channels = hidden_states.shape
        if frames < 1 or n % frames:
            raise ValueError(f"{self.name}: {n} rows are not windows of {frames} frames")
        x = hidden_states.reshape(n // frames, frames * length, channels)
        return attend(attn, attn.to_q(x), attn.to_k(x), attn.to_v(x)).reshape(n, length, channels)


def inflate(network: torch.nn.Module) -> list[str]:
    """All-frame attention on every spatial self-attention layer of a UNet or ControlNet; the other attention
    layers keep their processors (wrapped to ignore `frames`). Returns the inflated layer names."""
    from diffusers.models.attention_processor import Attention, AttnProcessor2_0

    names = []
    for name, module in network.named_modules():
        if not isinstance(module, Attention) or isinstance(module.processor, DropsArguments):
            continue
        if isinstance(module.processor, AllFrameAttention):  # inflated before
            names.append(name)
        elif SPATIAL_SELF_ATTENTION.match(name):
            check_plain(module, name, "all-frame attention")
            module.set_processor(AllFrameAttention(name))
            names.append(name)
        else:
            module.set_processor(DropsArguments(module.processor or AttnProcessor2_0()))
    return names
