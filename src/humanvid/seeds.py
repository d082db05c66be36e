"""Seed variants: a table with `seeds: N` runs every row N times — training seed `run.seed + k` and noise seed
`seed + k` for k = 0..N-1 (`seed_scope: training`), or the noise seed alone over one trained model
(`seed_scope: noise`) — so its report can show mean ± spread and say which row differences exceed it.

Variant k > 0 of a model or sampler `name` is the model or sampler `name~k`: an ordinary entry of the loaded
config (`with_seed_variants`, applied by `humanvid.validate.parse_config`), so DVC stages, paths and status treat it like any other. `~` cannot occur
in a user's names (validate.NAME), so a variant never collides with one; its params are its base entry's
(dvc.yaml lists `models.<base>` / `samplers.<base>`), and its name, in the stage's command, carries k.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from humanvid.config import Config

SEP = "~"


def variant_name(name: str, k: int) -> str:
    """`name` for k = 0, else `name~k`."""
    return name if k == 0 else f"{name}{SEP}{k}"


def split_variant(name: str) -> tuple[str, int]:
    """`name~k` -> (name, k); a plain name -> (name, 0)."""
    base, sep, k = name.partition(SEP)
    return (base, int(k)) if sep and k.isdigit() else (name, 0)


def sampler_seeds(cfg: Config, root: Path) -> dict[str, tuple[int, bool]]:
    """Sampler -> how many seeds the tables that show it ask for (the most of them), and whether any of them
    varies the training seed (`seed_scope: training`) rather than the noise seed alone."""
    from humanvid.reports.papers import table_samplers

    out: dict[str, tuple[int, bool]] = {}
    for name, table in cfg.tables.items():
        for sampler in table_samplers(cfg, name, root) if table.seeds > 1 else ():
            n, retrain = out.get(sampler, (1, False))
            out[sampler] = (max(n, table.seeds), retrain or table.seed_scope == "training")
    return out


def with_seed_variants(cfg: Config, root: Path) -> Config:
    """`cfg` plus, for every sampler a table shows with `seeds: N > 1`, samplers `S~1 .. S~N-1` (noise seed
    + k) and, with `seed_scope: training`, their models `M~k` (training seed `run.seed` + k; a released model's
    variants only resample; a model that `starts_from` another starts from that model's `~k`, trained with the
    same seed shift); with `seed_scope: noise` every variant samples the one trained model."""
    models, samplers = dict(cfg.models), dict(cfg.samplers)

    def retrained(name: str, k: int) -> str:
        model = cfg.models[name]
        variant = variant_name(name, k)
        update: dict = {"run": model.run.model_copy(update={"seed": model.run.seed + k})}
        if model.starts_from is not None:
            update["starts_from"] = model.starts_from.model_copy(update={"model": retrained(model.starts_from.model, k)})
        models.setdefault(variant, model.model_copy(update=update))
        return variant

    for sampler, (n, retrain) in sampler_seeds(cfg, root).items():
        base = cfg.samplers[sampler]
        if seed_invariant(cfg, sampler, retrain):
            continue
        for k in range(1, n):
            m = retrained(base.model, k) if retrain else base.model
            samplers[variant_name(sampler, k)] = base.model_copy(update={"model": m, "seed": base.seed + k})
    if len(models) == len(cfg.models) and len(samplers) == len(cfg.samplers):
        return cfg
    return cfg.model_copy(update={"models": models, "samplers": samplers})


def seed_invariant(cfg: Config, sampler: str, retrain: bool) -> bool:
    """Whether every seed variant of `sampler` would give its output again: its method samples without random numbers
    (`MethodSpec.seed_free`) and its model is the same for every seed (noise seeds only, or a model not trained here)."""
    from humanvid.models import METHODS
    from humanvid.pipeline import final_stage

    model = cfg.samplers[sampler].model
    return METHODS.get(cfg.models[model].arch.method).seed_free and (not retrain or final_stage(cfg, model) is None)


def seed_runs(cfg: Config, sampler: str, seeds: int) -> list[str]:
    """The samplers whose outputs stand for a table's `seeds` seeds of `sampler`, in seed order: its variants, or
    itself `seeds` times when its variants were not made because they would repeat it (`seed_invariant`)."""
    from humanvid.models import METHODS

    variants = sampler_variants(cfg, sampler)
    if seeds > 1 and len(variants) == 1:
        if not METHODS.get(cfg.models[cfg.samplers[sampler].model].arch.method).seed_free:
            raise ValueError(f"sampler {sampler!r}: {seeds} seeds asked for and it has no seed variants (a config loaded "
                             "without humanvid.seeds.with_seed_variants?)")  # fmt: skip
        return variants * seeds
    return variants


def sampler_variants(cfg: Config, sampler: str) -> list[str]:
    """`sampler` and its seed variants in the loaded config, k = 0, 1, … (a variant itself: just it)."""
    if split_variant(sampler)[1]:
        return [sampler]
    found = {split_variant(name)[1]: name for name in cfg.samplers if split_variant(name)[0] == sampler}
    return [found[k] for k in sorted(found)] or [sampler]


@dataclass(frozen=True)
class Spread:
    """A metric over seeds: mean and sample standard deviation (0 for one seed)."""

    mean: float
    sd: float
    n: int

    @classmethod
    def of(cls, values: list[float]) -> "Spread | None":
        """None when no value is finite; non-finite values (a metric that could not run) are left out."""
        vals = [float(v) for v in values if v is not None and math.isfinite(v)]
        if not vals:
            return None
        mean = sum(vals) / len(vals)
        sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0
        return cls(mean, sd, len(vals))


def exceeds_spread(a: Spread, b: Spread) -> bool:
    """Whether two rows differ by more than their seeds spread: |mean_a − mean_b| > sd_a + sd_b, with at
    least two seeds each (one seed has no spread to compare against)."""
    return a.n > 1 and b.n > 1 and abs(a.mean - b.mean) > a.sd + b.sd
