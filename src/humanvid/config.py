"""params.yaml -> typed, validated config.

Every error names the key path (`models.baseline_debug.finetune.steps`) and, where it can, the allowed
values, and is raised before any stage runs. Plugin-specific sections (a dataset's `options`) are
validated by the plugin's own schema, found through the registries.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class ConfigError(ValueError):
    """A params.yaml problem; the message names the file and the key path."""


class Section(BaseModel):
    """Base for every config section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class PathsConfig(Section):
    """Where every stage reads and writes, relative to the workspace.

    Required in params.yaml, field by field: dvc.yaml interpolates these same keys, so this section
    is the one place each path is spelled.
    """

    raw: str
    """Canonical clips per dataset: mp4s, clips.parquet, annotations."""
    cache: str
    """Downloads kept across runs (not a DVC output): a re-run fetches only what is missing."""
    conditions: str
    """Estimator outputs per dataset and estimator."""
    shards: str
    """Parquet shards per dataset."""
    models: str
    """Checkpoints per model and training stage."""
    samples: str
    """Generated videos per sampler."""
    metrics: str
    """Metrics JSON per sampler (DVC metrics)."""
    previews: str
    """Preview folder per sampler: image grid and short video (generated | ground truth | condition)."""
    papers: str
    """Paper table transcriptions (`*.yaml`), read by the report stages."""
    reports: str
    """Rendered tables."""


class ShardConfig(Section):
    """How a dataset's clips are cut into Parquet rows."""

    window_frames: int = Field(32, ge=1)
    """Frames per row (one row is one window of one clip; the last window may be shorter)."""
    jpeg_quality: int = Field(95, ge=50, le=100)
    """JPEG quality of the frame bytes."""
    rows_per_group: int = Field(4, ge=1)
    """Rows per Parquet row group (small groups make random access cheap)."""
    rows_per_file: int = Field(256, ge=1)
    """Rows per shard file."""


class DatasetConfig(Section):
    """One dataset to ingest. Every key here is required: dvc.yaml lists them as stage params."""

    plugin: str
    """Dataset plugin name (`humanvid.datasets` entry point)."""
    options: dict[str, Any]
    """Plugin options, validated by the plugin's own schema (`{}` for its defaults)."""
    shard: ShardConfig
    """Sharding of this dataset (`{}` for the defaults)."""


# Training-sample recipes of the papers (humanvid.shards.sampling; docs/loader.md).


class MagicAnimatePairConfig(Section):
    """MagicAnimate stage 1: reference/target pairs of one video, image-joint with probability τ0."""

    kind: Literal["magicanimate_pair"] = "magicanimate_pair"
    beta_a: float = Field(2.0, gt=0)
    """Beta distribution of the pair's gap as a fraction of the clip length: a."""
    beta_b: float = Field(1.0, gt=0)
    """... and b (Beta(2, 1) makes distant pairs likelier, as in DIGAN)."""
    image_joint_p: float = Field(0.2, ge=0, le=1)
    """τ0: probability of an image-joint (reconstruction) sample."""
    flip_p: float = Field(0.5, ge=0, le=1)
    """Horizontal flip probability (whole sample)."""


class MagicAnimateVideoConfig(Section):
    """MagicAnimate stage 2: reference + K frames at an interval, K reduced to 1 with probability τ1."""

    kind: Literal["magicanimate_video"] = "magicanimate_video"
    frames: int = Field(16, ge=1)
    """K."""
    stride: int = Field(4, ge=1)
    """Interval between the K frames."""
    reduce_p: float = Field(0.2, ge=0, le=1)
    """τ1: probability of reducing K to 1 (TikTok 0.2, TED-talks 0.2)."""
    image_joint_p: float = Field(0.2, ge=0, le=1)
    """τ2: probability that a reduced sample is image-joint (TikTok 0.2, TED-talks 0.36)."""
    flip_p: float = Field(0.5, ge=0, le=1)
    """Horizontal flip probability."""


