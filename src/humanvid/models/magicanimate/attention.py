"""MagicAnimate's hybrid self-attention (supplement Sec. 1, Fig. 1).

The appearance encoder (a trainable UNet copy) runs on the reference latent; in each self-attention
transformer block of the chosen layers, the normalised input of its first attention layer — y_a — is
recorded. In the denoising UNet's matching block, self-attention projects y_a with its *own* key/value
projections and concatenates them to the frame's keys and values: softmax(Q [K, K'_a]^T) [V, V'_a].

Both sides are diffusers attention processors on the `attn1` of `BasicTransformerBlock`s (whose input
*is* the normalised hidden state), matched by module name — the appearance encoder and the denoiser have
the same spatial layout, so `up_blocks.1.attentions.0.transformer_blocks.0.attn1` in one feeds the same
name in the other.

Rows without a reference (classifier-free guidance's unconditional half, or a training sample whose
reference was dropped) attend to themselves only, exactly as the plain block — the released pipeline's
unconditional branch is the same network without appearance.

What one forward pass exchanges is an `Appearance` passed explicitly, through diffusers'
`cross_attention_kwargs={"appearance": ...}`, never held in shared state: gradient checkpointing re-runs a
block in the backward pass with the arguments of its forward call, so a re-computed block sees exactly
the appearance it saw (state reset after the forward would make the re-computation wrong). Every other
attention layer of the two UNets gets a processor that accepts and ignores the argument.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from humanvid.models.attention_ops import SPATIAL_SELF_ATTENTION, DropsArguments, attend, check_plain

FUSION_LAYERS = ("midup", "full")


def hybrid_layers(unet: torch.nn.Module, fusion: str) -> list[str]:
    """Names of the self-attention layers that exchange appearance: mid+up blocks (`midup`, the paper's
    choice) or down+mid+up (`full`, its ablation)."""
    if fusion not in FUSION_LAYERS:
        raise ValueError(f"unknown fusion layers {fusion!r}; known: {', '.join(FUSION_LAYERS)}")
    names = [n for n, _ in unet.named_modules() if SPATIAL_SELF_ATTENTION.match(n) and "motion_modules" not in n]
    if fusion == "midup":
        names = [n for n in names if not n.startswith("down_blocks")]
    if not names:
        raise ValueError(f"{type(unet).__name__} has no spatial self-attention in its {fusion} blocks")
    return names


@dataclass
class Appearance:
    """The appearance exchanged in one forward pass.

    tokens[layer]: (R, L, C) — the R references' normalised hidden states at that layer, recorded by the
    appearance encoder's writers (each layer once: a checkpointed re-computation does not overwrite them).
    rows: (N,) long — for each row of the denoiser's batch (frames flattened), the reference it attends to,
    or -1 for none. None (or no Appearance at all): the denoiser runs as the plain UNet.
    """

    tokens: dict[str, torch.Tensor] = field(default_factory=dict)
    rows: torch.Tensor | None = None
    _split: tuple | None = field(default=None, init=False, repr=False, compare=False)

    def split(self) -> tuple[str, torch.Tensor | None, torch.Tensor | None]:
        """(`none` | `all` | `some` rows with a reference, their indices, the other rows' indices), read from `rows`
        once per pass and kept: the hybrid layers then index without synchronising with the GPU each time."""
        if self._split is None:
            if self.rows is None:
                self._split = ("none", None, None)
            else:
                with_ref = self.rows.detach().cpu() >= 0  # the pass's one device-to-host read
                kind = "none" if not with_ref.any() else "all" if with_ref.all() else "some"
                to = lambda mask: torch.nonzero(mask).flatten().to(self.rows.device, non_blocking=True)  # noqa: E731
                self._split = (kind, to(with_ref), to(~with_ref))
        return self._split


class AppearanceWriter:
    """On the appearance encoder: record the layer's input (y_a) into the pass's Appearance, then attend as usual."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, appearance: Appearance | None = None):
        if encoder_hidden_states is not None or attention_mask is not None:
            raise ValueError(f"{self.name}: self-attention with a context or mask is not what MagicAnimate records")
        if appearance is not None:
            appearance.tokens.setdefault(self.name, hidden_states)
        return attend(attn, attn.to_q(hidden_states), attn.to_k(hidden_states), attn.to_v(hidden_states))


def locality_bias(tokens: int, bonus: float, falloff: float, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """(L, 2L) logit bias of a hybrid layer's L frame tokens over [its L own tokens, the reference's L]: 0 on its own,
    `bonus` − `falloff` × d² on the reference's (d: the distance in tokens on the square grid the L tokens form)."""
    side = math.isqrt(tokens)
    if side * side != tokens:
        raise ValueError(f"appearance locality needs a square token grid; this layer has {tokens} tokens")
    ys, xs = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    grid = torch.stack([ys.flatten(), xs.flatten()], 1).double()
    reference = bonus - falloff * torch.cdist(grid, grid) ** 2
    return torch.cat([torch.zeros(tokens, tokens, dtype=torch.float64), reference], 1).to(device, dtype)


class HybridAttention:
    """On the denoiser: keys/values [K, K'_a], [V, V'_a] for rows with a reference, plain otherwise; with a locality
    prior (`bonus`, `falloff`: `MagicAnimateOptions.appearance_locality`), a fixed bias on the reference's logits."""

    def __init__(self, name: str, locality: tuple[float, float] | None = None) -> None:
        self.name, self.locality = name, locality
        self._bias: dict[tuple, torch.Tensor] = {}

    def bias(self, tokens: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor | None:
        if self.locality is None:
            return None
        key = (tokens, device, dtype)
        if key not in self._bias:
            self._bias[key] = locality_bias(tokens, *self.locality, device, dtype)
        return self._bias[key]

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, appearance: Appearance | None = None):
        if encoder_hidden_states is not None or attention_mask is not None:
            raise ValueError(f"{self.name}: self-attention with a context or mask is not what MagicAnimate reads into")
        x = hidden_states  # (N, L, C): N = videos × frames
        q, k, v = attn.to_q(x), attn.to_k(x), attn.to_v(x)
        kind, with_ref, plain = appearance.split() if appearance is not None else ("none", None, None)
        if kind == "none":
            return attend(attn, q, k, v)
        rows = appearance.rows
        tokens = appearance.tokens.get(self.name)
        if tokens is None:
            raise RuntimeError(f"{self.name}: no appearance tokens recorded for this layer (run the appearance encoder first)")
        if rows.shape[0] != x.shape[0]:
            raise ValueError(f"{self.name}: appearance rows for {rows.shape[0]} frames, the batch has {x.shape[0]}")
        # Project each reference once (R rows), then hand each frame its reference's keys/values.
        k_ref, v_ref = attn.to_k(tokens), attn.to_v(tokens)  # (R, L', C)
        bias = self.bias(x.shape[1], q.device, q.dtype)
        if kind == "all":
            return attend(attn, q, torch.cat([k, k_ref[rows]], 1), torch.cat([v, v_ref[rows]], 1), bias)
        out = torch.empty_like(q)
        out[plain] = attend(attn, q[plain], k[plain], v[plain])
        r = rows[with_ref]
        out[with_ref] = attend(attn, q[with_ref], torch.cat([k[with_ref], k_ref[r]], 1), torch.cat([v[with_ref], v_ref[r]], 1), bias)
        return out


def install(unet: torch.nn.Module, fusion: str, role: str, locality: tuple[float, float] | None = None) -> list[str]:
    """Put writers (`role="write"`, the appearance encoder) or hybrid readers (`"read"`, the denoiser, with the
    `locality` prior if given) on the fusion layers of `unet`; every other attention layer keeps its processor
    (wrapped to ignore the appearance). Returns the fusion layer names."""
    from diffusers.models.attention_processor import Attention

    if role not in ("write", "read"):
        raise ValueError(f"unknown hybrid attention role {role!r}; known: write, read")
    names = hybrid_layers(unet, fusion)
    for name, module in unet.named_modules():
        if not isinstance(module, Attention):
            continue
        if name in names:
            check_plain(module, name, "hybrid attention")
            module.set_processor(AppearanceWriter(name) if role == "write" else HybridAttention(name, locality))
        elif not isinstance(module.processor, (DropsArguments, AppearanceWriter, HybridAttention)):
            module.set_processor(DropsArguments(module.processor))
        elif not isinstance(module.processor, DropsArguments):  # was a fusion layer of another choice
            module.set_processor(DropsArguments(attention_processor()))
    return names


def attention_processor():
    """diffusers' default processor (scaled dot-product attention)."""
    from diffusers.models.attention_processor import AttnProcessor2_0

    return AttnProcessor2_0()
