"""params.yaml's typed sections: strict (unknown keys are errors), frozen, a docstring per field.

This module holds sections only and imports no registry, so plugins import it for their option schemas
without an import circle. `humanvid.validate` parses params.yaml into these sections and cross-checks
them against the registries (plugin options, method stages, recipes, control kinds); every error names
the key path (`models.baseline_debug.stages.finetune.steps`) and is raised before any stage runs.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator


class ConfigError(ValueError):
    """A params.yaml problem; the message names the file and the key path."""


class Section(BaseModel):
    """Base for every config section: unknown keys are errors, values are immutable, and types are strict —
    `steps: yes` is not 1 step, `seed: "3"` is not 3 (an int is still a valid float)."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True, strict=True)


Device = Annotated[str, StringConstraints(pattern=r"^(auto|cpu|cuda|cuda:\d+)$")]
"""`auto` (CUDA when present, else CPU), `cpu`, `cuda` or `cuda:N`."""


def _inside_workspace(path: str) -> str:
    """A path the config makes is relative and never climbs out: stages write under it, so `/x`, `~/x` or
    `a/../../x` would put outputs outside the workspace (and outside DVC's view)."""
    parts = PurePosixPath(path.replace("\\", "/")).parts
    if not path.strip():
        raise ValueError("an empty path")
    if path.startswith(("/", "~")) or re.match(r"^[A-Za-z]:", path):
        raise ValueError(f"{path!r} is not relative to the workspace")
    if ".." in parts:
        raise ValueError(f"{path!r} climbs out of the workspace ('..')")
    return path


WorkspacePath = Annotated[str, AfterValidator(_inside_workspace)]
"""A path relative to the workspace that stays inside it."""


class PathsConfig(Section):
    """Where every stage reads and writes, relative to the workspace.

    Required in params.yaml, field by field: dvc.yaml interpolates these same keys, so this section
    is the one place each path is spelled.
    """

    raw: WorkspacePath
    """Canonical clips per dataset: mp4s, clips.parquet, annotations."""
    cache: WorkspacePath
    """Downloads kept across runs (not a DVC output): a re-run fetches only what is missing."""
    conditions: WorkspacePath
    """Estimator outputs per dataset and estimator."""
    shards: WorkspacePath
    """Parquet shards per dataset."""
    models: WorkspacePath
    """Checkpoints per model and training stage (and each stage's resume state beside it)."""
    training: WorkspacePath
    """Training logs per model and stage: DVCLive's per-step loss terms (DVC plots) and a loss-curve picture."""
    samples: WorkspacePath
    """Generated videos per sampler."""
    metrics: WorkspacePath
    """Metrics JSON per sampler (DVC metrics)."""
    previews: WorkspacePath
    """Preview folder per sampler: image grid and short video (generated | ground truth | condition)."""
    papers: WorkspacePath
    """Paper table transcriptions (`*.yaml`), read by the report stages."""
    reports: WorkspacePath
    """Rendered tables."""
    weights_lock: WorkspacePath = "weights.lock"
    """The sha256 of every released weight's files (`humanvid.weights_lock`), committed: recorded on first fetch
    or load, checked on every later load. Not a DVC path, hence optional."""


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


class DataSource(Section):
    """One dataset of a training stage's mix."""

    dataset: str
    """A key of `datasets`."""
    weight: float = Field(1.0, gt=0)
    """Relative share of the stage's batches drawn from this dataset (normalised over the mix)."""
    recipe: dict[str, Any] | None = None
    """This dataset's own recipe (e.g. image-joint samples from an image set); None: the stage's."""
    identities: list[str] | None = None
    """Only these identities' clips (a person-specific stage: Make-Your-Anchor's fine-tuning); None: all."""
    exclude_identities: list[str] = []
    """Leave these identities' clips out (pre-training on the other subjects)."""


