"""params.yaml -> a validated `Config`: the typed sections (humanvid.config) plus every cross-check against the
registries — dataset plugins and their options, estimators, methods (flavors, options, training stages),
recipes, control kinds, weights, metrics, paper tables. Each error names the key path and, where it can,
the allowed values; all are raised together, before any stage runs.

Registries load only the plugins the params name (a dataset plugin, an estimator class, a method's light
spec); no model code, no torch.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from humanvid.config import Config, ConfigError, ModelConfig, TrainStage, parse_sections, pydantic_error, read_params

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
"""Names of datasets, models, samplers and tables: they become stage names and paths (`train@{model}.{stage}`)."""


class _Errors:
    def __init__(self, source: str) -> None:
        self.source, self.lines = source, []

    def need(self, cond: bool, path: str, msg: str) -> bool:
        if not cond:
            self.lines.append(f"{self.source}: {path}: {msg}")
        return cond

    def pydantic(self, exc: ValidationError, prefix: tuple) -> None:
        self.lines.append(str(pydantic_error(self.source, exc, prefix)))


def provided_conditions(cfg: Config, dataset: str) -> set[str]:
    """Shard conditions a dataset's estimators provide."""
    from humanvid.estimators import ESTIMATORS

    return {c for e in cfg.estimators.get(dataset, []) if e in ESTIMATORS for c in ESTIMATORS.get(e).provides}


def _check_names(cfg: Config, err: _Errors) -> None:
    for section in ("datasets", "models", "samplers", "tables"):
        for name in getattr(cfg, section):
            err.need(bool(NAME.match(str(name))), f"{section}.{name}", "names become stage names and paths: letters, digits, '_' and '-' only")


def _check_datasets(cfg: Config, err: _Errors) -> None:
    from humanvid.datasets import DATASETS
    from humanvid.estimators import ESTIMATORS

    for name, ds in cfg.datasets.items():
        if not err.need(ds.plugin in DATASETS, f"datasets.{name}.plugin", f"unknown dataset plugin {ds.plugin!r}; known: {', '.join(DATASETS.names())}"):
            continue
        try:
            DATASETS.get(ds.plugin).Options.model_validate(ds.options)
        except ValidationError as exc:
            err.pydantic(exc, ("datasets", name, "options"))
    for ds_name, names in cfg.estimators.items():
        err.need(ds_name in cfg.datasets, f"estimators.{ds_name}", f"unknown dataset {ds_name!r}; known: {', '.join(cfg.datasets)}")
        for i, est in enumerate(names):
            err.need(est in ESTIMATORS, f"estimators.{ds_name}[{i}]", f"unknown estimator {est!r}; known: {', '.join(ESTIMATORS.names())}")
            if est in ESTIMATORS and ds_name in cfg.datasets:
                plugin = cfg.datasets[ds_name].plugin
                err.need(ESTIMATORS.get(est).supports(plugin), f"estimators.{ds_name}[{i}]", f"estimator {est!r} cannot run on dataset plugin {plugin!r}")
        provided: dict[str, str] = {}
        for i, est in enumerate(n for n in names if n in ESTIMATORS):
            for cond in ESTIMATORS.get(est).needs:
                err.need(cond in provided, f"estimators.{ds_name}[{i}]",
                         f"estimator {est!r} needs {cond!r}: list an estimator that provides it (e.g. dwpose) before {est!r}")  # fmt: skip
            for cond in ESTIMATORS.get(est).provides:
                # An estimator listed after the ground truth replaces its condition (the shard stage keeps the last
                # provider's): the pipeline then runs on that estimate, e.g. SMPL-X meshes fitted on synthdance.
                earlier = provided.get(cond)
                err.need(earlier is None or ESTIMATORS.get(earlier).is_ground_truth, f"estimators.{ds_name}[{i}]",
                         f"condition {cond!r} is provided by both {earlier!r} and {est!r}; list only one")  # fmt: skip
                provided[cond] = est


