"""DiffPerformer (Wang et al., CVPR 2024): a pose-guided video diffusion model fine-tuned on one performer's video,
whose output is made temporally consistent by an implicit video representation optimised jointly with it.

- **D_p**, the pose-guided diffusion model: the baseline's (`humanvid.models.baseline`: the reference's CLIP tokens, an
  OpenPose ControlNet, AnimateDiff's motion modules), trained on many people (`pretrain`, `finetune`), then its
  temporal layers alone fine-tuned on the performer's video (`performer`); at full size the autoencoder E is fine-tuned
  on the performer's frames first (`autoencoder`).
- **Sampling** is D_p's sliding-window DDIM (windows of 16 at stride 8, the sampler's), then — with the sampler's
  `joint` section — Algorithm 1 (humanvid.models.diffperformer.joint): the IVR is fitted to D_p's output, and every
  `every` steps D_p re-reads the IVR's video from a guided start (its latents noised to `strength` of the schedule:
  latent guidance; or the image noised first, the Noisy-Image ablation), L_flow pulling the IVR along the 3D-aware
  human flow (humanvid.models.diffperformer.flow). The output is the last V_p.
"""

from __future__ import annotations

import numpy as np
import torch

from humanvid.config import JointOptimisationConfig
from humanvid.models.baseline.model import Baseline
from humanvid.models.diffperformer.flow import flow_loss, surface_coordinate_flow, surface_flow
from humanvid.models.diffperformer.ivr import ImplicitVideo
from humanvid.models.diffperformer.joint import guided_start, optimise_jointly, refresh_steps
from humanvid.models.diffperformer.spec import FLOW_CONDITIONS, SPEC, DiffPerformerOptions, reads_flow

BASELINE_STAGE = {"pretrain": "pretrain", "finetune": "finetune", "autoencoder": "vae", "performer": "finetune"}
"""Each DiffPerformer stage and the baseline stage whose trainables, batches and loss it uses."""