class IdolConfig(Section):
    """IDOL: consecutive frames with depth, foreground mask and pose."""

    kind: Literal["idol"] = "idol"
    frames: int = Field(8, ge=1)
    """Sequence length."""
    stride: int = Field(1, ge=1)
    """Interval between frames."""
    flip_p: float = Field(0.0, ge=0, le=1)
    """Horizontal flip probability (the paper names none)."""


class MakeYourAnchorConfig(Section):
    """Make-Your-Anchor: a frame and a random reference frame of the same identity."""

    kind: Literal["make_your_anchor"] = "make_your_anchor"
    face_crop: bool = False
    """Also return a face crop (the face model's input), from the whole-body face keypoints."""
    face_size: int = Field(128, ge=16)
    """Face crop size in pixels."""
    perturb: str | None = None
    """Name of a registered SMPL-X perturbation hook applied to the sample's mesh condition (None: off)."""
    flip_p: float = Field(0.0, ge=0, le=1)
    """Horizontal flip probability (the paper names none)."""


class DiffPerformerConfig(Section):
    """DiffPerformer: windows from the first part of each video (the rest is held out)."""

    kind: Literal["diffperformer"] = "diffperformer"
    frames: int = Field(8, ge=1)
    """Window length."""
    first_fraction: float = Field(0.8, gt=0, le=1)
    """Windows lie inside the first fraction of each video."""
    flip_p: float = Field(0.0, ge=0, le=1)
    """Horizontal flip probability (the paper names none)."""


SamplingConfig = Annotated[
    Union[MagicAnimatePairConfig, MagicAnimateVideoConfig, IdolConfig, MakeYourAnchorConfig, DiffPerformerConfig],
    Field(discriminator="kind"),
]


class TrainConfig(Section):
    """One training stage (pretrain = image stage, finetune = video stage)."""

    steps: int = Field(ge=0)
    """Optimizer steps (0 only for a released flavor, which is not trained here)."""
    batch_size: int = Field(1, ge=1)
    """Samples per forward pass."""
    grad_accum: int = Field(1, ge=1)
    """Forward passes per optimizer step: a step sees batch_size × grad_accum samples (MagicAnimate's batch
    of 8 is batch_size 1 × grad_accum 8 on one GPU)."""
    lr: float = Field(1e-4, gt=0)
    """AdamW learning rate."""
    frames: int = Field(1, ge=1)
    """Target frames per sample (1 for the image stage)."""
    stride: int = Field(1, ge=1)
    """Frame interval between target frames."""
    vae_steps: int = Field(0, ge=0)
    """Steps fitting the VAE before the diffusion model; only for flavors without released VAE weights."""
    base_steps: int = Field(0, ge=0)
    """Steps training the base denoiser as a plain image diffusion model before the method's stage 1; only
    for debug flavors of methods whose stage 1 freezes a pretrained denoiser (MagicAnimate's SD1.5)."""
    log_every: int = Field(10, ge=1)
    """Progress line every this many steps."""
    loader_processes: int = Field(0, ge=0)
    """Processes decoding the paper sampler's training samples beside the training process (0: decoded in
    the training process, between steps). A GPU run wants enough that a step never waits (docs/loader.md)."""
    sampling: SamplingConfig | None = None
    """A paper's training-sample recipe (docs/loader.md: magicanimate_pair, magicanimate_video, idol,
    make_your_anchor, diffperformer) read through the shard loader; None: a reference plus `frames`
    frames at `stride` (the baseline's own sampler)."""

    @model_validator(mode="after")
    def _one_k_per_batch(self):
        s = self.sampling
        if s is not None and getattr(s, "reduce_p", 0) > 0 and self.batch_size > 1:
            raise ValueError("sampling.reduce_p > 0 mixes K = 1 and K > 1 samples: use batch_size 1 per pass "
                             "(MagicAnimate's batch of 8 is one sample on each of 8 GPUs: grad_accum 8 here)")  # fmt: skip
        return self


