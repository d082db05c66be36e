"""Adding a branch after a diffusers transformer block's spatial self-attention, without changing the block's code or
its parameters' names (DisCo's temporal attention, IDOL's cross-modal attention).

`BasicTransformerBlock` adds its self-attention's output to the residual stream it normalised. A pre-hook on `norm1`
sees that stream; a hook on `attn1` returns the self-attention's output plus the branch's output — so the block adds
both, exactly as a block with the branch written in would.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from diffusers.models.attention import BasicTransformerBlock


def after_self_attention(block: BasicTransformerBlock, branch: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """Make `block` add `branch(before, after)` to its residual stream right after its spatial self-attention, where
    `before` (N, L, C) is the block's input and `after` the residual stream with the self-attention's output added."""
    if block.norm_type != "layer_norm":
        raise ValueError(f"a branch after self-attention is defined for layer-norm transformer blocks, not {block.norm_type!r}")
    stash: dict[str, torch.Tensor] = {}

    def remember_stream(module, args):
        stash["stream"] = args[0]  # norm1's input: the residual stream the spatial self-attention adds to

    def add_branch(module, args, kwargs, out):
        before = stash.pop("stream")
        return out + branch(before, before + out)

    block.norm1.register_forward_pre_hook(remember_stream)
    block.attn1.register_forward_hook(add_branch, with_kwargs=True)
