"""Which released weights a table row used, and the digests `weights.lock` pins them to (the report's provenance)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from humanvid.config import Config


def model_weights(cfg: Config, model: str) -> tuple[str, ...]:
    """The released weights a model's flavor and options load (none for a debug flavor or a trivial floor)."""
    from humanvid.models import METHODS

    arch = cfg.models[model].arch
    spec = METHODS.get(arch.method)
    return tuple(dict.fromkeys(spec.flavors[arch.flavor].weights + spec.option_weights(spec.parse_options(arch.options), arch.flavor)))


def untrained(cfg: Config, model: str) -> str:
    """What a row's model is when no stage trains it: released weights, or none at all (a trivial floor)."""
    return "released weights" if model_weights(cfg, model) else "no weights (nothing to train)"


def row_weights(cfg: Config, model: str, metrics: dict) -> list[str]:
    """The weights behind a row: its model's flavor weights, then those of every metric its evaluation computed
    (a metric still waiting for its weights used none)."""
    from humanvid.metrics import PROTOCOLS, weights_needed

    names = list(model_weights(cfg, model))
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
