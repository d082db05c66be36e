"""MagicAnimate (Xu et al., 2023): appearance encoder with hybrid attention, a pose ControlNet on DensePose,
AnimateDiff temporal attention; two-stage training; sliding-window sampling with closed-loop fusion.

Components:
- `vae` (AutoencoderKL), `unet` (the denoiser: UNet2DConditionModel in stage 1, UNetMotionModel with
  AnimateDiff motion modules in stage 2), `appearance_encoder` (a trainable copy of the UNet, run on the
  clean reference latent at the denoiser's timestep), `controlnet` (ControlNetModel on the control
  images), and `null_text` — the text encoder's embedding of the empty prompt, the only text MagicAnimate
  ever feeds its cross-attention (computed once, stored with the checkpoint).
- Appearance enters through hybrid self-attention on the `fusion` layers (attention.py).

Flavors:
- `debug`: tiny, random init, trains on CPU in seconds (its VAE is fitted first: no released VAE at that size).
- `debug_pixel`: the same tiny networks diffusing in pixel space through the fixed space-to-depth
  `PatchAutoencoder` (a fitted tiny VAE caps every model near 15 dB on clips it never saw; docs/magicanimate.md).
- `sd15`: trained here from SD1.5 (UNet, text encoder), sd-vae-ft-mse, the appearance encoder a copy of
  the SD UNet, the ControlNet initialised from the UNet, motion modules from AnimateDiff v1.
- `released`: the released MagicAnimate checkpoints (released.py) — evaluation without training.

Options (params.yaml `arch.options`): `fusion` midup (the paper) | full (its ablation); `control`
densepose (the paper) | dwpose | dwpose+densepose (its ablation); `appearance` (False: the variant without the
appearance encoder); `prediction` epsilon (the paper) | residual (debug flavors only: the denoiser they train
first learns residuals around a reference frame; `humanvid.models.spec.DiffusionOptions`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import AutoencoderKL, ControlNetModel, DDIMScheduler, DDPMScheduler, MotionAdapter, UNet2DConditionModel, UNetMotionModel
from transformers import CLIPTextModel

from humanvid import weights
from humanvid.models.clip import debug_text_encoder, load_null_text, null_text_embedding, save_null_text
from humanvid.models.latent import (
    DEBUG_BLOCKS,
    UNET_CLASSES,
    LatentModel,
    PatchAutoencoder,
    debug_autoencoder,
    debug_controlnet,
    debug_unet,
    flat_keys,
    load_autoencoder,
)
from humanvid.models.magicanimate import attention, guided, released
from humanvid.models.magicanimate.attention import Appearance
from humanvid.models.magicanimate.spec import DEBUG_FLAVORS, SPEC, MagicAnimateOptions
from humanvid.models.method import to_unit
from humanvid.state_dicts import load_model_folder

# The released pipeline's scheduler (configs/inference/inference.yaml): AnimateDiff's linear betas, every
# other DDIM setting at diffusers' defaults (clip_sample=True, set_alpha_to_one=True, steps_offset=0).
# Training uses the same betas.
MAGICANIMATE_SCHEDULE = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="linear")


@dataclass(frozen=True)
class DebugSizes:
    """The debug flavor's sizes (all tiny: CPU, seconds)."""

    vae_channels: tuple[int, ...] = (16, 32, 32)
    unet_channels: tuple[int, ...] = (32, 64)
    cross_attention_dim: int = 32
    attention_head_dim: int = 8
    """The UNet's attention *heads* per layer: diffusers' UNet2DConditionModel reads `attention_head_dim` as the head
    count (SD1.5's config spells its 8 heads so)."""
    norm_groups: int = 8
    text_hidden: int = 32
    motion_heads: int = 2
    motion_max_length: int = 24  # AnimateDiff v1's, as the release
    down_blocks: tuple[str, ...] = DEBUG_BLOCKS[0]
    up_blocks: tuple[str, ...] = DEBUG_BLOCKS[1]


