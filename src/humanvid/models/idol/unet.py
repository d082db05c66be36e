"""IDOL's unified dual-modal UNet parts, added to a diffusers `UNet2DConditionModel` (docs/idol.md lists the choices).

- **Modality label**: a one-hot (y_v, y_d) through a projection class embedding (diffusers' `class_embed_type
  "projection"`: a two-layer MLP into the time embedding, added to it). Its output layer starts at zero, so a UNet
  starts as the image UNet it was; the config records it, so `from_pretrained` rebuilds it.
- **Cross-modal attention** in every transformer block, after its spatial self-attention: the network runs the two
  streams as one batch, video rows first then depth rows (`Streams`), and each stream's tokens attend to the other
  stream's tokens of the same sample: queries from its residual stream after self-attention (through the branch's own
  LayerNorm), keys and values from the other stream's features entering the block (a LayerNorm without affine
  parameters, projections without bias), and an output projection without bias that starts at zero. A zero other
  stream contributes exactly nothing: the block reduces to the plain one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers import UNet2DConditionModel
from diffusers.models.attention import Attention, BasicTransformerBlock
from diffusers.models.embeddings import TimestepEmbedding

from humanvid.models.block_hooks import after_self_attention

MODALITIES = ("video", "depth")
"""The modality label's order: index 0 is y_v, index 1 is y_d."""
CROSS_MODAL = "cross_modal_attn"
"""The attribute (and state-dict name) of each transformer block's cross-modal attention."""


def add_modality_label(unet: UNet2DConditionModel) -> None:
    """Give `unet` a projection class embedding of the two-way one-hot label, its last layer at zero."""
    if unet.class_embedding is not None:
        raise ValueError("the UNet already has a class embedding")
    time_dim = unet.time_embedding.linear_2.out_features
    unet.class_embedding = TimestepEmbedding(len(MODALITIES), time_dim)
    torch.nn.init.zeros_(unet.class_embedding.linear_2.weight)
    torch.nn.init.zeros_(unet.class_embedding.linear_2.bias)
    unet.register_to_config(class_embed_type="projection", projection_class_embeddings_input_dim=len(MODALITIES))


def modality_labels(modality: str | list[str], device: torch.device | None = None) -> torch.Tensor:
    """One-hot labels (N, 2) for a modality name, or one per row."""
    names = [modality] if isinstance(modality, str) else list(modality)
    unknown = sorted(set(names) - set(MODALITIES))
    if unknown:
        raise ValueError(f"unknown modality {unknown}; known: {', '.join(MODALITIES)}")
    return torch.nn.functional.one_hot(torch.tensor([MODALITIES.index(n) for n in names], device=device), len(MODALITIES)).float()


@dataclass
class Streams:
    """Whether the next forward pass carries both streams (its batch: video rows, then as many depth rows)."""

    joint: bool = False


def cross_modal(block: BasicTransformerBlock, features: torch.Tensor, stream: torch.Tensor, streams: Streams) -> torch.Tensor:
    """The cross-modal attention's output in a joint pass (zeros otherwise): queries from the residual stream after
    self-attention (2B, L, C), keys and values from the other stream's features entering the block (2B, L, C)."""
    if not streams.joint:
        return torch.zeros_like(stream)
    n = stream.shape[0]
    if n % 2:
        raise ValueError(f"a joint pass holds video and depth rows alike, got {n} rows")
    attn = getattr(block, CROSS_MODAL)
    other = torch.cat([features[n // 2 :], features[: n // 2]])  # each row's counterpart in the other stream
    return attn(attn.query_norm(stream), encoder_hidden_states=attn.other_norm(other))


def add_cross_modal_attention(unet: torch.nn.Module, streams: Streams) -> list[str]:
    """Add a cross-modal attention to every transformer block of `unet` (see the module docstring); returns their
    names."""
    names = []
    for name, block in unet.named_modules():
        if not isinstance(block, BasicTransformerBlock):
            continue
        dim, heads = block.attn1.inner_dim, block.attn1.heads
        attn = Attention(query_dim=dim, cross_attention_dim=dim, heads=heads, dim_head=dim // heads, bias=False, out_bias=False)
        torch.nn.init.zeros_(attn.to_out[0].weight)
        attn.query_norm = torch.nn.LayerNorm(dim)
        attn.other_norm = torch.nn.LayerNorm(dim, elementwise_affine=False)
        setattr(block, CROSS_MODAL, attn)
        after_self_attention(block, lambda before, after, block=block: cross_modal(block, before, after, streams))
        names.append(name)
    if not names:
        raise ValueError(f"{type(unet).__name__} has no transformer blocks")
    return names
