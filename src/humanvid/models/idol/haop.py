"""Human attribute outpainting (HAOP, IDOL's pre-training; the paper's Fig. 4 contrasts it with DisCo's HAP).

In HAP the background ControlNet sees the frame with a hole exactly where the person is, so the network learns that
the person fills the hole: at sampling, where the reference's hole and the target pose disagree, the hole shows
("an apparent background mask"). Our reading of outpainting (no code was released; docs/idol.md): the hole is the
person's mask together with a copy of it moved by a random offset, so the network must also fill background where
no person stands.
"""

from __future__ import annotations

import torch


def outpainting_hole(mask: torch.Tensor, max_shift: float, generator: torch.Generator) -> torch.Tensor:
    """Masks (B, S, S) in [0, 1] -> each mask united (pixel-wise max) with itself moved by a random whole-pixel
    (dx, dy), |dx|, |dy| <= round(max_shift · S); what is moved off the image is dropped, nothing wraps around."""
    if not 0 <= max_shift <= 1:
        raise ValueError(f"max_shift must be in [0, 1], got {max_shift}")
    b, s = mask.shape[0], mask.shape[-1]
    limit = round(max_shift * s)
    if limit == 0:
        return mask
    offsets = torch.randint(-limit, limit + 1, (b, 2), generator=generator, device=generator.device).tolist()
    holes = []
    for m, (dx, dy) in zip(mask, offsets, strict=True):
        moved = torch.zeros_like(m)
        moved[max(dy, 0) : s + min(dy, 0), max(dx, 0) : s + min(dx, 0)] = m[max(-dy, 0) : s + min(-dy, 0), max(-dx, 0) : s + min(-dx, 0)]
        holes.append(torch.maximum(m, moved))
    return torch.stack(holes)