class TrainStage(Section):
    """One training stage of a model: its data, recipe, optimisation and bookkeeping. Which stages a model has
    (and in what order) is its method's (humanvid.models: `MethodSpec.stages`)."""

    data: str | list[DataSource]
    """The dataset it trains on (a key of `datasets`), or a weighted mix: `[{dataset: tiktok, weight: 0.8},
    {dataset: laion_human, weight: 0.2, recipe: {...}}]`; each batch comes from one dataset of the mix."""
    recipe: dict[str, Any]
    """Training-sample recipe: `{kind: ..., options}` (humanvid.recipes; docs/loader.md), validated by the
    recipe's own schema; the method says which kinds each of its stages accepts."""
    steps: int = Field(ge=1)
    """Optimizer steps."""
    batch_size: int = Field(1, ge=1)
    """Samples per forward pass, per process."""
    grad_accum: int = Field(1, ge=1)
    """Forward passes per optimizer step: a step sees batch_size × grad_accum × processes samples (MagicAnimate's
    batch of 8 is batch_size 1 × grad_accum 8 on one GPU, or × `run.gpus` 8)."""
    lr: float = Field(1e-4, gt=0)
    """AdamW learning rate (peak, after warm-up)."""
    lr_schedule: Literal["constant", "linear", "cosine"] = "constant"
    """Learning-rate schedule after warm-up (diffusers' get_scheduler): constant, linear decay to 0, cosine to 0."""
    warmup_steps: int = Field(0, ge=0)
    """Linear learning-rate warm-up from 0 over this many steps."""
    weight_decay: float = Field(1e-2, ge=0)
    """AdamW weight decay."""
    max_grad_norm: float = Field(1.0, gt=0)
    """Gradients are clipped to this global norm."""
    fused_adamw: bool | None = None
    """Fused AdamW kernel; None: fused on CUDA, torch's default elsewhere (bit-stable on CPU)."""
    ema_decay: float | None = Field(None, gt=0, lt=1)
    """Keep an exponential moving average of the trained weights with this decay and save it instead of the
    raw weights (None: no EMA)."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass instead of storing them (memory for time; same gradients)."""
    log_every: int = Field(10, ge=1)
    """A progress line every this many steps (when stderr is not a terminal; a terminal gets a bar)."""
    checkpoint_every: int = Field(0, ge=0)
    """Save the full training state (weights, optimizer, schedule, RNG, loader position) every this many steps
    so a killed stage resumes where it was (0: never)."""
    loader_processes: int = Field(0, ge=0)
    """Processes decoding training samples beside the training process (0: decoded in the training process,
    between steps). A GPU run wants enough that a step never waits (docs/loader.md)."""

    def sources(self) -> list[DataSource]:
        """The stage's data as a mix (one entry of weight 1 for a single dataset)."""
        return [DataSource(dataset=self.data)] if isinstance(self.data, str) else list(self.data)


class ArchConfig(Section):
    """What the network is."""

    method: str
    """Method name (a key of humanvid.models.METHODS: `baseline`, `magicanimate`, ...)."""
    flavor: str
    """Size flavor of the method (`debug` runs on CPU in seconds; `sd15` loads released weights)."""
    resolution: int = Field(64, ge=16)
    """Square training and sampling resolution in pixels (frames are centre-cropped and resized)."""
    options: dict[str, Any] = Field(default_factory=dict)
    """Method options, validated by the method's own schema (`MethodSpec.options`; e.g. magicanimate's
    `fusion`, `control`); unknown names or values are config errors."""


class RunConfig(Section):
    """Where and how a model's training stages compute."""

    seed: int = 0
    """Seed for initialisation, data order and noise."""
    device: Device = "auto"
    """`auto`, `cpu`, `cuda`, `cuda:N` (with `gpus` > 1: one process per GPU, each on its own)."""
    weight_dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    """dtype of the frozen modules (auto: bfloat16 on CUDA, float32 on CPU). Trained weights and their optimizer
    state are always float32."""
    mixed_precision: Literal["auto", "no", "bf16", "fp16"] = "auto"
    """Compute dtype of the forward pass under autocast (auto: bf16 on CUDA, no on CPU); fp16 scales the loss."""
    gpus: int = Field(1, ge=1)
    """Data-parallel processes (DDP), one per GPU; the stage runs under `accelerate launch` when more than one. With
    device `cpu`, that many CPU processes (gloo): slow, for tests."""
    latent_cache_gb: float = Field(4.0, ge=0)
    """Device memory (GiB) each training process may keep the VAE posteriors of frames it has encoded in, so a
    frozen VAE encodes each training frame once per stage (`humanvid.models.latent_cache`; 64 KiB per 512² frame in
    bfloat16). 0: encode every frame every time. Stages that fit the VAE never cache."""


class StageRef(Section):
    """A training stage of another model."""

    model: str
    """A key of `models`."""
    stage: str
    """One of that model's stages."""


