"""The debug regime that learns (docs/baseline.md): the pixel-space autoencoder is exact on frames it never saw,
an untrained residual model is the copy-reference floor, the reference reaches the prediction, a short training
run through the real stage runner drives the loss below that floor's, and the stage processes' thread plan."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F
from conftest import stage_workspace, train_model
from test_loader import SIZE, _build

from humanvid.datasets.synthdance import SynthDanceOptions, render_clip
from humanvid.models.baseline.model import Baseline
from humanvid.models.baseline.spec import BaselineOptions
from humanvid.models.latent import PatchAutoencoder, load_autoencoder, shift_channels
from humanvid.models.magicanimate.model import MagicAnimate
from humanvid.models.magicanimate.spec import MagicAnimateOptions
from humanvid.sampling.denoise import sample_video
from humanvid.threads import _cpu_times, apply_thread_plan, plan_threads
from humanvid.training.run import placement, stage_stream

CPU = torch.device("cpu")
LEARNING = BaselineOptions(reference_concat=True, prediction="residual")


def _pixel_model(options: BaselineOptions = LEARNING, resolution: int = SIZE) -> Baseline:
    return Baseline.create("debug_pixel", options, resolution=resolution, seed=0, device=CPU, weight_dtype=torch.float32)


def test_the_pixel_autoencoder_is_exact_on_held_out_frames(tmp_path):
    clip = render_clip(SynthDanceOptions(width=64, height=64, num_frames=6), identity=7, clip=3)  # a person no model saw
    frames = torch.from_numpy(clip["rgb"]).permute(0, 3, 1, 2).float() / 127.5 - 1  # (T, 3, 64, 64)
    ae = PatchAutoencoder(patch_size=4)
    latents = ae.encode(frames).latent_dist.sample(torch.Generator().manual_seed(0))  # a point posterior: the mean
    torch.testing.assert_close(latents, F.pixel_unshuffle(frames, 4), rtol=0, atol=0)
    recon = ae.decode(latents).sample
    mse = float(((recon - frames) / 2).pow(2).mean())
    assert mse < 1e-12 and 10 * math.log10(1 / max(mse, 1e-30)) >= 28  # the bar, met exactly
    assert not any(p.requires_grad for p in ae.parameters())
    ae.save_pretrained(tmp_path / "vae", safe_serialization=True)
    loaded = load_autoencoder(tmp_path / "vae")
    assert isinstance(loaded, PatchAutoencoder) and loaded.latent_channels == 48 and loaded.downsampling == 4
    torch.testing.assert_close(loaded.decode(loaded.encode(frames).latent_dist.mean).sample, frames, rtol=0, atol=1e-6)
    (tmp_path / "vae" / "config.json").write_text(json.dumps({"_class_name": "Nope"}))
    with pytest.raises(ValueError, match="autoencoder class 'Nope'"):
        load_autoencoder(tmp_path / "vae")


def test_an_untrained_residual_model_samples_exactly_the_reference():
    model = _pixel_model()
    assert model.stage == "pretrain" and model.latent_channels() == 48 and model.unet.config.in_channels == 96
    reference = torch.rand(3, SIZE, SIZE) * 2 - 1
    out = sample_video(model, reference, torch.rand(7, 3, SIZE, SIZE), 4, 4, 1, 1.0, torch.Generator().manual_seed(0))
    torch.testing.assert_close(out["rgb"], reference[None].expand(7, -1, -1, -1), rtol=0, atol=1e-5)


def test_the_reference_reaches_the_prediction_through_the_concatenated_channels():
    model = _pixel_model(BaselineOptions(reference_concat=True))  # epsilon head: not zero-initialised
    latents, t, pose = torch.randn(1, 2, 48, 8, 8), torch.tensor([500]), torch.rand(1, 2, 3, SIZE, SIZE)
    tokens = model.image_tokens(torch.zeros(1, 3, SIZE, SIZE))
    with torch.no_grad():
        a = model.predict_noise(latents, t, tokens, pose, torch.zeros(1, 48, 8, 8))
        b = model.predict_noise(latents, t, tokens, pose, torch.ones(1, 48, 8, 8))
    assert (a - b).abs().mean() > 1e-3
    with pytest.raises(ValueError, match="reference_concat"):
        model.predict_noise(latents, t, tokens, pose)


def test_residual_sampling_steps_onto_the_clean_prediction():
    scheduler = _pixel_model().sampling_scheduler()
    assert scheduler.config.prediction_type == "sample" and scheduler.config.set_alpha_to_one
    assert _pixel_model(BaselineOptions()).sampling_scheduler().config.prediction_type == "epsilon"


def test_the_l1_term_is_added_to_the_mse_with_its_weight():
    pred, target = torch.tensor([0.0, 1.0, -2.0, 0.5]), torch.tensor([0.0, 0.0, 0.0, 0.0])
    by_hand = (0 + 1 + 4 + 0.25) / 4 + 0.5 * (0 + 1 + 2 + 0.5) / 4
    loss = _pixel_model(BaselineOptions(reference_concat=True, prediction="residual", l1_weight=0.5)).prediction_loss(pred, target)
    assert float(loss) == pytest.approx(by_hand)
    assert float(_pixel_model().prediction_loss(pred, target)) == pytest.approx(5.25 / 4)  # weight 0: the MSE alone
    with pytest.raises(ValueError, match="l1_weight"):
        BaselineOptions(l1_weight=-1.0)


# -- MagicAnimate's debug regime ------------------------------------------------------------------------------

MA_LEARNING = MagicAnimateOptions(prediction="residual")


def _ma_pixel(options: MagicAnimateOptions = MA_LEARNING, seed: int = 0) -> MagicAnimate:
    return MagicAnimate.create("debug_pixel", options, resolution=SIZE, seed=seed, device=CPU, weight_dtype=torch.float32)


def test_an_untrained_residual_magicanimate_samples_exactly_the_reference_with_guidance():
    model = _ma_pixel()
    assert model.stage == "base" and model.latent_channels() == 48 and isinstance(model.vae, PatchAutoencoder)
    reference = torch.rand(3, SIZE, SIZE) * 2 - 1
    out = sample_video(model, reference, torch.rand(7, 3, SIZE, SIZE), 4, 4, 1, 2.0, torch.Generator().manual_seed(0), schedule="closed_loop")
    torch.testing.assert_close(out["rgb"], reference[None].expand(7, -1, -1, -1), rtol=0, atol=1e-5)


def test_residual_is_refused_where_the_frozen_denoiser_is_stable_diffusion():
    with pytest.raises(ValueError, match="'sd15': prediction 'residual'"):
        MagicAnimate.create("sd15", MA_LEARNING, resolution=SIZE, seed=0, device=CPU, weight_dtype=torch.float32)


def test_the_residual_base_stage_learns_frames_minus_their_reference():
    """The untrained base denoiser predicts no change: its loss is the mean square of frame − reference (by hand)."""
    model = _ma_pixel()
    frames, reference = torch.rand(3, 3, SIZE, SIZE) * 2 - 1, torch.rand(3, 3, SIZE, SIZE) * 2 - 1
    loss = model.loss({"frames": frames, "reference": reference}, "base", torch.Generator().manual_seed(0))["loss"]
    expected = (F.pixel_unshuffle(frames, 4) - F.pixel_unshuffle(reference, 4)).pow(2).mean()
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=0)
    latents, ref = torch.randn(2, 3, 48, 4, 4), torch.randn(2, 48, 4, 4)
    torch.testing.assert_close(model.diffused(latents, ref), latents - ref[:, None])  # every frame, its video's reference
    with_depth = torch.randn(2, 96, 4, 4)  # RGB latents, then depth latents: the residual is on RGB only
    shifted = shift_channels(with_depth, ref, +1)
    assert torch.equal(shifted[:, 48:], with_depth[:, 48:]) and torch.allclose(shifted[:, :48], with_depth[:, :48] + ref)


def test_without_appearance_the_encoder_neither_trains_nor_runs():
    model = _ma_pixel(MagicAnimateOptions(prediction="residual", appearance=False))
    model.prepare("pretrain", seed=0)
    trainable = {id(p) for p in model.trainable_parameters("pretrain")}
    assert trainable == {id(p) for p in model.controlnet.parameters()}
    calls = []
    model.appearance_encoder.register_forward_hook(lambda *a: calls.append(1))
    batch = {"frames": torch.rand(2, 2, 3, SIZE, SIZE) * 2 - 1, "reference": torch.rand(2, 3, SIZE, SIZE) * 2 - 1,
             "control": torch.rand(2, 2, 3, SIZE, SIZE)}  # fmt: skip
    model.loss(batch, "pretrain", torch.Generator().manual_seed(0))
    sample_video(model, batch["reference"][0], batch["control"][0], 2, 2, 0, 3.0, torch.Generator().manual_seed(0))
    assert calls == []
    with_appearance = _ma_pixel()
    with_appearance.appearance_encoder.register_forward_hook(lambda *a: calls.append(1))
    with_appearance.loss(batch, "pretrain", torch.Generator().manual_seed(0))
    assert calls == [1]


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return _build(tmp_path_factory.mktemp("debug_regime") / "shards", n_ids=3, per_id=2, frames=24)[0]


def test_a_short_debug_training_run_learns_below_the_copy_floor(shards, tmp_path):
    """The untrained model is the copy-reference floor. After 300 steps through the real stage runner, its
    diffusion loss on the same training batches, timesteps and noise must be below 85 % of the floor's
    (measured: 74 %; 86 % after 150 steps). Most of the loss is at high noise, where no model can know
    the frame: the bar is on the part it can learn."""
    stage = {"data": "synth", "recipe": {"kind": "reference_clip", "frames": 4}, "steps": 300, "batch_size": 4, "lr": 1e-3,
             "lr_schedule": "cosine", "log_every": 50}  # fmt: skip
    models = {"px": {"arch": {"method": "baseline", "flavor": "debug_pixel", "resolution": SIZE, "options": LEARNING.model_dump()},
                     "run": {"seed": 0, "device": "cpu"}, "stages": {"pretrain": stage, "finetune": {**stage, "steps": 1, "batch_size": 1}}}}  # fmt: skip
    cfg, layout = stage_workspace(tmp_path, {"synth": shards.dir}, models)
    train_model(cfg, layout, "px")
    trained = Baseline.from_checkpoint(layout.checkpoint("px", "pretrain"), device=CPU, weight_dtype=torch.float32)
    floor = _pixel_model()
    stream = stage_stream(cfg, layout, "px", "pretrain", trained.conditions(), placement(cfg.models["px"].run), 99)
    batches = stream.batches(8)
    losses = {"floor": 0.0, "trained": 0.0}
    with torch.no_grad():
        for i in range(6):
            sample = next(batches)
            for name, model in (("floor", floor), ("trained", trained)):
                losses[name] += float(model.loss(model.batch(sample, "pretrain"), "pretrain", torch.Generator().manual_seed(i))["loss"])
    assert losses["trained"] < 0.85 * losses["floor"], losses


def test_the_thread_plan_gives_idle_cores_and_waits_passively_beside_other_work():
    assert plan_threads(2, 0.1).threads == 2 and not plan_threads(2, 0.1).passive  # alone: spin a while, both cores
    assert plan_threads(2, 1.0).threads == 1 and plan_threads(2, 1.0).passive
    assert plan_threads(2, 5.0).threads == 1  # never zero
    assert plan_threads(16, 3.4).threads == 13
    with pytest.raises(ValueError):
        plan_threads(0, 0.0)
    # /proc/stat's aggregate line: user nice system idle iowait irq softirq steal guest guest_nice
    assert _cpu_times("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4") == (150, 1000)
    # only the CPUs this process may run on count (another core's load is not ours to give way to)
    assert _cpu_times("cpu  60 0 0 140 0 0 0 0\ncpu0 10 0 0 90 0 0 0 0\ncpu1 50 0 0 50 0 0 0 0", {1}) == (50, 100)
    env = {"OMP_WAIT_POLICY": "ACTIVE"}
    assert apply_thread_plan(env) is None and env == {"OMP_WAIT_POLICY": "ACTIVE"}  # the user's choice stands
    env = {}
    plan = apply_thread_plan(env)
    assert env["OMP_NUM_THREADS"] == str(plan.threads) and ("OMP_WAIT_POLICY" in env) == plan.passive


def test_the_pixel_flavor_has_no_vae_stage_to_fit(tiny_params):
    from conftest import REPO

    from humanvid.config import ConfigError
    from humanvid.validate import parse_config

    tiny_params["models"]["tiny"]["arch"] = {"method": "baseline", "flavor": "debug_pixel", "resolution": 32}
    with pytest.raises(ConfigError, match=r"models.tiny.stages.vae: baseline/debug_pixel has no stage 'vae'"):
        parse_config(tiny_params, root=REPO)
    del tiny_params["models"]["tiny"]["stages"]["vae"]
    assert list(parse_config(tiny_params, root=REPO).models["tiny"].stages) == ["pretrain", "finetune"]


def test_a_guided_start_begins_the_denoising_from_given_latents():
    """`sample_video`'s `start` (DiffPerformer's latent guidance): the same noise given as the start reproduces plain
    sampling; a video's latents as the start with every step skipped decode back to that video (the residual model's
    reference taken off by `unsampled_latents` and added back by `sampled_latents`); the untrained residual model
    denoising the guided start from its last step lands on the reference, as from noise."""
    model = _pixel_model()
    torch.nn.init.normal_(model.unet.conv_out.weight, std=0.02, generator=torch.Generator().manual_seed(3))  # a model that acts
    reference, control = torch.rand(3, SIZE, SIZE) * 2 - 1, torch.rand(5, 3, SIZE, SIZE)
    video = torch.rand(5, 3, SIZE, SIZE) * 2 - 1
    h = SIZE // model.vae_scale

    def noise_start(state, scheduler, t):
        g = torch.Generator().manual_seed(0)
        return torch.randn(5, model.latent_channels(), h, h, generator=g) * scheduler.init_noise_sigma

    plain = sample_video(model, reference, control, 3, 4, 1, 1.0, torch.Generator().manual_seed(0))["rgb"]
    started = sample_video(model, reference, control, 3, 4, 1, 1.0, torch.Generator().manual_seed(9), start=noise_start)["rgb"]
    torch.testing.assert_close(started, plain)

    def video_start(state, scheduler, t):
        with torch.no_grad():
            latents = model.unsampled_latents(state, model.encode(video))
        return latents if t is None else scheduler.add_noise(latents, torch.zeros_like(latents), t)

    kept = sample_video(model, reference, control, 3, 4, 1, 1.0, torch.Generator().manual_seed(0), start=video_start, start_step=3)["rgb"]
    torch.testing.assert_close(kept, video, rtol=0, atol=1e-5)
    moved = sample_video(model, reference, control, 3, 4, 1, 1.0, torch.Generator().manual_seed(0), start=video_start, start_step=2)["rgb"]
    assert (moved - video).abs().max() > 1e-3  # one denoising step changes it
    with pytest.raises(ValueError, match="start_step 2 needs a start"):
        sample_video(model, reference, control, 3, 4, 1, 1.0, torch.Generator().manual_seed(0), start_step=2)
