"""Attention arithmetic the methods' diffusers processors share: multi-head attention over projected queries, keys
and values, and the check that a layer is the plain self-attention a processor replaces."""

from __future__ import annotations

import re

import torch
import torch.nn.functional as F

SPATIAL_SELF_ATTENTION = re.compile(r"^(down_blocks|mid_block|up_blocks)\..*attentions\.\d+\.transformer_blocks\.\d+\.attn1$")
"""The name of a spatial transformer block's self-attention (`attn1`) in a UNet or ControlNet."""


def attend(attn, queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """Multi-head attention of projected queries (N, Lq, C) over projected keys/values (N, Lk, C), then
    the layer's output projection -> (N, Lq, C). `bias` (Lq, Lk): added to every head's logits."""
    n, lq, c = queries.shape
    h = attn.heads

    def split(x: torch.Tensor) -> torch.Tensor:  # (N, L, C) -> (N, heads, L, C / heads)
        return x.unflatten(-1, (h, c // h)).transpose(1, 2)

    out = F.scaled_dot_product_attention(split(queries), split(keys), split(values), attn_mask=bias, scale=attn.scale)
    out = out.transpose(1, 2).reshape(n, lq, c)
    return attn.to_out[1](attn.to_out[0](out)) / attn.rescale_output_factor


def check_plain(attn, name: str, what: str) -> None:
    """The blocks these processors replace are SD's attn1: no norms inside, no residual, no mask."""
    for feature in ("group_norm", "spatial_norm", "norm_q", "norm_k", "norm_cross"):
        if getattr(attn, feature, None) is not None:
            raise ValueError(f"{name}: {what} supports plain self-attention only ({feature} is set)")
    if attn.residual_connection:
        raise ValueError(f"{name}: {what} supports plain self-attention only (residual_connection)")


METHOD_ARGUMENTS = ("appearance", "frames")
"""The per-call arguments the methods pass through `cross_attention_kwargs` to every attention layer: MagicAnimate's
`appearance` (its hybrid attention), Make-Your-Anchor's `frames` (its all-frame attention)."""


class DropsArguments:
    """Any attention layer a method does not replace: its own processor, with the methods' per-call arguments accepted
    and dropped. They are named in the signature because diffusers reads it: an argument a processor's `__call__`
    does not name is dropped with a warning on every call (`**kwargs` does not count)."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, appearance=None, frames=None,
                 **kwargs):  # fmt: skip
        return self.inner(attn, hidden_states, encoder_hidden_states, attention_mask, temb, **kwargs)