class ModelConfig(Section):
    """A model: its architecture and its training stages.

    Every section is required: dvc.yaml lists them as the training stages' params.
    """

    arch: ArchConfig
    """Method, flavor, resolution, options."""
    run: RunConfig
    """Seed, device, dtypes, processes (`{}` for the defaults)."""
    stages: dict[str, TrainStage]
    """The method's training stages for this flavor (`{}` for a released flavor,
    which is not trained here); each a DVC stage `train@{model}.{stage}`."""
    starts_from: StageRef | None = None
    """None: the model trains every stage of its method from the start. Set: its first stage starts from this
    checkpoint of another model of the same method, flavor and resolution, and `stages` lists only the method's
    stages after it — ablation models share one base stage as the paper's share one pretrained Stable Diffusion
    (its options are this model's; the shared stage's checkpoint is a dependency of the first stage here)."""


WindowSchedule = Literal["open", "closed_loop", "truncated"]
"""Where a sampler's windows go (humanvid.sampling.windows)."""


class FaceEnhancementConfig(Section):
    """Make-Your-Anchor's identity-specific face enhancement after the body is sampled (the model's `face` stage): each
    frame's face aligned and cropped from its face landmarks, the landmark mask inpainted by the Face SGDM, the crop
    blended back (humanvid.models.make_your_anchor.face). Frame by frame, as the paper (no temporal denoising)."""

    steps: int = Field(20, ge=1)
    """DDIM steps (the release's 20)."""
    guidance_scale: float = Field(3.5, ge=1.0)
    """Classifier-free guidance over the reference (the release's head inference: 3.5)."""
    condition_scale: float = Field(1.0, ge=0)
    """The face ControlNet's residual scale (the release's head inference: 1.0)."""


class IvrConfig(Section):
    """DiffPerformer's implicit video representation V_s = C(D(H(x, y, n))) (humanvid.models.diffperformer.ivr; the
    supplement gives no sizes: docs/diffperformer.md)."""

    encoding: Literal["grid", "frequency"] = "grid"
    """H: a multi-resolution (hashed) feature grid (Instant-NGP's), or sinusoidal frequencies (NeRF's)."""
    levels: int = Field(12, ge=1)
    """Grid levels (`grid`) or octaves per coordinate (`frequency`)."""
    features: int = Field(2, ge=1)
    """Learnt features per grid corner per level (`grid`)."""
    log2_table_size: int = Field(16, ge=4, le=24)
    """A level with more corners than 2^this hashes them into a table of that size (`grid`)."""
    base_resolution: int = Field(4, ge=1)
    """Cells per side of the coarsest level (`grid`)."""
    max_resolution: int = Field(256, ge=1)
    """Cells per side of the finest level (`grid`) in x and y; time gets at most one cell per frame."""
    width: int = Field(64, ge=1)
    """D's hidden units."""
    depth: int = Field(2, ge=0)
    """D's hidden layers (ReLU)."""

    @model_validator(mode="after")
    def _resolutions(self):
        if self.base_resolution > self.max_resolution:
            raise ValueError(f"base_resolution {self.base_resolution} exceeds max_resolution {self.max_resolution}")
        return self


