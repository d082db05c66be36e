"""Where the depth loss looks (`depth_person_weight`, docs/idol.md): per-pixel weights on the person, carried onto the
latents the diffusion loss is taken on, and the weighted loss itself. Shared by the models that learn depth (IDOL,
MM-Diffusion, LDM3D)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL

from humanvid.models.latent import PatchAutoencoder, latent_geometry


def person_weights(depth: torch.Tensor, weight: float) -> torch.Tensor:
    """Depth (N, S, S) with 0 where none (`depth_source: depth`) -> per-pixel loss weights (N, 1, S, S): `weight` where
    the frame has depth (the person), 1 elsewhere."""
    return (1 + (weight - 1) * (depth > 0).to(depth.dtype))[:, None]


def latent_weights(vae: AutoencoderKL | PatchAutoencoder, pixel_weights: torch.Tensor) -> torch.Tensor:
    """Per-pixel loss weights (N, c, S, S) of an image of c channels -> weights on its latents (N, C, S/f, S/f).

    The patch autoencoder moves each pixel of each channel to one latent channel, so the weights move the same way
    and stay exact. A KL VAE mixes channels and neighbours: each latent position weighs the mean of its input
    channels' weights over the pixels it covers (area downsampling), the same on all its channels."""
    if pixel_weights.ndim != 4:
        raise ValueError(f"pixel weights are (N, c, S, S), got {tuple(pixel_weights.shape)}")
    channels, factor = latent_geometry(vae)
    if isinstance(vae, PatchAutoencoder):
        if pixel_weights.shape[1] != vae.config.in_channels:
            raise ValueError(f"the patch autoencoder encodes {vae.config.in_channels} channels, the weights have {pixel_weights.shape[1]}")
        return F.pixel_unshuffle(pixel_weights, factor)
    size = pixel_weights.shape[-1] // factor
    return F.interpolate(pixel_weights.mean(1, keepdim=True), size=(size, size), mode="area").expand(-1, channels, -1, -1)


def weighted_mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """The mean of `values`, each weighing `weights` (broadcast to them)."""
    weights = weights.expand_as(values)
    return (values * weights).sum() / weights.sum()


def weighted_prediction_loss(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor, l1_weight: float) -> torch.Tensor:
    """`LatentModel.prediction_loss` with each latent weighing `weights`: the weighted mean squared error plus
    `l1_weight` × the weighted mean absolute error (in float32). Equal weights give the plain loss."""
    error = pred.float() - target.float()
    loss = weighted_mean(error.square(), weights)
    if l1_weight:
        loss = loss + l1_weight * weighted_mean(error.abs(), weights)
    return loss
