"""Loss curves as a small standalone SVG: one panel per logged term, the raw per-step values and a moving
average, y on a log scale when every value is positive (diffusion losses span decades)."""

from __future__ import annotations

import math
from html import escape

WIDTH, PANEL, PAD = 480, 120, 36


def _smooth(values: list[float], window: int) -> list[float]:
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def loss_curves_svg(terms: dict[str, list[float]], title: str) -> str:
    """terms: name -> per-step values (step 1 first) -> SVG text."""
    names = [n for n, v in terms.items() if any(math.isfinite(x) for x in v)]
    height = PAD + len(names) * (PANEL + PAD)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-family="sans-serif" font-size="11">',
             f'<rect width="100%" height="100%" fill="white"/><text x="8" y="16" font-size="13">{escape(title)}</text>']  # fmt: skip
    for row, name in enumerate(names):
        values = [v for v in terms[name] if math.isfinite(v)]
        log = all(v > 0 for v in values)
        ys = [math.log10(v) for v in values] if log else values
        lo, hi = min(ys), max(ys)
        hi = hi if hi > lo else lo + 1.0
        top, left, w = PAD + row * (PANEL + PAD), 56, WIDTH - 72
        n = max(len(values) - 1, 1)

        def points(series: list[float], left=left, top=top, w=w, lo=lo, hi=hi, n=n) -> str:
            return " ".join(f"{left + w * i / n:.1f},{top + PANEL * (1 - (y - lo) / (hi - lo)):.1f}" for i, y in enumerate(series))

        label = (lambda y: f"{10**y:.3g}") if log else (lambda y: f"{y:.3g}")
        parts += [
            f'<text x="{left}" y="{top - 6}">{escape(name)}{" (log scale)" if log else ""}, {len(values)} steps</text>',
            f'<rect x="{left}" y="{top}" width="{w}" height="{PANEL}" fill="none" stroke="#ccc"/>',
            f'<text x="4" y="{top + 10}">{label(hi)}</text><text x="4" y="{top + PANEL}">{label(lo)}</text>',
            f'<polyline fill="none" stroke="#9ecae1" stroke-width="1" points="{points(ys)}"/>',
            f'<polyline fill="none" stroke="#08519c" stroke-width="2" points="{points(_smooth(ys, max(1, len(ys) // 20)))}"/>',
        ]
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
