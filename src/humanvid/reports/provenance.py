"""Which released weights a table row used, and the digests `weights.lock` pins them to (the report's provenance)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from humanvid.config import Config


def row_weights(cfg: Config, model: str, metrics: dict) -> list[str]:
    """The weights behind a row: its model's flavor weights, then those of every metric its evaluation computed
    (a metric still waiting for its weights used none)."""
    from humanvid.metrics import PROTOCOLS, weights_needed
    from humanvid.models import METHODS

    arch = cfg.models[model].arch
    names = list(METHODS.get(arch.method).flavors[arch.flavor].weights)
    needs = metrics.get("needs", {})
    fvd = metrics.get("settings", {}).get("fvd", {}).get("weights", cfg.evaluation.fvd.weights)
    for metric in metrics.get("protocols", {}).get("corrected", {}).get("overall", {}):
        for p in PROTOCOLS:
            if p not in needs.get(metric, {}):
                names += weights_needed(metric, p, fvd)
    return list(dict.fromkeys(names))


def weight_provenance(names: list[str]) -> dict[str, str]:
    """'weight NAME' -> the first 12 hex digits of its pinned digest, or 'not pinned' (never loaded here yet)."""
    from humanvid import weights

    return {f"weight {n}": (weights.locked_digest(n) or "")[:12] or "not pinned" for n in names}
