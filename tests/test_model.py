import pytest
import torch

from humanvid.models.baseline.model import Baseline
from humanvid.models.baseline.spec import BaselineOptions
from humanvid.weights import MissingWeightsError

CPU = torch.device("cpu")


def _create(flavor: str = "debug", resolution: int = 32, seed: int = 0, **options) -> Baseline:
    return Baseline.create(flavor, BaselineOptions(**options), resolution=resolution, seed=seed, device=CPU, weight_dtype=torch.float32)


@pytest.fixture(scope="module")
def model():
    return _create()


def _batch(k, gen):
    return {
        "reference": torch.rand(2, 3, 32, 32, generator=gen) * 2 - 1,
        "frames": torch.rand(2, k, 3, 32, 32, generator=gen) * 2 - 1,
        "control": torch.rand(2, k, 3, 32, 32, generator=gen),
    }


def _snapshot(m):
    return {f"{name}.{k}": v.detach().clone() for name, mod in m.modules().items() for k, v in mod.state_dict().items()}


def test_shapes(model):
    tokens = model.image_tokens(torch.zeros(2, 3, 32, 32))
    assert tokens.shape == (2, 1 + 16, 32)  # CLS + (32/8)^2 patches, projected to the cross-attention size
    latents = torch.randn(2, 1, 4, 8, 8)
    out = model.predict_noise(latents, torch.tensor([10, 500]), tokens, torch.rand(2, 1, 3, 32, 32))
    assert out.shape == latents.shape
    assert model.encode(torch.zeros(3, 3, 32, 32)).shape == (3, 4, 8, 8)


def test_stage_freezing_changes_exactly_the_intended_parameters():
    m = _create(seed=1)
    gen = torch.Generator().manual_seed(0)

    def step(stage, k):
        params = list(m.trainable_parameters(stage))
        opt = torch.optim.SGD(params, lr=1.0)
        before = _snapshot(m)
        m.loss(_batch(k, gen), stage, gen)["loss"].backward()
        opt.step()
        after = _snapshot(m)
        return {k for k in before if not torch.equal(before[k], after[k])}, before

    changed, before = step("pretrain", 1)
    assert changed and all(k.startswith(("unet.", "controlnet.")) for k in changed)
    # ControlNet's zero convolutions get the first step's gradient (the rest of it only from step 2 on).
    assert any(k.startswith("controlnet.controlnet_down_blocks") for k in changed)

    m.prepare("finetune", seed=0)
    with pytest.raises(ValueError, match="unknown stage"):
        m.trainable_parameters("stage3")
    changed, before = step("finetune", 4)
    assert changed and all(k.startswith("unet.") and "motion_modules" in k for k in changed)
    frozen_motion = [k for k in before if "motion_modules" in k and k not in changed]
    # Zero-initialised output projections get gradients too; at most a few buffers may stay the same.
    assert len(frozen_motion) < len([k for k in before if "motion_modules" in k]) // 2


def test_video_stage_shapes_and_checkpoint_roundtrip(tmp_path):
    m = _create(seed=2)
    m.prepare("finetune", seed=0)
    gen = torch.Generator().manual_seed(0)
    latents = torch.randn(1, 4, 4, 8, 8, generator=gen)
    tokens = m.image_tokens(torch.zeros(1, 3, 32, 32))
    pose = torch.rand(1, 4, 3, 32, 32, generator=gen)
    t = torch.tensor([300])
    out = m.predict_noise(latents, t, tokens, pose)
    assert out.shape == latents.shape
    m.save(tmp_path)
    assert (tmp_path / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    loaded = Baseline.from_checkpoint(tmp_path, device=CPU, weight_dtype=torch.float32)
    assert loaded.stage == "finetune"
    torch.testing.assert_close(loaded.predict_noise(latents, t, tokens, pose), out)


def test_temporal_layers_mix_frames():
    """The video UNet is really temporal: changing one frame's input changes another frame's output."""
    m = _create(seed=3)
    m.prepare("finetune", seed=0)
    for p in m.unet.parameters():  # motion modules start as identity (zero-initialised outputs): perturb them
        if p.dim() > 1:
            torch.nn.init.normal_(p, std=0.05)
    gen = torch.Generator().manual_seed(0)
    latents = torch.randn(1, 3, 4, 8, 8, generator=gen)
    tokens, pose, t = torch.zeros(1, 17, 32), torch.zeros(1, 3, 3, 32, 32), torch.tensor([100])
    a = m.predict_noise(latents, t, tokens, pose)
    latents2 = latents.clone()
    latents2[:, 2] += 1.0
    b = m.predict_noise(latents2, t, tokens, pose)
    assert (a[:, 0] - b[:, 0]).abs().max() > 1e-4


def test_sd15_flavor_needs_released_weights(monkeypatch, tmp_path):
    monkeypatch.setenv("HUMANVID_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(MissingWeightsError) as err:
        _create("sd15", 512)
    msg = str(err.value)
    assert "stable-diffusion-v1-5/stable-diffusion-v1-5" in msg and str(tmp_path / "sd15") in msg


def test_bad_flavor_and_resolution():
    with pytest.raises(ValueError, match="unknown baseline flavor"):
        _create("xl")
    with pytest.raises(ValueError, match="multiple of the VAE's downsampling factor 4"):
        _create(resolution=30)