def _needed_conditions(spec, options) -> dict[str, str]:
    """condition -> why the method reads it (its control kinds, then its own extra conditions)."""
    from humanvid.controls import control_sources

    out = {}
    for kind in spec.controls(options):
        for c in control_sources(kind):
            out.setdefault(c, f"control {kind!r}")
    for c in spec.conditions(options):
        out.setdefault(c, f"method {spec.name!r}")
    return out


def condition_provider(cfg: Config, dataset: str, condition: str) -> str | None:
    """The estimator whose `condition` a dataset's shards hold (the last that provides it: the shard stage keeps its)."""
    from humanvid.estimators import ESTIMATORS

    providers = [e for e in cfg.estimators.get(dataset, []) if e in ESTIMATORS and condition in ESTIMATORS.get(e).provides]
    return providers[-1] if providers else None


def condition_kind(estimator: str, condition: str) -> str | None:
    """The kind of `condition` an estimator writes, where kinds differ (`MethodSpec.condition_kinds`): depth is
    `inverse_depth` from a monocular estimator (`depth_kind = "relative_inverse"`), else `depth`."""
    from humanvid.estimators import ESTIMATORS

    if condition != "depth":
        return None
    return "inverse_depth" if getattr(ESTIMATORS.get(estimator), "depth_kind", None) == "relative_inverse" else "depth"


def _check_stage(cfg: Config, err: _Errors, where: str, stage_spec, stage: TrainStage, needed: dict[str, str], controls: tuple[str, ...],
                 kinds: dict[str, str]) -> None:  # fmt: skip
    from humanvid.controls import CONTROLS
    from humanvid.recipes import RECIPES

    def recipe_at(data: Any, path: str):
        kind = data.get("kind") if isinstance(data, dict) else None
        accepted = ", ".join(stage_spec.recipes)
        if not err.need(kind in stage_spec.recipes, f"{path}.kind", f"stage {stage_spec.name!r} takes recipes {accepted}, got {kind!r}"):
            return None
        try:
            recipe = RECIPES.get(kind).model_validate(data)
        except ValidationError as exc:
            err.pydantic(exc, tuple(path.split(".")))
            return None
        limit = stage_spec.max_span
        err.need(limit is None or recipe.span() <= limit, path,
                 f"stage {stage_spec.name!r} trains on samples of at most {limit} frame(s); recipe {kind!r} asks for {recipe.span()}")  # fmt: skip
        for problem in recipe.check(stage.batch_size):
            field, sep, rest = problem.partition(": ")
            at = f"{path}.{field}" if sep and field in type(recipe).model_fields else path
            err.need(False, at, rest if at != path else problem)
        unflippable = [c for c in controls if not CONTROLS.get(c).flippable]
        err.need(recipe.flip_p == 0 or not unflippable, f"{path}.flip_p",
                 f"control {unflippable} cannot be mirrored after estimation (sided parts): set 0, or flip the videos before "
                 "estimating (the dataset's own `flip` option, as MagicAnimate does)")  # fmt: skip
        return recipe

    from humanvid.pipeline import INPUT_SLOTS

    default = recipe_at(stage.recipe, f"{where}.recipe")
    datasets = {src.dataset for src in stage.sources()}
    err.need(len(datasets) < INPUT_SLOTS, f"{where}.data", f"a stage mixes at most {INPUT_SLOTS - 1} datasets, got {len(datasets)}")
    for i, src in enumerate(stage.sources()):
        at = f"{where}.data" if isinstance(stage.data, str) else f"{where}.data[{i}]"
        if not err.need(src.dataset in cfg.datasets, at, f"unknown dataset {src.dataset!r}; known: {', '.join(cfg.datasets)}"):
            continue
        recipe = recipe_at(src.recipe, f"{at}.recipe") if src.recipe is not None else default
        if not err.need(src.dataset in cfg.estimators, at, f"dataset {src.dataset!r} has no estimators: list them under `estimators.{src.dataset}`"):
            continue
        have = provided_conditions(cfg, src.dataset)
        wanted = dict(needed)
        for c in recipe.conditions() if recipe is not None else ():
            wanted.setdefault(c, f"recipe {recipe.kind!r}")
        for cond, why in wanted.items():
            err.need(cond in have, at, f"{why} needs the {cond!r} condition, which no estimator of dataset {src.dataset!r} provides "
                     f"(its estimators: {', '.join(cfg.estimators[src.dataset])}; they provide: {', '.join(sorted(have)) or 'nothing'})")  # fmt: skip
        for cond, kind in kinds.items():
            provider = condition_provider(cfg, src.dataset, cond)
            actual = provider and condition_kind(provider, cond)
            err.need(actual in (None, kind), at, f"the model expects its {cond!r} condition as {kind!r}, but dataset {src.dataset!r} "
                     f"gets it from estimator {provider!r} as {actual!r}: set the model's `{cond}_source: {actual}` or change the estimator")  # fmt: skip