DEBUG_SIZES = {
    "debug": DebugSizes(),
    # Attention at the 16 × 16 level (and the 8 × 8 mid block): the reference is read where a token is a 4 × 4 patch
    # of pixels, fine enough to carry the background the frame moves over (issue 17; at 8 × 8 only it added nothing).
    # Two heads, 16 and 32 wide, instead of SD's eight (4 and 8 wide at these widths): on a CPU a head's cost is its
    # softmax over the 256 × 512 hybrid logits, whatever its width, so eight narrow heads made attention 57 % of a
    # stage-1 step; two wide ones train 2.2× as many steps a second (docs/benchmarks.md).
    "debug_pixel": DebugSizes(attention_head_dim=2),
}


@dataclass(frozen=True)
class Hyper:
    """Training choices the supplement states (Sec. 2, 3) or that the released pipeline implies."""

    appearance_dropout: float = 0.1
    """Probability of training a video without its reference (its rows attend to themselves only). The
    supplement does not state one; the released pipeline's guidance contrasts with and without appearance,
    which only means something if the network saw both."""


class MagicAnimate(LatentModel):
    """The components and what each stage does with them."""

    spec = SPEC
    hyper = Hyper()

    def __init__(self, vae, unet, appearance_encoder, controlnet, null_text: torch.Tensor, flavor: str, resolution: int,
                 stage: str, options: MagicAnimateOptions | None = None) -> None:  # fmt: skip
        self.vae: AutoencoderKL | PatchAutoencoder = vae
        self.unet: UNet2DConditionModel | UNetMotionModel = unet
        self.appearance_encoder: UNet2DConditionModel = appearance_encoder
        self.controlnet: ControlNetModel = controlnet
        self.null_text = null_text  # (1, 77, D)
        self.flavor, self.resolution, self.stage = flavor, resolution, stage
        self.options = options or MagicAnimateOptions()
        self.noise_scheduler = DDPMScheduler(**MAGICANIMATE_SCHEDULE)
        self._install_attention()
        self.vae.requires_grad_(False)

    @property
    def fusion(self) -> str:
        return self.options.fusion

    def _install_attention(self) -> None:
        writers = attention.install(self.appearance_encoder, self.fusion, "write")
        locality = self.options.appearance_locality
        readers = attention.install(self.unet, self.fusion, "read", (locality.bonus, locality.falloff) if locality else None)
        if writers != readers:
            raise ValueError(f"appearance encoder and denoiser differ in their {self.fusion} attention layers")

    # ------------------------------------------------------------------ construction
    @classmethod
    def create(cls, flavor, options=None, *, resolution, seed, device, weight_dtype, overrides=None) -> "MagicAnimate":
        """Fresh components for the first stage (`released`: the released model, already video). `overrides`:
        params.yaml `weights.overrides` for the released weights it loads."""
        if flavor not in cls.spec.flavors:
            raise ValueError(f"unknown magicanimate flavor {flavor!r}; known: {', '.join(cls.spec.flavors)}")
        options = options or MagicAnimateOptions()
        cls.check_prediction("magicanimate", flavor, options.prediction, DEBUG_FLAVORS)
        if options.stage1_trains_denoiser and flavor not in DEBUG_FLAVORS:
            raise ValueError(f"magicanimate flavor {flavor!r}: stage1_trains_denoiser is a debug-regime option (flavors "
                             f"{', '.join(DEBUG_FLAVORS)}); the paper's stage 1 keeps SD1.5's UNet frozen")  # fmt: skip
        torch.manual_seed(seed)
        if flavor in DEBUG_FLAVORS:
            parts, stage = cls._debug_components(resolution, flavor), cls.spec.stages_for(flavor)[0].name
        elif flavor == "sd15":
            parts, stage = cls._sd15_components(overrides), "pretrain"
        else:
            parts = cls._released_components(*(weights.resolve(n, overrides) for n in ("magicanimate", "sd15", "sd-vae-ft-mse")))
            stage = "released"
        model = cls(*parts, flavor, resolution, stage, options)
        model.residual_head_from_zero(model.unet, model.appearance_encoder)
        model.check_resolution()
        return model.to(device, weight_dtype)

    @classmethod
    def _debug_components(cls, resolution: int, flavor: str):
        s = DEBUG_SIZES[flavor]
        vae = debug_autoencoder(flavor, resolution, s.vae_channels)
        unet = debug_unet(resolution, vae, (s.down_blocks, s.up_blocks), s.unet_channels, s.cross_attention_dim, s.attention_head_dim,
                          s.norm_groups)  # fmt: skip
        appearance = UNet2DConditionModel.from_config(unet.config)
        appearance.load_state_dict(unet.state_dict())  # a copy of the UNet, as in the paper
        controlnet = debug_controlnet(unet, vae)
        return vae, unet, appearance, controlnet, null_text_embedding(debug_text_encoder(s.text_hidden))

    @staticmethod
    def _sd15_base(sd15: str | Path, vae: str | Path):
        unet = UNet2DConditionModel.from_pretrained(sd15, subfolder="unet", local_files_only=True)
        text = CLIPTextModel.from_pretrained(sd15, subfolder="text_encoder", local_files_only=True)
        return AutoencoderKL.from_pretrained(vae, local_files_only=True), unet, null_text_embedding(text)

    @classmethod
    def _sd15_components(cls, overrides: dict[str, str] | None = None):
        vae, unet, null_text = cls._sd15_base(weights.resolve("sd15", overrides), weights.resolve("sd-vae-ft-mse", overrides))
        appearance = UNet2DConditionModel.from_config(unet.config)
        appearance.load_state_dict(unet.state_dict())
        return vae, unet, appearance, ControlNetModel.from_unet(unet), null_text

    @classmethod
    def _released_components(cls, release: str | Path, sd15: str | Path, vae: str | Path, heads: int = 8):
        """SD1.5 + sd-vae-ft-mse + the release's appearance encoder, ControlNet and temporal attention."""
        release = Path(release)
        vae, unet, null_text = cls._sd15_base(sd15, vae)
        appearance = load_model_folder(UNet2DConditionModel, release / released.APPEARANCE_DIR)
        controlnet = load_model_folder(ControlNetModel, release / released.CONTROLNET_DIR)
        video = UNetMotionModel.from_unet2d(unet, magicanimate_adapter(unet, heads))
        released.load_temporal(video, release / released.TEMPORAL_FILE)
        return vae, video, appearance, controlnet, null_text

    @classmethod
    def from_release(cls, release: str | Path, sd15: str | Path, vae: str | Path, resolution: int, device: torch.device,
                     dtype: torch.dtype, options: MagicAnimateOptions | None = None, heads: int = 8) -> "MagicAnimate":  # fmt: skip
        """The released model from explicit folders (what the `released` flavor does with the registry's
        paths; `heads` is the motion modules' head count, 8 in the release)."""
        parts = cls._released_components(release, sd15, vae, heads)
        model = cls(*parts, "released", resolution, "released", options)
        model.check_resolution()
        return model.to(device, dtype)

    def prepare(self, stage: str, *, seed: int, overrides: dict[str, str] | None = None) -> None:
        """Stage 1 after a debug flavor's own base stage: the appearance encoder and the ControlNet start as copies
        of the denoiser just trained (as the paper's start from SD1.5's UNet, which the sd15 flavor copies at
        creation). Stage 2: insert motion modules (AnimateDiff v1 weights for sd15, fresh for debug) into the
        denoiser."""
        previous, self.stage = self.stage, stage
        if stage == "pretrain" and previous == "base":
            device, dtype = self.device, self.dtype
            torch.manual_seed(seed)
            self.appearance_encoder.load_state_dict(self.unet.state_dict())
            embedding = self.controlnet.config.conditioning_embedding_out_channels
            self.controlnet = ControlNetModel.from_unet(self.unet, conditioning_embedding_out_channels=embedding)
            self.to(device, dtype)
            return
        if stage != "finetune" or isinstance(self.unet, UNetMotionModel):
            return
        device, dtype = self.device, self.dtype
        torch.manual_seed(seed)
        if self.flavor == "sd15":
            adapter = MotionAdapter.from_pretrained(weights.resolve("animatediff-v1-5", overrides), local_files_only=True)
            if adapter.config.use_motion_mid_block or adapter.config.motion_max_seq_length != 24:
                raise ValueError("animatediff-v1-5 is not AnimateDiff v1's layout (no mid-block module, max length 24)")
        else:
            adapter = magicanimate_adapter(self.unet, DEBUG_SIZES[self.flavor].motion_heads)
        self.unet = UNetMotionModel.from_unet2d(self.unet, adapter)
        self._install_attention()
        self.to(device, dtype)

    # ------------------------------------------------------------------ bookkeeping
    def modules(self) -> dict[str, torch.nn.Module]:
        return {"vae": self.vae, "unet": self.unet, "appearance_encoder": self.appearance_encoder, "controlnet": self.controlnet}

    def to(self, device: torch.device, dtype: torch.dtype) -> "MagicAnimate":
        super().to(device, dtype)
        self.null_text = self.null_text.to(device, dtype)
        return self

    def trainable_parameters(self, stage: str) -> list[torch.nn.Parameter]:
        """vae, base (debug flavors only: the stand-ins for sd-vae-ft-mse and SD1.5's pretraining): the VAE, then
        the denoiser alone. pretrain: appearance encoder + ControlNet (denoiser frozen unless
        `stage1_trains_denoiser`, temporal layers absent; without `appearance`, no appearance encoder). finetune: the motion modules only."""
        if stage in ("vae", "base") and self.flavor not in DEBUG_FLAVORS:
            raise ValueError(f"only a debug model trains its own {stage} (sd15/released start from released weights)")
        if stage == "vae":
            return self.train_only(self.vae)
        if stage == "base":
            return self.train_only(self.unet)
        if stage == "pretrain":
            denoiser = (self.unet,) if self.options.stage1_trains_denoiser else ()
            appearance = (self.appearance_encoder,) if self.options.appearance else ()
            return self.train_only(*denoiser, *appearance, self.controlnet)
        if stage == "finetune":
            return self.motion_parameters()
        raise ValueError(f"unknown stage {stage!r}; known: {', '.join(s.name for s in self.spec.stages)}")

    # ------------------------------------------------------------------ the network
    def text(self, n: int) -> torch.Tensor:
        return self.null_text.expand(n, -1, -1)

    def record_appearance(self, reference_latents: torch.Tensor, t: torch.Tensor) -> dict[str, torch.Tensor]:
        """Run the appearance encoder on R reference latents (R, 4, h, w) at timesteps t (R,) -> its recording:
        layer -> tokens (R, L, C)."""
        appearance = Appearance()
        self.appearance_encoder(reference_latents.to(self.dtype), t, encoder_hidden_states=self.text(len(reference_latents)),
                                cross_attention_kwargs={"appearance": appearance})  # fmt: skip
        return appearance.tokens

    def control_residuals(self, latents: torch.Tensor, t: torch.Tensor, control: torch.Tensor, scale: float = 1.0):
        """Per-frame ControlNet: latents (N, 4, h, w), t (N,), control (N, 3, S, S) -> (down residuals, mid residual)."""
        return self.controlnet(latents.to(self.dtype), t, encoder_hidden_states=self.text(len(latents)),
                               controlnet_cond=control.to(self.dtype), conditioning_scale=scale, return_dict=False)  # fmt: skip

    def denoise(self, latents: torch.Tensor, t: torch.Tensor, down, mid, appearance: Appearance | None) -> torch.Tensor:
        """The denoiser on B videos of K frames: latents (B, K, 4, h, w), t (B,), ControlNet residuals per
        frame (B*K, ...), the appearance the frames read (its rows (B*K,): the reference of each frame, -1
        none; None: the plain UNet) -> noise (B, K, 4, h, w)."""
        b, k = latents.shape[:2]
        kwargs = {"appearance": appearance}
        if isinstance(self.unet, UNetMotionModel):
            # UNetMotionModel takes (B, 4, K, h, w) and the context already repeated per frame (B*K, 77, D).
            out = self.unet(latents.permute(0, 2, 1, 3, 4).to(self.dtype), t, encoder_hidden_states=self.text(b * k),
                            down_block_additional_residuals=down, mid_block_additional_residual=mid, cross_attention_kwargs=kwargs).sample  # fmt: skip
            return out.permute(0, 2, 1, 3, 4)
        out = self.unet(latents.flatten(0, 1).to(self.dtype), t.repeat_interleave(k), encoder_hidden_states=self.text(b * k),
                        down_block_additional_residuals=down, mid_block_additional_residual=mid, cross_attention_kwargs=kwargs).sample  # fmt: skip
        return out.unflatten(0, (b, k))

    def predict_noise(self, latents: torch.Tensor, t: torch.Tensor, reference_latents: torch.Tensor, control: torch.Tensor,
                      rows: torch.Tensor) -> torch.Tensor:  # fmt: skip
        """latents (B, K, 4, h, w), t (B,), reference latents (B, 4, h, w) (each video's own, at its t),
        control (B, K, 3, S, S), rows (B*K,) -> noise (B, K, 4, h, w) (with `residual`: the clean residual).
        Without `appearance` the appearance encoder does not run and no row reads one."""
        k = latents.shape[1]
        down, mid = self.control_residuals(latents.flatten(0, 1), t.repeat_interleave(k), control.flatten(0, 1))
        if not self.options.appearance:
            return self.denoise(latents, t, down, mid, None)
        tokens = self.record_appearance(reference_latents, t)
        return self.denoise(latents, t, down, mid, Appearance(tokens, rows))

    def batch(self, sample: dict, stage: str) -> dict:
        if stage == "vae" or (stage == "base" and not self.residual):
            return self.frames_batch(sample)
        if stage == "base":  # a residual is taken around the sample's reference frame
            out = {**self.frames_batch(sample), "reference": to_unit(sample["reference"], self.device)}
            if "reference_key" in sample:
                out["reference_key"] = sample["reference_key"]
            return out
        return super().batch(sample, stage)

    def loss(self, batch: dict, stage: str, generator: torch.Generator) -> dict[str, torch.Tensor]:
        if stage == "vae":
            return self.vae_loss(batch["frames"], generator)
        if stage == "base":
            return {"loss": self.base_loss(batch, generator)}
        return {"loss": self.diffusion_loss(batch, generator)}

    def base_loss(self, batch: dict, generator: torch.Generator) -> torch.Tensor:
        """Plain image diffusion of the denoiser on frames (N, 3, S, S): no appearance, no control, the
        empty prompt — what Stable Diffusion's pretraining is to the sd15 flavor. With `residual`, of each frame
        minus its reference (N, 3, S, S): an unconditional prior over what a pose change does to a frame."""
        latents = self.encode(batch["frames"].to(self.device), generator, batch.get("frame_keys"))[:, None]  # (N, 1, 4, h, w)
        if self.residual:
            latents = self.diffused(latents, self.encode(batch["reference"].to(self.device), keys=batch.get("reference_key")))
        noisy, noise, t = self.noised(latents, generator)
        pred = self.denoise(noisy, t, None, None, None)
        return self.prediction_loss(pred, self.prediction_target(latents, noise))

    def diffusion_loss(self, batch: dict, generator: torch.Generator) -> torch.Tensor:
        """Epsilon MSE: reference (B, 3, S, S) and frames (B, K, 3, S, S) in [-1, 1], control (B, K, 3, S, S)
        in [0, 1]. An image-joint sample has its reference as its target (the loader makes it so)."""
        frames = batch["frames"].to(self.device)
        b, k = frames.shape[:2]
        latents = self.encode(frames.flatten(0, 1), generator, flat_keys(batch.get("frame_keys"))).unflatten(0, (b, k))
        reference = self.encode(batch["reference"].to(self.device), generator, batch.get("reference_key"))
        latents = self.diffused(latents, reference)
        noisy, noise, t = self.noised(latents, generator)
        keep = torch.rand(b, generator=generator, device=self.device) >= self.hyper.appearance_dropout
        rows = torch.where(keep, torch.arange(b, device=self.device), -1).repeat_interleave(k)
        pred = self.predict_noise(noisy, t, reference, batch["control"].to(self.device), rows)
        return self.prediction_loss(pred, self.prediction_target(latents, noise))

    # ------------------------------------------------------------------ sampling (humanvid.sampling.denoise)
    def sampling_scheduler(self) -> DDIMScheduler:
        return self.ddim_scheduler(MAGICANIMATE_SCHEDULE)

    def sampling_state(self, reference: torch.Tensor, control: torch.Tensor, guidance_scale: float, condition_scale: float = 1.0) -> dict:
        return {"reference": self.encode(reference[None].to(self.device)), "control": control.to(self.dtype),
                "guidance_scale": guidance_scale, "condition_scale": condition_scale, "tokens": None, "down": None, "mid": None}  # fmt: skip

    def begin_step(self, state: dict, latents: torch.Tensor, t: torch.Tensor) -> None:
        """Once per step: the appearance tokens of the reference at t (conditional branch only: the
        unconditional one reads none), and the ControlNet residuals of every frame (they depend on the
        frame alone, so overlapping windows share them)."""
        state["tokens"] = self.record_appearance(state["reference"], t.expand(1)) if self.options.appearance else None
        n = latents.shape[0]
        down, mid = self.control_residuals(latents, t.expand(n), state["control"], state["condition_scale"])
        state["down"], state["mid"] = down, mid

    def window_noise(self, state: dict, latents: torch.Tensor, frames: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Guided noise of n windows: latents (n, K, 4, h, w), frames (n, K) -> (n, K, 4, h, w). With
        midup fusion the two guidance branches share their down path (guided.py)."""
        n, k = latents.shape[:2]
        idx = frames.flatten().to(self.device)
        down = [r[idx] for r in state["down"]]
        mid = state["mid"][idx]
        g, tokens = state["guidance_scale"], state["tokens"]
        cond_rows = torch.zeros(n * k, dtype=torch.long, device=self.device)
        if not self.options.appearance:  # nothing to guide on: both branches would be this one
            return self.denoise(latents, t.expand(n), down, mid, None).float()
        if g <= 1.0:
            return self.denoise(latents, t.expand(n), down, mid, Appearance(tokens, cond_rows)).float()
        if self.fusion == "midup" and guided.supported(self.unet, latents.shape[-1]):
            uncond, cond = guided.guided_noise(self.unet, tokens, latents, t, self.text(n * k), down, mid)
            return (uncond + g * (cond - uncond)).float()
        rows = torch.cat([torch.full_like(cond_rows, -1), cond_rows])  # unconditional first: no appearance
        eps = self.denoise(torch.cat([latents, latents]), t.expand(2 * n), [torch.cat([r, r]) for r in down],
                           torch.cat([mid, mid]), Appearance(tokens, rows)).float()  # fmt: skip
        uncond, cond = eps.chunk(2)
        return uncond + g * (cond - uncond)

    def decode_outputs(self, latents: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"rgb": self.decode(latents.to(self.dtype))}

    # ------------------------------------------------------------------ checkpoints
    def save(self, out_dir: Path) -> None:
        spec = {"method": "magicanimate", "flavor": self.flavor, "resolution": self.resolution, "stage": self.stage,
                "options": self.options.model_dump(), "unet_class": type(self.unet).__name__}  # fmt: skip
        self.save_modules(out_dir, spec)
        save_null_text(out_dir, self.null_text)

    @classmethod
    def from_checkpoint(cls, path: Path, *, device: torch.device, weight_dtype: torch.dtype,
                        options: MagicAnimateOptions | None = None) -> "MagicAnimate":  # fmt: skip
        ckpt_dir = Path(path)
        spec, options = cls.read_checkpoint(ckpt_dir, options)
        unet_cls = UNET_CLASSES[spec["unet_class"]]
        model = cls(
            load_autoencoder(ckpt_dir / "vae"),
            unet_cls.from_pretrained(ckpt_dir / "unet"),
            UNet2DConditionModel.from_pretrained(ckpt_dir / "appearance_encoder"),
            ControlNetModel.from_pretrained(ckpt_dir / "controlnet"),
            load_null_text(ckpt_dir),
            spec["flavor"], spec["resolution"], spec["stage"], options,
        )  # fmt: skip
        return model.to(device, weight_dtype)


def magicanimate_adapter(unet: UNet2DConditionModel, heads: int) -> MotionAdapter:
    """Fresh motion modules in MagicAnimate's layout (AnimateDiff v1: max length 24, none in the mid
    block; 8 heads at SD size) for a UNet of any size."""
    return MotionAdapter(block_out_channels=tuple(unet.config.block_out_channels), motion_layers_per_block=unet.config.layers_per_block,
                         motion_num_attention_heads=heads, motion_norm_num_groups=unet.config.norm_num_groups,
                         motion_max_seq_length=DebugSizes.motion_max_length, use_motion_mid_block=False)  # fmt: skip