class ArchConfig(Section):
    """What the network is."""

    method: str
    """Method name (`baseline`; later `magicanimate`, `idol`, `anchor`, `diffperformer`)."""
    flavor: str
    """Size flavor of the method (`debug` runs on CPU in seconds; `sd15` loads released weights)."""
    resolution: int = Field(64, ge=16)
    """Square training and sampling resolution in pixels (frames are centre-cropped and resized)."""
    options: dict[str, str] = Field(default_factory=dict)
    """Method options (magicanimate: `fusion` midup | full, `control` densepose | dwpose | dwpose+densepose);
    unknown names or values are config errors."""


class RunConfig(Section):
    """Where and how a stage computes."""

    seed: int = 0
    """Seed for initialisation and data order."""
    device: str = "auto"
    """`auto`, `cpu`, `cuda`, `cuda:N`."""
    dtype: str = "auto"
    """`auto`, `float32`, `float16`, `bfloat16`."""


class ModelConfig(Section):
    """A model: architecture, training data and its two training stages.

    Every section is required: dvc.yaml lists them as the pretrain/finetune stages' params.
    """

    arch: ArchConfig
    """Method, flavor, resolution."""
    data: str
    """Training dataset (a key of `datasets`)."""
    run: RunConfig
    """Seed, device, dtype (`{}` for the defaults)."""
    pretrain: TrainConfig
    """Image stage: spatial UNet, ControlNet; temporal layers off."""
    finetune: TrainConfig
    """Video stage: temporal layers only."""


class SamplerConfig(Section):
    """Inference settings for one model on one dataset's test clips."""

    model: str
    """Model to sample from (a key of `models`)."""
    data: str
    """Dataset whose clips are animated (a key of `datasets`)."""
    split: Literal["train", "test"] = "test"
    """Which clips."""
    window: int = Field(16, ge=1)
    """Frames denoised together."""
    overlap: int = Field(4, ge=0)
    """Frames shared by consecutive windows; their noise predictions are averaged."""
    closed_loop: bool = False
    """Wrap windows around the clip's end to its start (MagicAnimate's released pipeline); False: the last
    window is aligned to the end."""
    window_batch: int = Field(1, ge=1)
    """Windows denoised in one network call (memory for speed; the result does not change)."""
    steps: int = Field(25, ge=1)
    """DDIM steps."""
    guidance_scale: float = Field(1.0, ge=1.0)
    """Classifier-free guidance on the reference image (1 = off)."""
    clip_sample: bool | None = None
    """DDIM clips each step's predicted clean latent to [-1, 1]; None: the method's own setting
    (MagicAnimate's released pipeline clips, the baseline does not). A model whose latents are not
    confined to [-1, 1] loses range and colour when clipped (docs/magicanimate.md)."""
    seed: int = 0
    """Noise seed."""
    max_clips: int | None = Field(None, ge=1)
    """Sample at most this many clips (in clip order)."""
    max_frames: int | None = Field(None, ge=1)
    """Sample at most this many frames per clip."""
    device: str = "auto"
    """`auto`, `cpu`, `cuda`, `cuda:N`."""
    dtype: str = "auto"
    """`auto`, `float32`, `float16`, `bfloat16`."""


class FvdConfig(Section):
    """How FVD is computed in the `corrected` protocol (the `disco` protocol is always DisCo's way)."""

    weights: Literal["i3d-400", "i3d-torchscript"] = "i3d-400"
    """I3D variant: the PyTorch port `i3d_pretrained_400.pt`, or StyleGAN-V's TorchScript export."""
    clips: Literal["styleganv", "disco"] = "styleganv"
    """Clip extraction: the first 16 frames of each video (StyleGAN-V), or every 16-frame window at stride 1 (DisCo)."""


class LandmarkConfig(Section):
    """The pose estimator behind LMD; it runs on generated and ground-truth frames alike."""

    estimator: Literal["dwpose"] = "dwpose"
    """An estimator that provides COCO-WholeBody 133 keypoints."""
    threshold: float = Field(0.3, gt=0, lt=1)
    """Keypoint score at which a landmark counts as detected."""