def _check_model(cfg: Config, err: _Errors, name: str, model: ModelConfig) -> None:
    from humanvid.models import METHODS

    arch = model.arch
    if not err.need(arch.method in METHODS, f"models.{name}.arch.method", f"unknown method {arch.method!r}; known: {', '.join(METHODS.names())}"):
        return
    spec = METHODS.get(arch.method)
    if not err.need(arch.flavor in spec.flavors, f"models.{name}.arch.flavor", f"unknown flavor {arch.flavor!r}; known: {', '.join(spec.flavors)}"):
        return
    try:
        options = spec.parse_options(arch.options)
    except ValidationError as exc:
        err.pydantic(exc, ("models", name, "arch", "options"))
        return
    run = model.run
    err.need(run.gpus == 1 or not run.device.startswith("cuda:"), f"models.{name}.run.device",
             "with gpus > 1 each process takes its own GPU: use `cuda` or `auto` (choose GPUs with CUDA_VISIBLE_DEVICES)")
    err.need(run.weight_dtype in ("auto", "float32") or run.mixed_precision != "no", f"models.{name}.run.mixed_precision",
             f"frozen modules in {run.weight_dtype} beside float32 trained ones need autocast: set bf16 or fp16 (or weight_dtype float32)")  # fmt: skip
    declared = [s.name for s in spec.stages_for(arch.flavor)]
    given = list(model.stages)
    if spec.flavors[arch.flavor].released:
        err.need(not given, f"models.{name}.stages", f"flavor {arch.flavor!r} is the released model, not trained here: set `stages: {{}}`")
        err.need(model.starts_from is None, f"models.{name}.starts_from", f"flavor {arch.flavor!r} is the released model: it starts from nothing")
        return
    if model.starts_from is not None:
        declared = _after_shared_stage(cfg, err, name, model, declared)
        if declared is None:
            return
    for s in declared:
        if s not in model.stages and not (spec.stage(s).optional and _only_optional_after(declared, given, s)):
            err.need(False, f"models.{name}.stages", f"missing stage {s!r} ({spec.stage(s).doc}); {arch.method}/{arch.flavor} trains {', '.join(declared)}")
    for s in given:
        err.need(s in declared, f"models.{name}.stages.{s}", f"{arch.method}/{arch.flavor} has no stage {s!r}; its stages, in order: {', '.join(declared)}")
    needed = _needed_conditions(spec, options)
    for s in (s for s in given if s in declared):
        _check_stage(cfg, err, f"models.{name}.stages.{s}", spec.stage(s), model.stages[s], needed, spec.controls(options),
                     spec.condition_kinds(options))


def _only_optional_after(declared: list[str], given: list[str], missing: str) -> bool:
    """An optional stage may be left out when no stage after it is given (a model stops before it)."""
    later = declared[declared.index(missing) + 1 :]
    return not any(s in given for s in later)