class JointOptimisationConfig(Section):
    """DiffPerformer's iterative joint optimisation (supplement Algorithm 1) after the pose-guided model's own pass
    (humanvid.models.diffperformer.joint); `mode` picks the supplement Table 2 row."""

    mode: Literal["none", "image", "noisy_image", "ivr"] = "ivr"
    """`none`: the diffusion model's output as it is (w/o Opt.); `image`: the diffusion model refines its own result at
    every refresh, no IVR (Image Opt.); `noisy_image`: the IVR loop, the guidance noise added to the image (Noisy-Image
    Opt.); `ivr`: the IVR loop with latent guidance (DiffPerformer)."""
    steps: int = Field(10000, ge=1)
    """Optimisation steps of the IVR (the supplement's 10,000)."""
    every: int = Field(2000, ge=1)
    """V_p is recomputed from V_s every this many steps (the supplement's 2,000)."""
    lr: float = Field(1e-2, gt=0)
    """The IVR's Adam learning rate (not given)."""
    strength: float = Field(0.5, gt=0, le=1)
    """How much of the DDIM schedule a refresh re-runs from the guided start (the guidance noise level; not given):
    1 — from pure noise at the first step; 0.5 — the second half of the steps."""
    flow_weight: float = Field(1.0, ge=0)
    """L_flow's weight beside L_rec (not given; 0: no 3DHF term, the "w/o 3DHF" ablation)."""
    reconstruction: Literal["l2", "l1"] = "l2"
    """L_rec's distance between V_s and V_p (not given)."""
    ivr: IvrConfig = Field(default_factory=IvrConfig)
    """The implicit video representation's sizes."""

    @model_validator(mode="after")
    def _interval(self):
        if self.every > self.steps:
            raise ValueError(f"the refresh interval {self.every} exceeds the {self.steps} steps: V_p would never be refreshed")
        return self


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
    schedule: WindowSchedule = "open"
    """Where the windows go (humanvid.sampling.windows): `open` — the last window aligned to the clip's end;
    `closed_loop` — windows wrap around the end to the start (MagicAnimate's released pipeline); `truncated` —
    windows cut at the end (Make-Your-Anchor's batch-overlapped temporal denoising)."""
    shared_noise: bool = False
    """Every frame starts from the same initial noise (Make-Your-Anchor's release); False: noise per frame."""
    condition_scale: float = Field(1.0, ge=0)
    """Scale of the control branch's residuals (ControlNet's conditioning scale; Make-Your-Anchor's W_c is 2.0)."""
    face: FaceEnhancementConfig | None = None
    """Make-Your-Anchor's face enhancement after sampling (None: off, the "w/o FE" row); a method without a face
    stage refuses it."""
    joint: JointOptimisationConfig | None = None
    """DiffPerformer's joint optimisation after sampling (None: off, as `mode: none`); a method that does not read it
    refuses it (`MethodSpec.sampler_sections`)."""
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
    identities: list[str] | None = None
    """Only these identities' clips (a person-specific model is evaluated on its own person); None: all."""
    max_clips: int | None = Field(None, ge=1)
    """Sample at most this many clips (in clip order)."""
    max_frames: int | None = Field(None, ge=1)
    """Sample at most this many frames per clip."""
    device: Device = "auto"
    """`auto`, `cpu`, `cuda`, `cuda:N`."""
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    """The model's dtype while sampling (auto: bfloat16 on CUDA, float32 on CPU)."""


class FvdConfig(Section):
    """How FVD is computed in the `corrected` protocol (the DisCo protocols always compute it DisCo's way)."""

    weights: Literal["i3d-400", "i3d-torchscript"] = "i3d-400"
    """I3D variant: the PyTorch port `i3d_pretrained_400.pt`, or StyleGAN-V's TorchScript export."""
    clips: Literal["styleganv", "disco"] = "styleganv"
    """Clip extraction: the first 16 frames of each video (StyleGAN-V), or every 16-frame window at stride 1 (DisCo)."""


class SynthesizedDepthConfig(Section):
    """IDOL's "‡": depth a monocular estimator predicts from the *synthesized* frames, scored as the sample's depth — how
    IDOL's tables give depth numbers to methods that generate none (docs/metrics.md)."""

    estimator: str | None = None
    """A depth estimator (`humanvid.estimators`; `dpt_hybrid`, MiDaS, is IDOL's) run on the generated frames at their
    resolution; None: off (a sample without a depth output has no depth metrics)."""
    rows: Literal["missing", "all"] = "missing"
    """Which samples it scores: those whose model generates no depth (`missing`, IDOL's tables) or every sample (`all`:
    a joint model's own depth is replaced too, to compare the estimator's reading of every row's frames)."""


class LandmarkConfig(Section):
    """LMD settings. The pose estimator behind it is the protocol's (`Protocol.lmd`: DWPose, or OpenPose's body, hand
    and face networks for Make-Your-Anchor's tables)."""

    threshold: float = Field(0.3, gt=0, lt=1)
    """Keypoint score at which a landmark counts as detected."""


class EvaluationConfig(Section):
    """What evaluate@{sampler} computes, for every sampler (in every protocol of `humanvid.metrics.protocols`)."""

    metrics: list[str]
    """Metric names (see docs/metrics.md); table columns must be among them."""
    fvd: FvdConfig = Field(default_factory=FvdConfig)
    """FVD network and clip extraction."""
    landmarks: LandmarkConfig = Field(default_factory=LandmarkConfig)
    """LMD settings."""
    synthesized_depth: SynthesizedDepthConfig = Field(default_factory=SynthesizedDepthConfig)
    """The "‡" option: depth metrics from a monocular estimator on the generated frames (off by default)."""
    batch_size: int = Field(16, ge=1)
    """Frames (or clips) per feature-network batch."""
    device: Device = "auto"
    """`auto`, `cpu`, `cuda`, `cuda:N`."""
    dtype: Literal["float32", "float16", "bfloat16"] = "float32"
    """Feature networks' dtype. float32 by default: FID-type metrics are sensitive to feature precision."""