class EvaluationConfig(Section):
    """What evaluate@{sampler} computes, for every sampler (both protocols always)."""

    metrics: list[str]
    """Metric names (see docs/metrics.md); table columns must be among them."""
    fvd: FvdConfig = Field(default_factory=FvdConfig)
    """FVD network and clip extraction."""
    landmarks: LandmarkConfig = Field(default_factory=LandmarkConfig)
    """LMD settings."""
    batch_size: int = Field(16, ge=1)
    """Frames (or clips) per feature-network batch."""
    device: str = "auto"
    """`auto`, `cpu`, `cuda`, `cuda:N`."""
    dtype: Literal["float32", "float16", "bfloat16"] = "float32"
    """Feature networks' dtype. float32 by default: FID-type metrics are sensitive to feature precision."""


class TableConfig(Section):
    """A paper-style table: rows name samplers, columns name metrics. With `paper`, rows, columns and the
    paper's numbers come from that transcription (reports/papers/*.yaml) and `rows` may add or re-map rows."""

    title: str = ""
    """Heading of the rendered table (default: the paper table's title)."""
    paper: str | None = None
    """A paper table transcription (path relative to the workspace), or None for a table of our own."""
    rows: dict[str, str] = Field(default_factory=dict)
    """Row label -> sampler (a key of `samplers`); for a paper table, overrides the transcription's mapping."""
    columns: list[str] = Field(default_factory=list)
    """Metric names, in order (default for a paper table: its columns)."""
    protocol: Literal["corrected", "disco"] | None = None
    """Protocol of the numbers shown beside the paper's (default: the paper's own, `corrected` when unknown)."""


class WeightsConfig(Section):
    """Where released weights are found (see humanvid.weights)."""

    overrides: dict[str, str] = Field(default_factory=dict)
    """Weight name -> a local file or folder to use instead of the weight cache."""


class Config(Section):
    """The whole params.yaml."""

    paths: PathsConfig
    """Where stages read and write."""
    datasets: dict[str, DatasetConfig]
    """Datasets to ingest, by name."""
    estimators: dict[str, list[str]] = Field(default_factory=dict)
    """Dataset name -> condition estimators to run on it."""
    models: dict[str, ModelConfig] = Field(default_factory=dict)
    """Models to train, by name."""
    samplers: dict[str, SamplerConfig] = Field(default_factory=dict)
    """Inference configurations, by name."""
    evaluation: EvaluationConfig
    """What the evaluate stages compute."""
    tables: dict[str, TableConfig] = Field(default_factory=dict)
    """Reports, by name."""
    weights: WeightsConfig = Field(default_factory=WeightsConfig)
    """Local overrides for released weights."""