def _after_shared_stage(cfg: Config, err: _Errors, name: str, model: ModelConfig, declared: list[str]) -> list[str] | None:
    """The stages a model that `starts_from` another still trains (the method's after the shared one), or None after
    recording why the reference is unusable."""
    ref, where = model.starts_from, f"models.{name}.starts_from"
    if not err.need(ref.model in cfg.models, f"{where}.model", f"unknown model {ref.model!r}; known: {', '.join(cfg.models)}"):
        return None
    other = cfg.models[ref.model]
    same = (other.arch.method, other.arch.flavor, other.arch.resolution) == (model.arch.method, model.arch.flavor, model.arch.resolution)
    if not err.need(same, f"{where}.model", f"{ref.model!r} is {other.arch.method}/{other.arch.flavor} at {other.arch.resolution}², "
                    f"this model {model.arch.method}/{model.arch.flavor} at {model.arch.resolution}²: a checkpoint only starts the same network"):  # fmt: skip
        return None
    if not err.need(ref.stage in other.stages, f"{where}.stage", f"model {ref.model!r} trains no stage {ref.stage!r}; "
                    f"its stages: {', '.join(other.stages) or '(none)'}"):  # fmt: skip
        return None
    return declared[declared.index(ref.stage) + 1 :] if ref.stage in declared else None  # else reported under that model


def _check_samplers(cfg: Config, err: _Errors) -> None:
    from humanvid.models import METHODS

    for name, sampler in cfg.samplers.items():
        ok = err.need(sampler.model in cfg.models, f"samplers.{name}.model", f"unknown model {sampler.model!r}; known: {', '.join(cfg.models) or '(none)'}")
        err.need(sampler.data in cfg.datasets, f"samplers.{name}.data", f"unknown dataset {sampler.data!r}; known: {', '.join(cfg.datasets)}")
        err.need(sampler.overlap < sampler.window, f"samplers.{name}.overlap", f"must be smaller than window ({sampler.window}), got {sampler.overlap}")
        arch = cfg.models[sampler.model].arch if ok else None
        if arch is None or arch.method not in METHODS or sampler.data not in cfg.datasets:
            continue
        spec = METHODS.get(arch.method)
        try:
            options = spec.parse_options(arch.options)
        except ValidationError:
            continue  # reported under models
        from humanvid.controls import control_sources

        have = provided_conditions(cfg, sampler.data)
        for kind in spec.controls(options):
            missing = [c for c in control_sources(kind) if c not in have]
            err.need(not missing, f"samplers.{name}.data", f"model {sampler.model!r} is driven by control {kind!r}, drawn from {missing}, "
                     f"which no estimator of dataset {sampler.data!r} provides")  # fmt: skip
        stages = [s.name for s in spec.stages]  # a released flavor has no stages here, but may come with its face network
        err.need(sampler.face is None or "face" in stages, f"samplers.{name}.face",
                 f"face enhancement needs a method with a `face` stage (Make-Your-Anchor's); {arch.method} has {', '.join(stages)}")  # fmt: skip
        err.need(sampler.joint is None or "joint" in spec.sampler_sections, f"samplers.{name}.joint",
                 f"joint optimisation is DiffPerformer's: method {arch.method!r} does not read it")
        missing = [c for c in spec.sampling_conditions(options, sampler) if c not in have]
        err.need(not missing, f"samplers.{name}.data", f"sampler {name!r} reads {missing}, which no estimator of dataset {sampler.data!r} provides")


