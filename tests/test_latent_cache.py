"""The latent cache: a frozen VAE encodes each training frame once per stage, and training computes what it computes
without the cache."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import stage_workspace, train_model
from test_loader import SIZE, _build

from humanvid.models.latent_cache import LatentCache
from humanvid.models.magicanimate.model import MagicAnimate

CPU = torch.device("cpu")


def test_each_key_is_encoded_once_and_the_budget_holds():
    encoded: list[list[int]] = []

    def encode(rows: torch.Tensor) -> torch.Tensor:  # a posterior per frame whose values say which frame it is
        encoded.append(rows.tolist())
        return torch.stack([torch.full((8, 2, 2), float(r)) for r in rows])

    cache = LatentCache(budget_bytes=2 * 8 * 2 * 2 * 4)  # room for two float32 posteriors
    out = cache.parameters(["a", "b", "a"], encode)
    assert encoded == [[0, 1]]  # a key twice in one batch is encoded once
    assert out[:, 0, 0, 0].tolist() == [0.0, 1.0, 0.0]
    out = cache.parameters(["c", "b", "a"], encode)
    assert encoded[-1] == [0] and out[:, 0, 0, 0].tolist() == [0.0, 1.0, 0.0]  # only c is new; it is computed, not held
    assert "c" not in cache and len(cache) == 2
    cache.parameters(["c"], encode)
    assert len(encoded) == 3  # over budget: encoded every time
    assert cache.stats() == {"hits": 3, "encoded": 4, "hit_rate": round(3 / 7, 4), "frames_held": 2, "bytes_held": 256,
                             "budget_bytes": 256, "not_held_over_budget": 2}  # fmt: skip
    with pytest.raises(ValueError, match="positive byte budget"):
        LatentCache(0)


def _debug_model(flavor: str = "debug") -> MagicAnimate:
    return MagicAnimate.create(flavor, None, resolution=SIZE, seed=0, device=CPU, weight_dtype=torch.float32)


def test_cached_posteriors_give_the_latents_the_vae_gives_and_skip_the_encoder():
    model = _debug_model()
    model.trainable_parameters("vae")
    assert model.use_latent_cache(1 << 20) is None  # the debug VAE trains in its first stage: nothing is cached
    model.trainable_parameters("base")
    cache = model.use_latent_cache(1 << 20)
    assert cache is not None
    calls = []
    model.vae.encoder.register_forward_hook(lambda module, args, out: calls.append(args[0].shape[0]))
    frames = torch.rand(3, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0)) * 2 - 1
    keys = ["d/c/0/0", "d/c/1/0", "d/c/2/0"]
    model.latent_cache = None
    plain = model.encode(frames, torch.Generator().manual_seed(5))
    model.latent_cache = cache
    first = model.encode(frames, torch.Generator().manual_seed(5), keys)
    again = model.encode(frames[[2, 0]], torch.Generator().manual_seed(5), [keys[2], keys[0]])
    assert calls == [3, 3]  # once without the cache, once to fill it; the third call read the cache alone
    torch.testing.assert_close(first, plain, rtol=0, atol=1e-6)  # the same posterior sample, same generator
    torch.testing.assert_close(model.encode(frames[[2, 0]], keys=[keys[2], keys[0]]), model.encode(frames[[2, 0]]), rtol=0, atol=1e-6)
    assert again.shape == (2, 4, SIZE // model.vae_scale, SIZE // model.vae_scale)
    with pytest.raises(ValueError, match="2 frame keys for 3 frames"):
        model.encode(frames, keys=keys[:2])
    pixel = _debug_model("debug_pixel")
    pixel.trainable_parameters("base")
    assert pixel.use_latent_cache(1 << 20) is None  # space-to-depth: nothing to save


def test_a_stage_with_the_cache_trains_what_a_stage_without_it_trains(tmp_path):
    shards, _ = _build(tmp_path / "shards", n_ids=2, per_id=1, frames=12)

    def model(cache_gb: float) -> dict:
        stage = lambda steps: {"data": "synth", "recipe": {"kind": "reference_clip"}, "steps": steps, "batch_size": 2, "lr": 1e-3, "log_every": 1}  # noqa: E731
        return {"arch": {"method": "baseline", "flavor": "debug", "resolution": SIZE, "options": {"reference_concat": True}},
                "run": {"seed": 0, "device": "cpu", "latent_cache_gb": cache_gb},
                "stages": {"vae": stage(2), "pretrain": stage(12), "finetune": {**stage(1), "recipe": {"kind": "reference_clip", "frames": 3}}}}  # fmt: skip

    cfg, layout = stage_workspace(tmp_path / "ws", {"synth": shards.dir}, {"cached": model(0.01), "plain": model(0)})
    logs = {}
    for name in ("cached", "plain"):
        train_model(cfg, layout, name)
        logs[name] = {s: json.loads((layout.checkpoint(name, s) / "train_log.json").read_text()) for s in ("vae", "pretrain", "finetune")}
    cached, plain = logs["cached"], logs["plain"]
    assert cached["vae"]["latent_cache"] is None and plain["pretrain"]["latent_cache"] is None  # fitting the VAE; turned off
    stats = cached["pretrain"]["latent_cache"]
    # 12 steps × 2 samples × (target + reference) over 2 clips of 12 frames: frames come back
    assert stats["hits"] > 0 and stats["hits"] + stats["encoded"] == 48 and stats["frames_held"] == stats["encoded"] <= 24
    assert cached["vae"]["losses"] == plain["vae"]["losses"]
    for stage in ("pretrain", "finetune"):
        assert cached[stage]["losses"] == pytest.approx(plain[stage]["losses"], rel=1e-4, abs=1e-6)
