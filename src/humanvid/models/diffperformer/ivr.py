"""DiffPerformer's implicit video representation (IVR): V_s = C(D(H(x, y, n))), one network per video.

The supplement names the three parts and no more; ours (docs/diffperformer.md, each an option of `IvrConfig`):

- **H**, the coordinate encoding of a pixel (x, y) of frame n, all three scaled to [0, 1]: a multi-resolution grid
  (`encoding: grid`, Instant-NGP's: `levels` grids from `base_resolution` to `max_resolution` cells per side, growing
  geometrically, `features` learnt values per corner, trilinear interpolation; a level with more corners than
  2^`log2_table_size` shares a hashed table, Instant-NGP's spatial hash) or sinusoidal frequencies (`encoding:
  frequency`, NeRF's positional encoding with `levels` octaves). The sizes: `humanvid.config.IvrConfig`.
- **D**, an MLP of `depth` hidden layers of `width` units (ReLU).
- **C**, the colour head: a linear layer to RGB and a tanh, so V_s is in [-1, 1] like the frames the VAE encodes.

Plain torch: no custom kernels, any device.
"""

from __future__ import annotations

import math

import torch

from humanvid.config import IvrConfig

HASH_PRIMES = (1, 2654435761, 805459861)
"""Instant-NGP's spatial hash: the corner's integer coordinates times these, XORed, modulo the table size."""


class MultiResolutionGrid(torch.nn.Module):
    """H as Instant-NGP's multi-resolution grid over (x, y, n) in [0, 1]³ -> (N, levels · features)."""

    def __init__(self, config: IvrConfig, frames: int) -> None:
        super().__init__()
        growth = (config.max_resolution / config.base_resolution) ** (1 / max(1, config.levels - 1))
        self.resolutions: list[tuple[int, int, int]] = []
        tables = []
        for level in range(config.levels):
            side = int(math.floor(config.base_resolution * growth**level))
            res = (side, side, max(1, min(side, frames - 1)))  # time needs no finer cells than frames
            corners = math.prod(r + 1 for r in res)
            size = min(corners, 2**config.log2_table_size)
            self.resolutions.append(res)
            tables.append(torch.nn.Parameter(torch.empty(size, config.features).uniform_(-1e-4, 1e-4)))  # Instant-NGP's init
        self.tables = torch.nn.ParameterList(tables)
        self.out_features = config.levels * config.features

    def _index(self, corner: torch.Tensor, res: tuple[int, int, int], size: int) -> torch.Tensor:
        """Integer corners (N, 3) -> table rows: dense while the level fits its table, else hashed."""
        if math.prod(r + 1 for r in res) <= size:
            return corner[:, 0] + (res[0] + 1) * (corner[:, 1] + (res[1] + 1) * corner[:, 2])
        h = corner[:, 0] * HASH_PRIMES[0]
        h = torch.bitwise_xor(h, corner[:, 1] * HASH_PRIMES[1])
        h = torch.bitwise_xor(h, corner[:, 2] * HASH_PRIMES[2])
        return torch.remainder(h, size)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        out = []
        for res, table in zip(self.resolutions, self.tables, strict=True):
            scaled = coords * torch.tensor(res, device=coords.device, dtype=coords.dtype)
            low = scaled.floor().long().clamp(min=0)
            low = torch.minimum(low, torch.tensor(res, device=coords.device) - 1).clamp(min=0)
            frac = scaled - low.to(coords.dtype)
            acc = 0
            for dx in (0, 1):
                for dy in (0, 1):
                    for dn in (0, 1):
                        offset = torch.tensor([dx, dy, dn], device=coords.device)
                        w = torch.prod(torch.where(offset.bool(), frac, 1 - frac), dim=1, keepdim=True)
                        acc = acc + w * table[self._index(low + offset, res, len(table))]
            out.append(acc)
        return torch.cat(out, dim=1)


class Frequencies(torch.nn.Module):
    """H as NeRF's positional encoding: (x, y, n) and sin, cos of 2^k π · each, k < levels."""

    def __init__(self, config: IvrConfig) -> None:
        super().__init__()
        self.register_buffer("bands", (2.0 ** torch.arange(config.levels)) * math.pi, persistent=False)
        self.out_features = 3 + 6 * config.levels

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        angles = coords[:, :, None] * self.bands  # (N, 3, L)
        return torch.cat([coords, angles.sin().flatten(1), angles.cos().flatten(1)], dim=1)


class ImplicitVideo(torch.nn.Module):
    """V_s = C(D(H(x, y, n))) for a video of `frames` frames of `height` × `width` pixels."""

    def __init__(self, config: IvrConfig, frames: int, height: int, width: int) -> None:
        super().__init__()
        if frames < 1 or height < 1 or width < 1:
            raise ValueError(f"an IVR needs a video, got {frames} frames of {height}x{width}")
        self.config, self.frames, self.height, self.width = config, frames, height, width
        self.encoding = MultiResolutionGrid(config, frames) if config.encoding == "grid" else Frequencies(config)
        layers, dim = [], self.encoding.out_features
        for _ in range(config.depth):
            layers += [torch.nn.Linear(dim, config.width), torch.nn.ReLU()]
            dim = config.width
        self.mlp = torch.nn.Sequential(*layers)
        self.colour = torch.nn.Linear(dim, 3)

    def coordinates(self, frames: list[int] | None = None, device: torch.device | None = None) -> torch.Tensor:
        """(x, y, n) of every pixel centre of the given frames (all by default), in [0, 1], frame-major: (T·H·W, 3)."""
        frames = list(range(self.frames)) if frames is None else frames
        ys = (torch.arange(self.height, device=device) + 0.5) / self.height
        xs = (torch.arange(self.width, device=device) + 0.5) / self.width
        ns = torch.tensor(frames, device=device, dtype=torch.float32) / max(1, self.frames - 1)
        n, y, x = torch.meshgrid(ns, ys, xs, indexing="ij")
        return torch.stack([x, y, n], dim=-1).flatten(0, 2)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        """Coordinates (N, 3) in [0, 1] -> RGB (N, 3) in [-1, 1]."""
        return torch.tanh(self.colour(self.mlp(self.encoding(coords))))

    def video(self, frames: list[int] | None = None) -> torch.Tensor:
        """The represented frames (T, 3, H, W) in [-1, 1]."""
        device = self.colour.weight.device
        coords = self.coordinates(frames, device).to(self.colour.weight.dtype)
        rgb = self(coords)
        return rgb.unflatten(0, (-1, self.height, self.width)).permute(0, 3, 1, 2)