def _check_rest(cfg: Config, err: _Errors, root: Path) -> None:
    from humanvid.metrics import METRICS, PROTOCOLS
    from humanvid.weights import WEIGHTS

    for name in cfg.weights.overrides:
        err.need(name in WEIGHTS, f"weights.overrides.{name}", f"unknown weight {name!r}; known: {', '.join(sorted(WEIGHTS))}")
    for i, metric in enumerate(cfg.evaluation.metrics):
        err.need(metric in METRICS, f"evaluation.metrics[{i}]", f"unknown metric {metric!r}; known: {', '.join(METRICS)}")
    depth_from_frames = cfg.evaluation.synthesized_depth.estimator
    if depth_from_frames is not None:
        from humanvid.estimators import ESTIMATORS

        where = "evaluation.synthesized_depth.estimator"
        if err.need(depth_from_frames in ESTIMATORS, where, f"unknown estimator {depth_from_frames!r}; known: {', '.join(ESTIMATORS.names())}"):
            err.need(condition_kind(depth_from_frames, "depth") == "inverse_depth", where,
                     f"estimator {depth_from_frames!r} does not predict depth from frames (a monocular one does: dpt_hybrid)")  # fmt: skip
    for name, table in cfg.tables.items():
        from humanvid.reports.papers import PaperError, load_paper

        paper = None
        if table.paper is not None:
            try:
                paper = load_paper(root / table.paper)
            except PaperError as exc:
                err.need(False, f"tables.{name}.paper", str(exc))
        for label, sampler in table.rows.items():
            err.need(sampler in cfg.samplers, f"tables.{name}.rows.{label}", f"unknown sampler {sampler!r}; known: {', '.join(cfg.samplers) or '(none)'}")
            if paper is not None:
                err.need(label in paper.rows, f"tables.{name}.rows.{label}", f"not a row of {table.paper}; its rows: {', '.join(paper.rows)}")
        err.need(bool(table.columns) or table.paper is not None, f"tables.{name}.columns", "a table without `paper` must list its columns")
        if table.protocol is not None:
            err.need(table.protocol in PROTOCOLS, f"tables.{name}.protocol", f"unknown evaluation protocol {table.protocol!r}; known: {', '.join(PROTOCOLS)}")
        columns = table.columns or (list(paper.columns) if paper else [])
        for i, col in enumerate(columns):
            where = f"tables.{name}.columns[{i}]" if table.columns else f"{table.paper}: columns.{col}"
            err.need(col in METRICS, where, f"unknown metric {col!r}; known: {', '.join(METRICS)}")
            err.need(col not in METRICS or col in cfg.evaluation.metrics, where, f"metric {col!r} is not computed: add it to `evaluation.metrics`")


def check_config(cfg: Config, source: str = "params.yaml", root: str | os.PathLike | None = None) -> None:
    """Every cross-check; raises one ConfigError listing all problems."""
    err = _Errors(source)
    _check_names(cfg, err)
    _check_datasets(cfg, err)
    for name, model in cfg.models.items():
        _check_model(cfg, err, name, model)
    _check_samplers(cfg, err)
    _check_rest(cfg, err, Path(root) if root is not None else Path.cwd())
    if err.lines:
        raise ConfigError("\n".join(err.lines))


def in_method_order(cfg: Config) -> Config:
    """Every model's stages in its method's order (the order they run in), whatever the mapping's order."""
    from humanvid.models import METHODS

    models = {}
    for name, model in cfg.models.items():
        order = [s.name for s in METHODS.get(model.arch.method).stages]
        models[name] = model.model_copy(update={"stages": {s: model.stages[s] for s in order if s in model.stages}})
    return cfg.model_copy(update={"models": models})


def parse_config(data: Any, source: str = "params.yaml", root: str | os.PathLike | None = None) -> Config:
    """Validate an already-loaded params mapping; `root` (default: cwd) is where relative files named in it
    (paper tables) are found. A model's stages come out in its method's order, and the seed variants of
    tables with `seeds` > 1 are added (humanvid.seeds)."""
    from humanvid.seeds import with_seed_variants

    cfg = parse_sections(data, source)
    check_config(cfg, source, root)
    return with_seed_variants(in_method_order(cfg), Path(root) if root is not None else Path.cwd())


def load_config(path: str | os.PathLike = "params.yaml") -> Config:
    """Read and validate params.yaml (yaml.safe_load only)."""
    path = Path(path)
    return parse_config(read_params(path), source=str(path), root=path.parent)
