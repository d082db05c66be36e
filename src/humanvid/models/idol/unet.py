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
- **The reference cross-attention's maps** (`MapSharingProcessor`, every transformer block's `attn2`): computed
  explicitly, so a joint pass can share them between the streams (supplement Table 1) and L_xattn can read them.
- **Motion features**: the outputs of the chosen transformer layers, which L_mo's motion fields are computed on.

`DualModal` holds the state of one unified UNet's passes and adds all of the above (`attach`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers import UNet2DConditionModel
from diffusers.models.attention import Attention, BasicTransformerBlock
from diffusers.models.embeddings import TimestepEmbedding

from humanvid.models.block_hooks import after_self_attention
from humanvid.models.idol.losses import MAP_SHARING, shared_maps

MODALITIES = ("video", "depth")
"""The modality label's order: index 0 is y_v, index 1 is y_d."""
CROSS_MODAL = "cross_modal_attn"
"""The attribute (and state-dict name) of each transformer block's cross-modal attention."""


def has_modality_label(unet: UNet2DConditionModel) -> bool:
    """Whether `unet`'s config declares the modality label (a UNet rebuilt from a saved config has its embedding)."""
    return unet.config.class_embed_type == "projection" and unet.config.projection_class_embeddings_input_dim == len(MODALITIES)


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


class MapSharingProcessor:
    """A transformer block's reference cross-attention (`attn2`) with its maps explicit: softmax(q·kᵀ·scale) per head,
    then the maps times the values. In a joint pass (video rows, then depth rows) the two halves' maps are kept for
    L_xattn when `dual.record_maps`, and replaced as `dual.sharing` says."""

    def __init__(self, dual: "DualModal") -> None:
        self.dual = dual

    def __call__(self, attn: Attention, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, **kwargs):
        if attention_mask is not None or hidden_states.ndim != 3:
            raise ValueError("IDOL's cross-attention takes tokens (N, L, C) and no mask")
        context = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        query, key, value = (
            attn.head_to_batch_dim(p(x)) for p, x in ((attn.to_q, hidden_states), (attn.to_k, context), (attn.to_v, context))
        )
        maps = attn.get_attention_scores(query, key)  # (N·heads, Lq, Lk), sample-major: the first half is the video rows
        if self.dual.streams.joint:
            half = maps.shape[0] // 2
            video, depth = maps[:half], maps[half:]
            if self.dual.record_maps:
                self.dual.maps.append((video, depth))
            maps = torch.cat(shared_maps(video, depth, self.dual.sharing))
        out = attn.batch_to_head_dim(torch.bmm(maps, value))
        return attn.to_out[1](attn.to_out[0](out)) / attn.rescale_output_factor


MOTION_LAYERS = ("up", "all")
"""Whose outputs L_mo reads: the decoder's transformer layers, or every transformer layer of the UNet."""


class DualModal:
    """One unified UNet's pass state (which rows are which stream, what the alignment terms read) and the layers it adds."""

    def __init__(self, sharing: str = "none", motion_layers: str = "up") -> None:
        if sharing not in MAP_SHARING:
            raise ValueError(f"map sharing {sharing!r}; known: {', '.join(MAP_SHARING)}")
        if motion_layers not in MOTION_LAYERS:
            raise ValueError(f"motion layers {motion_layers!r}; known: {', '.join(MOTION_LAYERS)}")
        self.streams = Streams()
        self.sharing, self.motion_layers = sharing, motion_layers
        self.record_maps = self.record_features = False
        self.maps: list[tuple[torch.Tensor, torch.Tensor]] = []
        """Per cross-attention layer of the last recorded pass: (video maps, depth maps), each (B·heads, Lq, Lk)."""
        self.features: list[torch.Tensor] = []
        """Per motion layer of the last recorded pass: its output (2N, C, h, w), video rows first."""

    def attach(self, unet: UNet2DConditionModel) -> None:
        """Add the modality label (unless the config already built it), the cross-modal attention, the map-sharing
        processors and the motion-feature hooks to `unet`."""
        from diffusers.models.transformers.transformer_2d import Transformer2DModel

        if not has_modality_label(unet):
            add_modality_label(unet)
        add_cross_modal_attention(unet, self.streams)
        for module in unet.modules():
            if isinstance(module, BasicTransformerBlock) and module.attn2 is not None:
                module.attn2.set_processor(MapSharingProcessor(self))
        for name, module in unet.named_modules():
            if isinstance(module, Transformer2DModel) and (self.motion_layers == "all" or name.startswith("up_blocks.")):
                module.register_forward_hook(self._keep_features)

    def _keep_features(self, module, args, out) -> None:
        if self.record_features and self.streams.joint:
            self.features.append(out[0] if isinstance(out, tuple) else out.sample)

    def start_recording(self, maps: bool, features: bool) -> None:
        self.maps, self.features = [], []
        self.record_maps, self.record_features = maps, features

    def stop_recording(self) -> None:
        self.record_maps = self.record_features = False
        self.maps, self.features = [], []