class DiffPerformer(Baseline):
    """D_p's components (the baseline's) and DiffPerformer's sampling."""

    spec = SPEC
    options: DiffPerformerOptions
    body_model = None
    """The SMPL-X body model 3DHF poses at sampling (`prepare_sampling`, `flow_source: smplx`); None otherwise."""

    def prepare(self, stage: str, *, seed: int, overrides: dict[str, str] | None = None) -> None:
        super().prepare(self._baseline_stage(stage), seed=seed, overrides=overrides)
        self.stage = stage

    def trainable_parameters(self, stage: str) -> list[torch.nn.Parameter]:
        return super().trainable_parameters(self._baseline_stage(stage))

    def batch(self, sample: dict, stage: str) -> dict:
        return super().batch(sample, self._baseline_stage(stage))

    def loss(self, batch: dict, stage: str, generator: torch.Generator) -> dict[str, torch.Tensor]:
        return super().loss(batch, self._baseline_stage(stage), generator)

    @staticmethod
    def _baseline_stage(stage: str) -> str:
        if stage not in BASELINE_STAGE:
            raise ValueError(f"unknown stage {stage!r}; known: {', '.join(BASELINE_STAGE)}")
        return BASELINE_STAGE[stage]

    # ------------------------------------------------------------------ sampling
    def prepare_sampling(self, sampler, *, overrides: dict[str, str] | None = None) -> None:
        """With `flow_source: smplx` and a sampler that reads 3DHF: the SMPL-X body model (weights `smplx`), to pose the
        fitted meshes at sampling (never saved with the checkpoint: the model file's licence forbids passing it on)."""
        self.body_model = None
        if self.options.flow_source == "smplx" and reads_flow(sampler):
            from humanvid.body.model import load_smplx

            self.body_model = load_smplx(None, 1, self.device, torch.float32, overrides=overrides)

    def generate(self, reference, control, frames, sampler, generator, conditions=None) -> dict[str, torch.Tensor]:
        """D_p's pass; with `sampler.joint`, the joint optimisation of the mode it names (see the module docstring)."""
        plain = super().generate(reference, control, frames, sampler, generator, conditions)
        joint: JointOptimisationConfig | None = sampler.joint
        if joint is None or joint.mode == "none":
            return plain
        start_step = min(sampler.steps - 1, round(sampler.steps * (1 - joint.strength)))

        def diffusion_pass(video: torch.Tensor, level: str) -> torch.Tensor:
            """V_p = E_dec(D_p(E_enc(video), P)) from the guided start (`level`: where the guidance noise goes)."""
            from humanvid.sampling.denoise import sample_video

            def start(state: dict, scheduler, t: torch.Tensor | None) -> torch.Tensor:
                def encode(x: torch.Tensor) -> torch.Tensor:
                    return self.unsampled_latents(state, self.encode(x.to(self.device, self.dtype)).float())

                shape = (frames, self.latent_channels(), *(2 * [self.resolution // self.vae_scale])) if level == "latent" else video.shape
                noise = torch.randn(shape, generator=generator, device=self.device)
                return guided_start(encode, video.to(self.device), noise, t, scheduler, level)

            return sample_video(self, reference, control, sampler.steps, sampler.window, sampler.overlap, sampler.guidance_scale,
                                generator, sampler.schedule, sampler.window_batch, clip_sample=sampler.clip_sample,
                                condition_scale=sampler.condition_scale, start=start, start_step=start_step)["rgb"]  # fmt: skip

        if joint.mode == "image":  # Image Opt.: D_p refines its own result at every refresh; no IVR
            video = plain["rgb"]
            for _ in refresh_steps(joint.steps, joint.every)[1:]:
                video = diffusion_pass(video, "latent")
            return {"rgb": video}
        seed = int(torch.randint(2**31 - 1, (1,), generator=generator, device=generator.device))
        return {"rgb": self._optimise_ivr(plain["rgb"], joint, conditions, diffusion_pass, seed)}

    def _optimise_ivr(self, first: torch.Tensor, joint: JointOptimisationConfig, conditions: dict | None, diffusion_pass,
                      seed: int) -> torch.Tensor:  # fmt: skip
        """Algorithm 1 on one clip: V_p⁰ is D_p's own output (the IVR's appearance at the start, docs/diffperformer.md),
        the IVR fitted to it and refreshed through `diffusion_pass`; grad enabled inside the sampler's inference mode."""
        level = "latent" if joint.mode == "ivr" else "image"
        with torch.inference_mode(False), torch.enable_grad():
            first = first.clone().float()
            frames, _, height, width = first.shape
            with torch.random.fork_rng(devices=[]):  # the IVR's initial φ from the clip's generator, not the global stream
                torch.manual_seed(seed)
                ivr = ImplicitVideo(joint.ivr, frames, height, width).to(self.device)
            flow_term = None
            if joint.flow_weight > 0:
                flow, mask = self._human_flow(conditions, frames)
                flow_term = lambda video: flow_loss(video, flow, mask)  # noqa: E731
            refreshed = []

            def refresh(v_s: torch.Tensor) -> torch.Tensor:
                refreshed.append(len(refreshed))
                if len(refreshed) == 1:
                    return first
                with torch.inference_mode():
                    fresh = diffusion_pass(v_s.detach(), level)
                return fresh.clone().float()  # out of inference mode: a tensor autograd may read

            result = optimise_jointly(ivr, refresh, steps=joint.steps, every=joint.every, lr=joint.lr, flow_term=flow_term,
                                      flow_weight=joint.flow_weight, reconstruction=joint.reconstruction)  # fmt: skip
        return result.video.detach()

    def _human_flow(self, conditions: dict | None, frames: int) -> tuple[torch.Tensor, torch.Tensor]:
        """3DHF over the clip at model resolution from the sampler's flow condition."""
        name = FLOW_CONDITIONS[self.options.flow_source]
        if not conditions or name not in conditions:
            raise ValueError(f"3DHF from {self.options.flow_source} needs the {name!r} condition at sampling")
        if self.options.flow_source == "smplx":
            flow, mask = self._mesh_flow(torch.as_tensor(conditions[name])[:frames])
        else:
            iuv = torch.as_tensor(conditions[name])[:frames].permute(0, 2, 3, 1)  # crop_conditions' (T, 3, S, S) -> (T, S, S, 3)
            flow, mask = surface_coordinate_flow(iuv.to(self.device))
        return flow.clone(), mask.clone()

    def _mesh_flow(self, vectors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """3DHF from the clip's SMPL-X vectors (T, 119), their camera already in model pixels (`crop_resize_camera`):
        each frame's mesh posed, then `surface_flow` with the clip's one camera."""
        from humanvid.body.params import pose_vertices, unpack

        if self.body_model is None:
            raise ValueError("3DHF from smplx needs the SMPL-X body model: call prepare_sampling with the sampler first")
        clip = unpack(vectors.cpu().numpy())
        focal, center = clip["focal"], clip["center"]
        if not (np.allclose(focal, focal[0]) and np.allclose(center, center[0])):
            raise ValueError("3DHF from smplx: the clip's frames carry different cameras (the smplx estimator fits one per clip)")
        meshes = torch.stack([pose_vertices(self.body_model, {k: v[i : i + 1] for k, v in clip.items()})[0] for i in range(len(vectors))])
        return surface_flow(meshes, self.body_model.faces_tensor, float(focal[0]), self.resolution, self.resolution,
                            (float(center[0, 0]), float(center[0, 1])))  # fmt: skip


__all__ = ["DiffPerformer"]
