"""Make-Your-Anchor (Huang et al., CVPR 2024): the structure-guided diffusion model (SGDM) of its body.

Components:
- `vae`; `unet` (UNet2DConditionModel) and `controlnet` (a ControlNetModel on the rendered 3D mesh: the `smplx`
  control kind, shaded SMPL-X normals), both trained in both stages;
- `image_encoder`: a CLIP vision model whose `last_hidden_state` (all tokens, before the pooled output's layer norm
  and without a projection: ViT-B/32's 50 × 768) replaces the text tokens of the UNet and the ControlNet;
- `null_text`: the CLIP text encoder's embedding of "" (77 tokens) — classifier-free guidance's unconditional
  context, as the released inference contrasts with.

Training (the release's `train_body.py`, a diffusers ControlNet-example script): one frame and one reference
frame of the same identity per sample, epsilon MSE, UNet and ControlNet both optimised; pre-training on many
identities, then fine-tuning on one identity's video (two stages of the same network; data per stage).

Inference: all-frame attention in the UNet and the ControlNet (attention.py, a training-free inflation), batch-
overlapped temporal denoising (`samplers.*.schedule: truncated`, the same initial noise for every frame:
`shared_noise`), the ControlNet's residuals scaled by W_c (`condition_scale`), guidance over the reference.

Face enhancement (paper Sec. 3.3; stage `face`, sampler section `face`): a Face SGDM — an inpainting UNet (input
[z_t, M, z_M]: the noisy crop latent, the mask at latent size, the masked crop's latent) with its own mesh ControlNet and
the same CLIP reference tokens — trained on the identity's aligned face crops (the mask's region is what it learns to
fill), then run after the body frame by frame: crop the generated face, inpaint the mask, blend back (face.py).

Flavors: `debug_pixel` (tiny, random init, pixel space through the fixed space-to-depth `PatchAutoencoder`, a
tiny random CLIP and text encoder; trains on a CPU in minutes) and `sd15` (SD1.5's VAE, UNet and text encoder,
CLIP ViT-B/32, the ControlNet initialised from the UNet, all loaded by name through `humanvid.weights`).
What follows the paper or its code and what differs: docs/make_your_anchor.md.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, ControlNetModel, DDIMScheduler, DDPMScheduler, UNet2DConditionModel
from transformers import CLIPTextModel, CLIPVisionConfig, CLIPVisionModel

from humanvid import weights
from humanvid.keypoints import FACE_START
from humanvid.models.clip import clip_pixels, debug_text_encoder, load_null_text, null_text_embedding, save_null_text
from humanvid.models.latent import (
    DEBUG_PIXEL_BLOCKS,
    SD15_SCHEDULE,
    LatentModel,
    PatchAutoencoder,
    debug_autoencoder,
    debug_controlnet,
    debug_unet,
    flat_keys,
    latent_geometry,
    load_autoencoder,
)
from humanvid.models.make_your_anchor import face as face_geometry
from humanvid.models.make_your_anchor.attention import inflate
from humanvid.models.make_your_anchor.face_parsing import FaceParser
from humanvid.models.make_your_anchor.spec import DEBUG_FLAVORS, FACE_LANDMARKS, FACE_PARSER_WEIGHTS, SPEC, MakeYourAnchorOptions
from humanvid.state_dicts import load_model_folder


def latent_input_controlnet(controlnet: ControlNetModel, channels: int) -> ControlNetModel:
    """A ControlNet copied from an inpainting UNet (2C + 1 input channels), made to read the noisy latents alone: its
    input convolution keeps the UNet's weights for the first `channels` (those that see z_t). The release feeds its head
    ControlNet z_t only; how it initialised that ControlNet is not in its code (docs/make_your_anchor.md)."""
    conv = controlnet.conv_in
    narrow = torch.nn.Conv2d(channels, conv.out_channels, conv.kernel_size, padding=conv.padding)
    with torch.no_grad():
        narrow.weight.copy_(conv.weight[:, :channels])
        narrow.bias.copy_(conv.bias)
    controlnet.conv_in = narrow
    controlnet.register_to_config(in_channels=channels)
    return controlnet


FACE_VISIBLE = 0.5
MIN_EYE_DISTANCE = 0.1
"""A frame's face is aligned when at least FACE_VISIBLE of its 68 face points have a score above 0 and its eye centres
are more than this many pixels apart (the FFHQ quad is degenerate when they meet); other frames keep the body's face,
and training skips them."""


class MakeYourAnchor(LatentModel):
    """The body SGDM's and the Face SGDM's components and what each stage does with them."""

    spec = SPEC

    def __init__(self, vae, unet, controlnet, image_encoder, null_text: torch.Tensor, flavor: str, resolution: int, stage: str,
                 options: MakeYourAnchorOptions | None = None, face_unet: UNet2DConditionModel | None = None,
                 face_controlnet: ControlNetModel | None = None, face_parser: FaceParser | None = None) -> None:  # fmt: skip
        self.vae: AutoencoderKL | PatchAutoencoder = vae
        self.unet: UNet2DConditionModel = unet
        self.controlnet: ControlNetModel = controlnet
        self.image_encoder: CLIPVisionModel = image_encoder
        self.face_unet, self.face_controlnet = face_unet, face_controlnet  # from the `face` stage on
        self.face_parser = face_parser  # with `face_mask: bisenet`, from the `face` stage on (frozen)
        self.null_text = null_text  # (1, 77, D)
        self.flavor, self.resolution, self.stage = flavor, resolution, stage
        self.options = options or MakeYourAnchorOptions()
        self.noise_scheduler = DDPMScheduler(**{k: v for k, v in SD15_SCHEDULE.items() if k != "set_alpha_to_one"})
        self.inflated = inflate(self.unet) + inflate(self.controlnet)
        for module in (self.vae, self.image_encoder):
            module.requires_grad_(False)

    # ------------------------------------------------------------------ construction
    @classmethod
    def create(cls, flavor, options=None, *, resolution, seed, device, weight_dtype, overrides=None) -> "MakeYourAnchor":
        """Fresh components for the first stage (`overrides`: params.yaml `weights.overrides`)."""
        if flavor not in cls.spec.flavors:
            raise ValueError(f"unknown make_your_anchor flavor {flavor!r}; known: {', '.join(cls.spec.flavors)}")
        options = options or MakeYourAnchorOptions()
        cls.check_prediction("make_your_anchor", flavor, options.prediction, DEBUG_FLAVORS)
        torch.manual_seed(seed)
        face = (None, None)  # the Face SGDM appears in stage `face`, or comes with a release
        if flavor == "released":
            parts, face = cls._released_components(overrides)
        else:
            parts = cls._debug_components(resolution) if flavor in DEBUG_FLAVORS else cls._sd15_components(overrides)
        stage = "released" if cls.spec.flavors[flavor].released else cls.spec.stages_for(flavor)[0].name
        model = cls(*parts, flavor, resolution, stage, options, *face)
        if flavor == "released":
            model.face_parser = model._face_parser(overrides)
        model.residual_head_from_zero(model.unet)
        model.check_resolution()
        return model.to(device, weight_dtype)

    @staticmethod
    def _debug_components(resolution: int):
        vae = debug_autoencoder("debug_pixel", resolution, (16, 32, 32))
        hidden = 32  # the CLIP width = the UNet's cross-attention width (the release feeds the tokens unprojected)
        unet = debug_unet(resolution, vae, DEBUG_PIXEL_BLOCKS, (32, 64), cross_attention_dim=hidden)
        controlnet = debug_controlnet(unet, vae)
        encoder = CLIPVisionModel(CLIPVisionConfig(hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=2, num_attention_heads=2,
                                                   image_size=32, patch_size=8))  # fmt: skip
        return vae, unet, controlnet, encoder, null_text_embedding(debug_text_encoder(hidden))

    @staticmethod
    def _sd15_shared(overrides: dict[str, str] | None = None):
        """What every full-size flavor reads beside its UNets: SD1.5's VAE, CLIP ViT-B/32's vision model, and SD1.5's
        text encoder's embedding of ""."""
        sd = weights.resolve("sd15", overrides)
        vae = AutoencoderKL.from_pretrained(sd, subfolder="vae", local_files_only=True)
        text = CLIPTextModel.from_pretrained(sd, subfolder="text_encoder", local_files_only=True)
        encoder = CLIPVisionModel.from_pretrained(weights.resolve("clip-vit-base-patch32", overrides), local_files_only=True)
        return vae, encoder, null_text_embedding(text)

    @staticmethod
    def _check_context(encoder: CLIPVisionModel, *unets) -> None:
        for unet in unets:
            if encoder.config.hidden_size != unet.config.cross_attention_dim:
                raise ValueError(f"CLIP's hidden size {encoder.config.hidden_size} must equal the UNet's cross-attention size "
                                 f"{unet.config.cross_attention_dim} (its tokens go in unprojected)")  # fmt: skip

    @classmethod
    def _sd15_components(cls, overrides: dict[str, str] | None = None):
        vae, encoder, null_text = cls._sd15_shared(overrides)
        unet = UNet2DConditionModel.from_pretrained(weights.resolve("sd15", overrides), subfolder="unet", local_files_only=True)
        cls._check_context(encoder, unet)
        return vae, unet, ControlNetModel.from_unet(unet), encoder, null_text

    @classmethod
    def _released_components(cls, overrides: dict[str, str] | None = None):
        """The `seth` release (`make-your-anchor-seth`: body/{unet,controlnet}, head/{unet,controlnet}, each a diffusers
        folder loaded key for key) beside SD1.5's VAE and text encoder and CLIP ViT-B/32, as its inference scripts
        assemble them -> (body parts, face parts)."""
        release = Path(weights.resolve("make-your-anchor-seth", overrides))
        vae, encoder, null_text = cls._sd15_shared(overrides)
        unet = load_model_folder(UNet2DConditionModel, release / "body" / "unet")
        controlnet = load_model_folder(ControlNetModel, release / "body" / "controlnet")
        face_unet = load_model_folder(UNet2DConditionModel, release / "head" / "unet")
        face_controlnet = load_model_folder(ControlNetModel, release / "head" / "controlnet")
        cls._check_context(encoder, unet, controlnet, face_unet, face_controlnet)
        channels = latent_geometry(vae)[0]
        if face_unet.config.in_channels != 2 * channels + 1 or face_controlnet.config.in_channels != channels:
            raise ValueError(f"{release / 'head'}: the head UNet takes {face_unet.config.in_channels} channels and its ControlNet "
                             f"{face_controlnet.config.in_channels}; an inpainting SGDM takes {2 * channels + 1} and {channels}")  # fmt: skip
        return (vae, unet, controlnet, encoder, null_text), (face_unet, face_controlnet)

    def prepare(self, stage: str, *, seed: int, overrides: dict[str, str] | None = None) -> None:
        """The body stages train the same network: nothing to insert. `face`: the Face SGDM's components appear."""
        self.stage = stage
        if stage != "face" or self.face_unet is not None:
            return
        device, dtype = self.device, self.dtype
        torch.manual_seed(seed)
        self.face_unet, self.face_controlnet = self._face_components(overrides)
        self.face_parser = self._face_parser(overrides)
        self.to(device, dtype)

    def _face_parser(self, overrides: dict[str, str] | None = None) -> FaceParser | None:
        """BiSeNet by name for `face_mask: bisenet` (None for the landmark mask)."""
        if self.options.face_mask != "bisenet":
            return None
        return FaceParser.from_file(weights.resolve(FACE_PARSER_WEIGHTS, overrides), self.device, self.dtype)

    def _face_components(self, overrides: dict[str, str] | None = None) -> tuple[UNet2DConditionModel, ControlNetModel]:
        """The inpainting UNet ([z_t, M, z_M]: 2C + 1 input channels) and a ControlNet copied from it. sd15: SD-inpainting's
        UNet (the release's `runwayml/stable-diffusion-inpainting`); debug: the body's tiny UNet layout at the crop size."""
        channels, downsampling = latent_geometry(self.vae)
        size = self.options.face_size
        if size % downsampling:
            raise ValueError(f"face_size {size} must be a multiple of the autoencoder's downsampling {downsampling}")
        if self.flavor in DEBUG_FLAVORS:
            body = debug_unet(size, self.vae, DEBUG_PIXEL_BLOCKS, (32, 64), cross_attention_dim=self.unet.config.cross_attention_dim)
            unet = UNet2DConditionModel.from_config({**body.config, "in_channels": 2 * channels + 1})
            return unet, latent_input_controlnet(debug_controlnet(unet, self.vae), channels)
        unet = UNet2DConditionModel.from_pretrained(weights.resolve("sd15-inpainting", overrides), subfolder="unet", local_files_only=True)
        if unet.config.in_channels != 2 * channels + 1:
            raise ValueError(f"sd15-inpainting: its UNet takes {unet.config.in_channels} channels, an inpainting UNet {2 * channels + 1}")
        return unet, latent_input_controlnet(ControlNetModel.from_unet(unet), channels)

    # ------------------------------------------------------------------ bookkeeping
    def modules(self) -> dict[str, torch.nn.Module]:
        parts = {"vae": self.vae, "unet": self.unet, "controlnet": self.controlnet, "image_encoder": self.image_encoder}
        if self.face_unet is not None:
            parts |= {"face_unet": self.face_unet, "face_controlnet": self.face_controlnet}
        if self.face_parser is not None:
            parts["face_parser"] = self.face_parser
        return parts

    def to(self, device: torch.device, dtype: torch.dtype) -> "MakeYourAnchor":
        super().to(device, dtype)
        self.null_text = self.null_text.to(device, dtype)
        return self

    def trainable_parameters(self, stage: str) -> list[torch.nn.Parameter]:
        """pretrain and finetune: UNet + ControlNet (the release chains both into its optimizer); face: the Face SGDM's
        UNet + ControlNet."""
        if stage in ("pretrain", "finetune"):
            return self.train_only(self.unet, self.controlnet)
        if stage == "face":
            if self.face_unet is None:
                raise ValueError("the Face SGDM is not there yet: prepare the face stage first")
            return self.train_only(self.face_unet, self.face_controlnet)
        raise ValueError(f"unknown stage {stage!r}; known: {', '.join(s.name for s in self.spec.stages)}")

    # ------------------------------------------------------------------ the network
    def image_tokens(self, reference: torch.Tensor) -> torch.Tensor:
        """Reference frames (B, 3, S, S) in [-1, 1] -> CLIP's last hidden state (B, 1 + patches, D), as the release
        reads `CLIPVisionModel(...).last_hidden_state`."""
        pixels = clip_pixels(reference, self.image_encoder.config.image_size, self.dtype)
        return self.image_encoder(pixel_values=pixels).last_hidden_state

    def predict(self, latents: torch.Tensor, t: torch.Tensor, context: torch.Tensor, mesh: torch.Tensor, frames: int = 1,
                condition_scale: float = 1.0) -> torch.Tensor:  # fmt: skip
        """The network on N = windows × `frames` rows: latents (N, C, h, w), t (N,), context (N, L, D), mesh images
        (N, 3, S, S) in [0, 1] -> noise (or the clean residual) (N, C, h, w). Each window's `frames` consecutive rows
        attend to each other (all-frame attention; 1: every frame alone, as in training)."""
        kwargs = {"frames": frames}
        x, context = latents.to(self.dtype), context.to(self.dtype)
        down, mid = self.controlnet(x, t, encoder_hidden_states=context, controlnet_cond=mesh.to(self.dtype), conditioning_scale=condition_scale,
                                    cross_attention_kwargs=kwargs, return_dict=False)  # fmt: skip
        return self.unet(x, t, encoder_hidden_states=context, down_block_additional_residuals=down, mid_block_additional_residual=mid,
                         cross_attention_kwargs=kwargs).sample  # fmt: skip

    def loss(self, batch: dict, stage: str, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Frames (B, 1, 3, S, S) and references (B, 3, S, S) in [-1, 1], mesh images (B, 1, 3, S, S) in [0, 1]."""
        if stage == "face":
            return self.face_loss(batch, generator)
        frames = batch["frames"].to(self.device)
        b, k = frames.shape[:2]
        latents = self.encode(frames.flatten(0, 1), generator, flat_keys(batch.get("frame_keys"))).unflatten(0, (b, k))
        reference = batch["reference"].to(self.device)
        with torch.no_grad():
            context = self.image_tokens(reference)
        reference_latents = self.encode(reference, keys=batch.get("reference_key")) if self.residual else None
        diffused = self.diffused(latents, reference_latents)
        noisy, noise, t = self.noised(diffused, generator)
        pred = self.predict(noisy.flatten(0, 1), t.repeat_interleave(k), context.repeat_interleave(k, dim=0),
                            batch["control"].to(self.device).flatten(0, 1)).unflatten(0, (b, k))  # fmt: skip
        return {"loss": self.prediction_loss(pred, self.prediction_target(diffused, noise))}

    def batch(self, sample: dict, stage: str) -> dict:
        """The common batch, and the face landmarks (B, 1, 133, 3) in model pixels for the face stage."""
        out = super().batch(sample, stage)
        if stage == "face":
            out[FACE_LANDMARKS] = sample[FACE_LANDMARKS].to(self.device)
        return out

    # ------------------------------------------------------------------ the Face SGDM
    def face_alignment(self, landmarks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """COCO-WholeBody keypoints (N, 133, 3) in model pixels -> (the rows whose face is aligned (n,), their crop-to-
        frame matrices (n, 2, 3), their 68 face points in crop pixels (n, 68, 2))."""
        points = landmarks[:, FACE_START : FACE_START + face_geometry.FACE_POINTS].float()
        eyes = (points[:, 36:42, :2].mean(1) - points[:, 42:48, :2].mean(1)).norm(dim=-1)
        rows = torch.nonzero(((points[..., 2] > 0).float().mean(-1) >= FACE_VISIBLE) & (eyes > MIN_EYE_DISTANCE)).flatten()
        size = self.options.face_size
        matrices = face_geometry.crop_to_frame(face_geometry.ffhq_quad(points[rows, :, :2]), size)
        return rows, matrices, face_geometry.apply_affine(face_geometry.invert_affine(matrices), points[rows, :, :2])

    def face_masks(self, crops: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """Aligned crops (n, 3, f, f) in [-1, 1] and their face points (n, 68, 2) -> the region to inpaint (n, 1, f, f):
        BiSeNet's face classes (`face_mask: bisenet`, the release's `get_mask.py`) or the hull of jaw and brows
        (`landmarks`)."""
        if self.options.face_mask == "bisenet":
            if self.face_parser is None:
                raise ValueError("face_mask bisenet: this model holds no face parser (its face stage loads `bisenet-face-parsing`)")
            return self.face_parser.face_masks(crops).to(crops.dtype)
        size = crops.shape[-1]
        masks = [face_geometry.landmark_mask(p, size, self.options.face_mask_margin) for p in points]
        return torch.stack(masks)[:, None] if masks else torch.zeros(0, 1, size, size, device=crops.device)

    def face_inputs(self, crops: torch.Tensor, masks: torch.Tensor, generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Face crops (n, 3, f, f) in [-1, 1] and face masks (n, 1, f, f) -> (M at latent size, z_M): what the inpainting
        UNet reads beside its noisy latents. As the release: M is the region *kept* (1 off the face — its `get_mask.py`
        saves the face mask reversed, its `train_head.py` keeps `image * (mask > 0.5)`), the face set to 0 in the
        image z_M encodes, and M brought to latent size by nearest-neighbour interpolation."""
        keep = 1 - masks
        masked = self.encode(crops * keep, generator)
        return F.interpolate(keep.to(masked.dtype), size=masked.shape[-2:]), masked

    def face_predict(self, latents: torch.Tensor, mask: torch.Tensor, masked: torch.Tensor, t: torch.Tensor, context: torch.Tensor,
                     mesh: torch.Tensor, condition_scale: float = 1.0) -> torch.Tensor:  # fmt: skip
        """The Face SGDM on n crops: noisy latents, the mask, the masked latents (the UNet reads [z_t, M, z_M]; the
        ControlNet z_t alone, as the release's `train_head.py` feeds it), t (n,), context (n, L, D), mesh crops
        (n, 3, f, f) in [0, 1] -> noise (or the clean latents)."""
        z = latents.to(self.dtype)
        x = torch.cat([z, mask.to(self.dtype), masked.to(self.dtype)], 1)
        context = context.to(self.dtype)
        down, mid = self.face_controlnet(z, t, encoder_hidden_states=context, controlnet_cond=mesh.to(self.dtype), conditioning_scale=condition_scale,
                                         return_dict=False)  # fmt: skip
        return self.face_unet(
            x, t, encoder_hidden_states=context, down_block_additional_residuals=down, mid_block_additional_residual=mid
        ).sample

    def face_loss(self, batch: dict, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Inpainting on ground truth: each frame's aligned face crop, its landmark mask, the mesh crop through the same
        alignment, the reference's CLIP tokens. The crop's latents diffuse as they are (`residual` is the body's)."""
        rows, matrices, points = self.face_alignment(batch[FACE_LANDMARKS][:, 0])
        if not len(rows):  # no face in this batch: a zero that still reaches the trained parameters
            return {"loss": sum(p.sum() for p in self.face_unet.conv_out.parameters()) * 0.0, "faces": torch.tensor(0.0)}
        size = (self.options.face_size,) * 2
        crops = face_geometry.warp(batch["frames"][rows, 0].float(), matrices, size)
        masks = self.face_masks(crops, points)
        mesh = face_geometry.warp(batch["control"][rows, 0].float(), matrices, size)
        mask, masked = self.face_inputs(crops, masks, generator)
        latents = self.encode(crops, generator)
        noisy, noise, t = self.noised(latents[:, None], generator)
        with torch.no_grad():
            context = self.image_tokens(batch["reference"][rows].to(self.device))
        pred = self.face_predict(noisy[:, 0], mask, masked, t, context, mesh)
        return {"loss": self.prediction_loss(pred, self.prediction_target(latents, noise[:, 0])), "faces": torch.tensor(float(len(rows)))}

    @torch.inference_mode()
    def enhance_faces(self, rgb: torch.Tensor, landmarks: torch.Tensor, mesh: torch.Tensor, reference: torch.Tensor, settings,
                      generator: torch.Generator) -> torch.Tensor:  # fmt: skip
        """Frames (T, 3, S, S) in [-1, 1] with their keypoints (T, 133, 3) and mesh images (T, 3, S, S) -> the frames with
        each aligned face's mask inpainted by the Face SGDM (DDIM, `settings`: a `FaceEnhancementConfig`) and blended
        back; a frame without an aligned face, and every pixel outside its warped mask, unchanged."""
        if self.face_unet is None:
            raise ValueError("face enhancement needs the Face SGDM: this checkpoint has no `face` stage")
        rgb = rgb.to(self.device)
        rows, matrices, points = self.face_alignment(landmarks.to(self.device))
        if not len(rows):
            return rgb
        size = (self.options.face_size,) * 2
        crops = face_geometry.warp(rgb[rows].float(), matrices, size)
        masks = self.face_masks(crops, points)
        mesh_crops = face_geometry.warp(mesh[rows.to(mesh.device)].to(self.device).float(), matrices, size)
        mask, masked = self.face_inputs(crops, masks, None)
        n = len(rows)
        context = self.image_tokens(reference[None].to(self.device)).expand(n, -1, -1)
        scheduler = self.sampling_scheduler()
        scheduler.set_timesteps(settings.steps, device=self.device)
        # One initial noise for every face of the clip, as the release's face inference repeats one latent over its batch.
        noise = torch.randn((1, *masked.shape[1:]), generator=generator, device=self.device, dtype=torch.float32)
        latents = noise.expand(n, -1, -1, -1) * scheduler.init_noise_sigma
        for t in scheduler.timesteps:
            t_rows = t.expand(n)
            pred = self.face_predict(latents, mask, masked, t_rows, context, mesh_crops, settings.condition_scale).float()
            if settings.guidance_scale > 1.0:
                uncond = self.face_predict(
                    latents, mask, masked, t_rows, self.null_text.expand(n, -1, -1), mesh_crops, settings.condition_scale
                )
                pred = uncond.float() + settings.guidance_scale * (pred - uncond.float())
            latents = scheduler.step(pred, t, latents).prev_sample
        faces = self.decode(latents.to(self.dtype)).float()
        out = rgb.float().clone()
        out[rows] = face_geometry.blend(out[rows], faces, masks, matrices)
        return out.to(rgb.dtype)

    def generate(self, reference: torch.Tensor, control: torch.Tensor | None, frames: int, sampler, generator: torch.Generator,
                 conditions: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:  # fmt: skip
        """The body by batch-overlapped temporal denoising, then (sampler section `face`) face enhancement."""
        out = super().generate(reference, control, frames, sampler, generator)
        if sampler.face is not None:
            if not conditions or FACE_LANDMARKS not in conditions:
                raise ValueError(f"face enhancement needs the clip's {FACE_LANDMARKS} landmarks")
            out["rgb"] = self.enhance_faces(out["rgb"], conditions[FACE_LANDMARKS], control, reference, sampler.face, generator).float()
        return out

    # ------------------------------------------------------------------ sampling (humanvid.sampling.denoise)
    def sampling_state(self, reference: torch.Tensor, control: torch.Tensor, guidance_scale: float, condition_scale: float = 1.0) -> dict:
        """The reference's CLIP tokens, the mesh images, the scales."""
        return {"context": self.image_tokens(reference[None].to(self.device)), "mesh": control.to(self.dtype), "guidance_scale": guidance_scale,
                "condition_scale": condition_scale, "reference": self.encode(reference[None].to(self.device)) if self.residual else None}  # fmt: skip

    def begin_step(self, state: dict, latents: torch.Tensor, t: torch.Tensor) -> None:
        """Nothing is shared across windows within a step."""

    def window_noise(self, state: dict, latents: torch.Tensor, frames: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """n windows of K frames (n, K, C, h, w), all-frame attention within each: the conditional prediction, and with
        guidance the unconditional one (the null text as context), combined per window — the same as averaging each
        over the windows first and then guiding (guidance is linear), the release's order."""
        n, k = latents.shape[:2]
        x = latents.flatten(0, 1)
        mesh = state["mesh"][frames.flatten().to(self.device)]
        t_rows = t.expand(n * k)
        cond = self.predict(x, t_rows, state["context"].expand(n * k, -1, -1), mesh, k, state["condition_scale"]).float()
        g = state["guidance_scale"]
        if g > 1.0:
            uncond = self.predict(x, t_rows, self.null_text.expand(n * k, -1, -1), mesh, k, state["condition_scale"]).float()
            cond = uncond + g * (cond - uncond)
        return cond.unflatten(0, (n, k))

    def sampling_scheduler(self) -> DDIMScheduler:
        return self.ddim_scheduler(SD15_SCHEDULE)

    def decode_outputs(self, latents: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"rgb": self.decode(latents.to(self.dtype))}

    # ------------------------------------------------------------------ checkpoints
    def save(self, out_dir: Path) -> None:
        spec = {"method": "make_your_anchor", "flavor": self.flavor, "resolution": self.resolution, "stage": self.stage,
                "options": self.options.model_dump()}  # fmt: skip
        self.save_modules(out_dir, spec)
        save_null_text(out_dir, self.null_text)

    @classmethod
    def from_checkpoint(cls, path: Path, *, device: torch.device, weight_dtype: torch.dtype,
                        options: MakeYourAnchorOptions | None = None) -> "MakeYourAnchor":  # fmt: skip
        ckpt_dir = Path(path)
        spec, options = cls.read_checkpoint(ckpt_dir, options)
        face = (ckpt_dir / "face_unet").is_dir()
        model = cls(
            load_autoencoder(ckpt_dir / "vae"),
            UNet2DConditionModel.from_pretrained(ckpt_dir / "unet"),
            ControlNetModel.from_pretrained(ckpt_dir / "controlnet"),
            CLIPVisionModel.from_pretrained(ckpt_dir / "image_encoder"),
            load_null_text(ckpt_dir),
            spec["flavor"], spec["resolution"], spec["stage"], options,
            UNet2DConditionModel.from_pretrained(ckpt_dir / "face_unet") if face else None,
            ControlNetModel.from_pretrained(ckpt_dir / "face_controlnet") if face else None,
            FaceParser.from_folder(ckpt_dir / "face_parser") if (ckpt_dir / "face_parser").is_dir() else None,
        )  # fmt: skip
        return model.to(device, weight_dtype)