class TableConfig(Section):
    """A paper-style table: rows name samplers, columns name metrics. With `paper`, rows, columns and the
    paper's numbers come from that transcription (reports/papers/*.yaml) and `rows` may add or re-map rows."""

    title: str = ""
    """Heading of the rendered table (default: the paper table's title)."""
    paper: WorkspacePath | None = None
    """A paper table transcription (path relative to the workspace), or None for a table of our own."""
    rows: dict[str, str] = Field(default_factory=dict)
    """Row label -> sampler (a key of `samplers`); for a paper table, overrides the transcription's mapping."""
    columns: list[str] = Field(default_factory=list)
    """Metric names, in order (default for a paper table: its columns)."""
    protocol: str | None = None
    """Evaluation protocol of the numbers shown beside the paper's (`humanvid.metrics.protocols`: `corrected`, `disco`,
    `disco@2024-04`, `openpose-lmd`; default: the paper's own, `corrected` when its evaluation code was not released)."""
    seeds: int = Field(1, ge=1)
    """Run every row this many times — training seed `run.seed + k`, noise seed `seed + k`, k = 0..seeds-1
    (stages `…~k`, humanvid.seeds) — and show mean ± standard deviation, with the row differences that
    exceed it."""
    seed_scope: Literal["training", "noise"] = "training"
    """What the seeds vary: `training` retrains every row's model per seed (the spread of the whole recipe);
    `noise` samples one trained model with each noise seed (cheaper; says nothing of the training seed)."""


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


def format_loc(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def pydantic_error(source: str, exc: ValidationError, prefix: tuple[Any, ...] = ()) -> ConfigError:
    """A ValidationError as one line per problem, each naming `source: key.path`."""
    lines = []
    for err in exc.errors():
        loc = prefix + tuple(err["loc"])
        if err["type"] == "extra_forbidden":
            lines.append(f"{source}: {format_loc(loc)}: unknown key")
        else:
            lines.append(f"{source}: {format_loc(loc)}: {err['msg']}")
    return ConfigError("\n".join(lines))


def parse_sections(data: Any, source: str = "params.yaml") -> Config:
    """The typed sections of an already-loaded params mapping, without the cross-checks against the
    registries (`humanvid.validate.parse_config` does both)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise pydantic_error(source, exc) from None


class DuplicateKeyError(yaml.YAMLError):
    """A mapping that spells one key twice: YAML keeps the last silently, DVC refuses the file later."""


class _UniqueKeySafeLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The safe loader (libyaml's C parser when PyYAML has it) refusing duplicate keys."""

    def construct_mapping(self, node, deep=False):  # noqa: ANN001, ANN201 — PyYAML's signature
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<:` may override what it merges; not a duplicate
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                seen = first_line.setdefault(key, line)
            except TypeError:  # an unhashable key: the base constructor names it
                continue
            if seen != line:
                raise DuplicateKeyError(f"line {line}: duplicate key {key!r} (first at line {seen})")
        return super().construct_mapping(node, deep=deep)


def safe_load_yaml(text: str) -> Any:
    """`yaml.safe_load` through libyaml's C parser when PyYAML has it (the same safe constructor, ~10×
    faster: params.yaml and the paper tables are read on `humanvid reproduce`'s no-op path), refusing a
    key spelled twice in one mapping (`DuplicateKeyError` with both lines)."""
    return yaml.load(text, Loader=_UniqueKeySafeLoader)  # noqa: S506 — a safe loader, C or Python


def yaml_problem(exc: yaml.YAMLError) -> str:
    """One line for a YAML error: where (line, column) and what, without PyYAML's `in "<unicode string>"`
    mark lines and source excerpt."""
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    return f"{where}not valid YAML: {problem}" + (f" ({context})" if context else "")


def read_params(path: str | os.PathLike) -> Any:
    """params.yaml as loaded YAML (yaml.safe_load only), or a ConfigError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: not found (run humanvid from a workspace holding params.yaml and dvc.yaml)")
    try:
        return safe_load_yaml(path.read_text())
    except DuplicateKeyError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: {yaml_problem(exc)}") from None