def _format_loc(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def _pydantic_error(source: str, exc: ValidationError, prefix: tuple[Any, ...] = ()) -> ConfigError:
    lines = []
    for err in exc.errors():
        loc = prefix + tuple(err["loc"])
        if err["type"] == "extra_forbidden":
            lines.append(f"{source}: {_format_loc(loc)}: unknown key")
        else:
            lines.append(f"{source}: {_format_loc(loc)}: {err['msg']}")
    return ConfigError("\n".join(lines))


def _check_references(cfg: Config, source: str, root: Path) -> None:
    """Names that must point at something known: plugins, estimators, methods, models, samplers, metrics."""
    # Imported here: the plugin packages import this module for their option schemas.
    from humanvid.datasets import DATASETS
    from humanvid.estimators import ESTIMATORS
    from humanvid.metrics import METRICS
    from humanvid.models import METHODS

    errors: list[str] = []

    def need(cond: bool, path: str, msg: str) -> None:
        if not cond:
            errors.append(f"{source}: {path}: {msg}")

    for name, ds in cfg.datasets.items():
        plugin = ds.plugin
        if plugin not in DATASETS:
            need(False, f"datasets.{name}.plugin", f"unknown dataset plugin {plugin!r}; known: {', '.join(DATASETS.names())}")
            continue
        try:
            DATASETS.get(plugin).Options.model_validate(ds.options)
        except ValidationError as exc:
            errors.append(str(_pydantic_error(source, exc, ("datasets", name, "options"))))
    for ds_name, names in cfg.estimators.items():
        need(ds_name in cfg.datasets, f"estimators.{ds_name}", f"unknown dataset {ds_name!r}; known: {', '.join(cfg.datasets)}")
        for i, est in enumerate(names):
            need(est in ESTIMATORS, f"estimators.{ds_name}[{i}]", f"unknown estimator {est!r}; known: {', '.join(ESTIMATORS.names())}")
            if est in ESTIMATORS and ds_name in cfg.datasets:
                plugin = cfg.datasets[ds_name].plugin
                ok = ESTIMATORS.get(est).supports(plugin)
                need(ok, f"estimators.{ds_name}[{i}]", f"estimator {est!r} cannot run on dataset plugin {plugin!r}")
        provided: dict[str, str] = {}
        for i, est in enumerate(n for n in names if n in ESTIMATORS):
            for cond in ESTIMATORS.get(est).needs:
                need(cond in provided, f"estimators.{ds_name}[{i}]",
                     f"estimator {est!r} needs {cond!r}: list an estimator that provides it (e.g. dwpose) before {est!r}")
            for cond in ESTIMATORS.get(est).provides:
                need(cond not in provided, f"estimators.{ds_name}[{i}]",
                     f"condition {cond!r} is provided by both {provided.get(cond)!r} and {est!r}; list only one")
                provided.setdefault(cond, est)
    for name, model in cfg.models.items():
        arch = model.arch
        if arch.method not in METHODS:
            need(False, f"models.{name}.arch.method", f"unknown method {arch.method!r}; known: {', '.join(METHODS.names())}")
        else:
            entry = METHODS.get(arch.method)
            need(arch.flavor in entry.FLAVORS, f"models.{name}.arch.flavor", f"unknown flavor {arch.flavor!r}; known: {', '.join(entry.FLAVORS)}")
            for key, value in arch.options.items():
                allowed = entry.options.get(key)
                if allowed is None:
                    need(False, f"models.{name}.arch.options.{key}",
                         f"method {arch.method!r} has no option {key!r}; it has: {', '.join(entry.options) or '(none)'}")
                else:
                    need(value in allowed, f"models.{name}.arch.options.{key}", f"unknown value {value!r}; known: {', '.join(allowed)}")
            need(not model.pretrain.base_steps or entry.base_stage, f"models.{name}.pretrain.base_steps",
                 f"method {arch.method!r} trains its denoiser in stage 1 itself: set 0")
            released = arch.flavor in entry.released
            for stage in ("pretrain", "finetune"):
                steps = getattr(model, stage).steps
                if released:
                    need(steps == 0, f"models.{name}.{stage}.steps", f"flavor {arch.flavor!r} is the released model, not trained here: set 0")
                else:
                    need(steps > 0, f"models.{name}.{stage}.steps", f"must be at least 1 (0 is only for a released flavor), got {steps}")
        need(model.data in cfg.datasets, f"models.{name}.data", f"unknown dataset {model.data!r}; known: {', '.join(cfg.datasets)}")
        need(model.data in cfg.estimators, f"models.{name}.data", f"dataset {model.data!r} has no estimators: list them under `estimators.{model.data}`")
        for stage in ("pretrain", "finetune"):
            hook = getattr(getattr(model, stage).sampling, "perturb", None)  # only make_your_anchor has one
            if hook is not None:
                from humanvid.body.perturb import PERTURBATIONS

                need(hook in PERTURBATIONS, f"models.{name}.{stage}.sampling.perturb",
                     f"unknown SMPL-X perturbation {hook!r}; known: {', '.join(PERTURBATIONS.names())}")
    for name, sampler in cfg.samplers.items():
        need(sampler.model in cfg.models, f"samplers.{name}.model", f"unknown model {sampler.model!r}; known: {', '.join(cfg.models) or '(none)'}")
        need(sampler.data in cfg.datasets, f"samplers.{name}.data", f"unknown dataset {sampler.data!r}; known: {', '.join(cfg.datasets)}")
        need(sampler.overlap < sampler.window, f"samplers.{name}.overlap", f"must be smaller than window ({sampler.window}), got {sampler.overlap}")
    from humanvid.weights import WEIGHTS

    for name in cfg.weights.overrides:
        need(name in WEIGHTS, f"weights.overrides.{name}", f"unknown weight {name!r}; known: {', '.join(sorted(WEIGHTS))}")
    for i, metric in enumerate(cfg.evaluation.metrics):
        need(metric in METRICS, f"evaluation.metrics[{i}]", f"unknown metric {metric!r}; known: {', '.join(METRICS)}")
    for name, table in cfg.tables.items():
        from humanvid.reports.papers import PaperError, load_paper

        paper = None
        if table.paper is not None:
            try:
                paper = load_paper(root / table.paper)
            except PaperError as exc:
                need(False, f"tables.{name}.paper", str(exc))
        for label, sampler in table.rows.items():
            need(sampler in cfg.samplers, f"tables.{name}.rows.{label}", f"unknown sampler {sampler!r}; known: {', '.join(cfg.samplers) or '(none)'}")
            if paper is not None:
                need(label in paper.rows, f"tables.{name}.rows.{label}", f"not a row of {table.paper}; its rows: {', '.join(paper.rows)}")
        need(bool(table.columns) or table.paper is not None, f"tables.{name}.columns", "a table without `paper` must list its columns")
        columns = table.columns or (list(paper.columns) if paper else [])
        for i, col in enumerate(columns):
            where = f"tables.{name}.columns[{i}]" if table.columns else f"{table.paper}: columns.{col}"
            need(col in METRICS, where, f"unknown metric {col!r}; known: {', '.join(METRICS)}")
            need(col not in METRICS or col in cfg.evaluation.metrics, where,
                 f"metric {col!r} is not computed: add it to `evaluation.metrics`")  # fmt: skip
    if errors:
        raise ConfigError("\n".join(errors))


def pipeline_stages(cfg: Config, samplers: list[str]) -> list[str]:
    """The DVC stages behind these samplers' numbers, upstream first: datasets -> models -> samplers."""
    samplers = list(dict.fromkeys(samplers))
    models = list(dict.fromkeys(cfg.samplers[s].model for s in samplers))
    datasets = list(dict.fromkeys([cfg.models[m].data for m in models] + [cfg.samplers[s].data for s in samplers]))
    names: list[str] = []
    for d in datasets:
        names += [f"download@{d}"] + ([f"estimate@{d}"] if cfg.estimators.get(d) else []) + [f"shard@{d}"]
    for m in models:
        names += [f"pretrain@{m}", f"finetune@{m}"]
    for s in samplers:
        names += [f"sample@{s}", f"evaluate@{s}"]
    return names


def parse_config(data: Any, source: str = "params.yaml", root: str | os.PathLike | None = None) -> Config:
    """Validate an already-loaded params mapping; `root` (default: cwd) is where relative files
    named in it (paper tables) are found."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        raise _pydantic_error(source, exc) from None
    _check_references(cfg, source, Path(root) if root is not None else Path.cwd())
    return cfg


def safe_load_yaml(text: str) -> Any:
    """`yaml.safe_load` through libyaml's C parser when PyYAML has it (the same safe constructor, ~10×
    faster: params.yaml and the paper tables are read on `humanvid reproduce`'s no-op path)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader)  # noqa: S506 — a safe loader, C or Python


def load_config(path: str | os.PathLike = "params.yaml") -> Config:
    """Read and validate params.yaml (yaml.safe_load only)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: not found (run humanvid from a workspace holding params.yaml and dvc.yaml)")
    try:
        data = safe_load_yaml(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse_config(data, source=str(path), root=path.parent)


