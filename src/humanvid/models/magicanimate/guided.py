"""Classifier-free guidance without computing twice what both branches share.

MagicAnimate's unconditional branch is the same network without appearance: it differs from the
conditional branch only inside the hybrid-attention layers. With `midup` fusion the down blocks — their
spatial layers, their motion modules, and the ControlNet residuals added to their skip connections — see
identical inputs in both branches, so they run once; only the mid and up blocks run for both. The result
equals the two-branch forward (tests/test_magicanimate.py); the released pipeline runs the whole UNet on
both branches.

This walks the UNet's own blocks in the order diffusers' `forward` does, for the configurations humanvid
builds (SD-style: no class/addition embeddings, no masks, no adapters); `supported` says when it applies.
"""

from __future__ import annotations

import torch
from diffusers import UNetMotionModel

from humanvid.models.magicanimate.attention import Appearance


def supported(unet, latent_size: int) -> bool:
    """Whether `guided_noise` reproduces `unet.forward` for this UNet and latent size."""
    c = unet.config
    plain = all(getattr(c, key, None) is None for key in ("class_embed_type", "addition_embed_type", "encoder_hid_dim_type",
                                                           "time_cond_proj_dim"))  # fmt: skip
    # diffusers forwards an explicit upsample size only when the latent is not a multiple of the UNet's downsampling.
    return plain and unet.conv_norm_out is not None and latent_size % 2**unet.num_upsamplers == 0


def _call(block, x, emb, text, frames: dict, appearance: Appearance, **more):
    if getattr(block, "has_cross_attention", False):
        return block(hidden_states=x, temb=emb, encoder_hidden_states=text, cross_attention_kwargs={"appearance": appearance}, **frames, **more)
    return block(hidden_states=x, temb=emb, **frames, **more)


def guided_noise(unet, tokens: dict[str, torch.Tensor], latents: torch.Tensor, t: torch.Tensor, text: torch.Tensor, down,
                 mid) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """(unconditional, conditional) noise for n windows of K frames, the down path computed once.

    latents (n, K, 4, h, w); t a scalar timestep; text (n*K, 77, D); ControlNet residuals per frame (n*K, ...);
    `tokens`: the appearance encoder's recording of one reference (read by the conditional rows).
    """
    n, k = latents.shape[:2]
    motion = isinstance(unet, UNetMotionModel)
    frames = {"num_frames": k} if motion else {}
    emb = unet.time_embedding(unet.time_proj(t.expand(n if motion else n * k)).to(unet.dtype))
    if motion:
        emb = emb.repeat_interleave(k, dim=0)  # one embedding per frame row, as UNetMotionModel does
    x = unet.conv_in(latents.flatten(0, 1).to(unet.dtype))  # (n*K, C, h, w), frames of a window contiguous

    plain = Appearance(tokens, None)  # down blocks: no hybrid attention with midup fusion
    skips = (x,)
    for block in unet.down_blocks:
        x, res = _call(block, x, emb, text, frames, plain)
        skips += res
    skips = tuple(s + d for s, d in zip(skips, down, strict=True))

    def both(y: torch.Tensor) -> torch.Tensor:  # unconditional rows first, then conditional
        return torch.cat([y, y])

    x, emb, text, skips = both(x), both(emb), both(text), tuple(both(s) for s in skips)
    guided = Appearance(tokens, torch.cat([torch.full((n * k,), -1, device=x.device), torch.zeros(n * k, dtype=torch.long, device=x.device)]))
    mid_frames = frames if hasattr(unet.mid_block, "motion_modules") else {}
    x = unet.mid_block(x, emb, encoder_hidden_states=text, cross_attention_kwargs={"appearance": guided}, **mid_frames) + both(mid)
    for block in unet.up_blocks:
        res, skips = skips[-len(block.resnets) :], skips[: -len(block.resnets)]
        x = _call(block, x, emb, text, frames, guided, res_hidden_states_tuple=res)
    x = unet.conv_out(unet.conv_act(unet.conv_norm_out(x)))
    uncond, cond = x.unflatten(0, (2, n, k)).unbind(0)
    return uncond, cond
