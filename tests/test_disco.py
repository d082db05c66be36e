"""DisCo at debug size: which parameters each stage trains, the two ControlNets' residuals adding as DisCo adds them,
the reference split and its drop rate, the background ControlNet's latent conditioning, the released checkpoint's key
mapping, and the loader handing the reference's mask over."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_loader import _build

from humanvid.models.disco import released
from humanvid.models.disco.model import (
    Disco,
    background_controlnet_from,
    combine_residuals,
    load_latent_controlnet,
    split_reference,
)
from humanvid.models.disco.spec import DiscoOptions
from humanvid.recipes import parse_recipe
from humanvid.shards import ShardReader
from humanvid.shards.loader import ShardSamples

CPU = torch.device("cpu")
SIZE = 32


def _model(stage: str = "hap", **options) -> Disco:
    options = {"prediction": "sample", **options}
    model = Disco.create("debug_pixel", DiscoOptions(**options), resolution=SIZE, seed=0, device=CPU, weight_dtype=torch.float32)
    if stage != "base":
        model.prepare("hap", seed=0)
    model.prepare(stage, seed=0)
    return model


def _batch(b: int = 2, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {"frames": torch.rand(b, 1, 3, SIZE, SIZE, generator=g) * 2 - 1, "reference": torch.rand(b, 3, SIZE, SIZE, generator=g) * 2 - 1,
            "reference_mask": (torch.rand(b, SIZE, SIZE, generator=g) > 0.5).float(), "control": torch.rand(b, 1, 3, SIZE, SIZE, generator=g)}  # fmt: skip


def _names(model: Disco, params: list[torch.nn.Parameter]) -> set[str]:
    ids = {id(p) for p in params}
    return {f"{c}.{n}" for c, m in model.modules().items() for n, p in m.named_parameters() if id(p) in ids}


def test_each_stage_trains_exactly_what_the_release_unfreezes():
    model = _model("base")
    assert _names(model, model.trainable_parameters("base")) == {f"unet.{n}" for n, _ in model.unet.named_parameters()}
    assert model.pose_controlnet is None  # the ControlNets appear in `hap`
    model = _model("hap")
    hap = _names(model, model.trainable_parameters("hap"))
    unet = {n for n in hap if n.startswith("unet.")}
    assert unet and all("transformer_blocks" in n for n in unet)  # transformer blocks only: ResBlocks stay frozen
    assert unet == {f"unet.{n}" for n, _ in model.unet.named_parameters() if "transformer_blocks" in n}
    assert {n.split(".")[0] for n in hap} == {"unet", "background_controlnet", "reference_projection"}
    assert all(p.requires_grad == (f"pose_controlnet.{n}" in hap) for n, p in model.pose_controlnet.named_parameters())
    finetune = _names(model, model.trainable_parameters("finetune"))
    assert {n.split(".")[0] for n in finetune} == {"unet", "pose_controlnet", "background_controlnet", "reference_projection"}
    assert len({n for n in finetune if n.startswith("unet.")}) == len(list(model.unet.parameters()))
    assert not any(p.requires_grad for m in (model.vae, model.image_encoder) for p in m.parameters())
    kv = _model("hap", hap_unfreeze="crossattn-kv")
    assert all(
        n.endswith(("attn2.to_k.weight", "attn2.to_v.weight")) for n in _names(kv, kv.trainable_parameters("hap")) if n.startswith("unet.")
    )


def test_the_controlnets_residuals_add_and_a_zeroed_one_leaves_the_other():
    model = _model("finetune")
    g = torch.Generator().manual_seed(1)
    x, t = torch.randn(2, 48, 8, 8, generator=g), torch.tensor([10, 500])
    context = torch.randn(2, 17, 32, generator=g)
    background, pose = torch.randn(2, 48, 8, 8, generator=g), torch.rand(2, 3, SIZE, SIZE, generator=g)
    for net in (model.pose_controlnet, model.background_controlnet):  # residuals that are not zero yet
        for block in [*net.controlnet_down_blocks, net.controlnet_mid_block]:
            torch.nn.init.normal_(block.weight, std=0.1)
    with torch.no_grad():
        both = model.predict(x, t, context, background, pose)
        pose_only = model.predict(x, t, context, None, pose)
        zeroed = model.predict(x, t, context, background, pose, scales=(1.0, 0.0))
        p = model.pose_controlnet(x, t, encoder_hidden_states=context, controlnet_cond=pose, return_dict=False)
        b = model.background_controlnet(x, t, encoder_hidden_states=context, controlnet_cond=background, return_dict=False)
        down, mid = combine_residuals(p, b)
        by_hand = model.unet(
            x, t, encoder_hidden_states=context, down_block_additional_residuals=down, mid_block_additional_residual=mid
        ).sample
    torch.testing.assert_close(zeroed, pose_only, rtol=0, atol=1e-6)  # the background branch scaled to 0 = the single-ControlNet model
    torch.testing.assert_close(both, by_hand, rtol=0, atol=1e-6)  # one residual sum per block, as MultiControlNetModel_MultiHiddenStates
    assert not torch.allclose(both, pose_only, atol=1e-4)
    assert all(torch.equal(d, a + c) for d, a, c in zip(down, p[0], b[0], strict=True)) and torch.equal(mid, p[1] + b[1])


def test_the_background_controlnet_reads_latents_through_the_unets_input_convolution(tmp_path):
    model = _model("base")
    net = background_controlnet_from(model.unet)
    assert set(net.controlnet_cond_embedding.state_dict()) == {"conv_in.weight", "conv_in.bias"}  # the release's key names
    assert torch.equal(net.controlnet_cond_embedding.conv_in.weight, model.unet.conv_in.weight)
    assert all(torch.equal(a, b) for a, b in zip(net.down_blocks.parameters(), model.unet.down_blocks.parameters(), strict=True))
    net.save_pretrained(tmp_path / "bg", safe_serialization=True)
    again = load_latent_controlnet(tmp_path / "bg")
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in net.state_dict().items())
    from diffusers import ControlNetModel

    ControlNetModel.from_unet(model.unet).save_pretrained(tmp_path / "plain", safe_serialization=True)
    with pytest.raises(RuntimeError, match="controlnet_cond_embedding"):  # a plain ControlNet is not a background ControlNet
        load_latent_controlnet(tmp_path / "plain")


def test_the_reference_splits_by_its_mask_and_drops_at_its_rate():
    reference = torch.rand(1, 3, 4, 4) * 2 - 1
    mask = torch.zeros(1, 4, 4)
    mask[:, :2] = 1
    fg, bg = split_reference(reference, mask)
    assert torch.equal(fg[..., :2, :], reference[..., :2, :]) and fg[..., 2:, :].abs().max() == 0
    assert torch.equal(bg[..., 2:, :], reference[..., 2:, :]) and bg[..., :2, :].abs().max() == 0

    model = _model("finetune", reference_drop=0.3)
    seen = []
    tokens = model.reference_tokens
    model.reference_tokens = lambda fg: seen.append(bool(fg.abs().max() == 0)) or tokens(fg)
    g = torch.Generator().manual_seed(0)
    batch = _batch()
    with torch.no_grad():
        for _ in range(300):
            model.loss(batch, "finetune", g)
    assert abs(np.mean(seen) - 0.3) < 0.08  # one draw per batch, as the release
    seen.clear()
    with torch.no_grad():
        model.loss(batch, "hap", g)
    assert seen == [False]  # pre-training never drops it


def test_released_checkpoint_keys_map_onto_the_model(tmp_path):
    source = _model("finetune")
    for p in source.unet.parameters():  # weights unlike a fresh model's
        torch.nn.init.normal_(p, std=0.02)
    names = {"unet": source.unet, "controlnet.nets.0": source.pose_controlnet, "controlnet.nets.1": source.background_controlnet}
    state = {f"{prefix}.{k}": v for prefix, m in names.items() for k, v in m.state_dict().items()}
    state["refer_clip_proj.weight"] = source.reference_projection.linear.weight.detach().clone()
    state |= {f"vae.{k}": torch.zeros(1) for k in ("encoder.conv_in.weight",)} | {
        "clip_image_encoder.vision_model.post_layernorm.weight": torch.zeros(1)
    }
    torch.save({"module": state, "ds_version": "0.9.5", "global_steps": 500}, tmp_path / "mp_rank_00_model_states.pt")
    released.convert(tmp_path / "mp_rank_00_model_states.pt", tmp_path / "disco-tiktok")
    target = _model("finetune")
    released.load_release(target, tmp_path / "disco-tiktok")
    for name in ("unet", "pose_controlnet", "background_controlnet", "reference_projection"):
        a, b = source.modules()[name].state_dict(), target.modules()[name].state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name

    renamed = dict(state)
    renamed["unet.conv_in.weight_renamed"] = renamed.pop("unet.conv_in.weight")
    torch.save({"module": renamed}, tmp_path / "renamed.pt")
    released.convert(tmp_path / "renamed.pt", tmp_path / "renamed")
    with pytest.raises(ValueError, match="missing \\['conv_in.weight'\\], unexpected \\['conv_in.weight_renamed'\\]"):
        released.load_release(_model("finetune"), tmp_path / "renamed")
    torch.save({"module": {**state, "text_proj.weight": torch.zeros(1)}}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="key 'text_proj.weight' belongs to no DisCo component"):
        released.convert(tmp_path / "other.pt", tmp_path / "other")


def test_the_loader_hands_over_the_references_mask_flipped_with_it(tmp_path):
    from humanvid.conditions import crop_resize_plane

    data, _ = _build(tmp_path / "shards", n_ids=1, per_id=1)
    reader = ShardReader(data.dir)
    clip = reader.clip_ids("train")[0]
    first = crop_resize_plane(reader.read_clip(clip, conditions=("alpha",))["alpha"][0], SIZE)
    assert first.mean() > 0  # the person is in it
    for flip in (0.0, 1.0):
        recipe = parse_recipe({"kind": "disco", "reference": "first", "flip_p": flip})
        sample = next(iter(ShardSamples(reader, recipe, SIZE, "train", seed=0, conditions=("openpose18", "alpha"))))
        assert sample["reference_alpha"].dtype == torch.uint8 and sample["flip"] == bool(flip)
        assert np.array_equal(sample["reference_alpha"].numpy(), first[:, ::-1] if flip else first)  # frame 0's, mirrored with the sample
    with pytest.raises(ValueError, match="reference conditions \\['alpha'\\] must be loaded image conditions"):
        ShardSamples(reader, parse_recipe({"kind": "disco"}), SIZE, "train", seed=0, conditions=("openpose18",))


def test_an_untrained_residual_model_draws_the_references_background():
    """`residual` is around the reference's background: with its output layer at zero the model's frames are the
    reference with the person cut out, whatever the pose."""
    from humanvid.config import SamplerConfig

    model = _model("finetune", prediction="residual")
    g = torch.Generator().manual_seed(2)
    reference = torch.rand(3, SIZE, SIZE, generator=g) * 2 - 1
    alpha = torch.zeros(4, SIZE, SIZE, dtype=torch.uint8)
    alpha[0, 8:24, 10:20] = 255  # the reference's person
    sampler = SamplerConfig(model="m", data="d", window=2, overlap=0, steps=2, guidance_scale=1.0)
    out = model.generate(
        reference, torch.rand(4, 3, SIZE, SIZE, generator=g), 4, sampler, torch.Generator().manual_seed(0), {"alpha": alpha}
    )
    _, background = split_reference(reference[None], alpha[:1].float() / 255)
    assert out["rgb"].shape == (4, 3, SIZE, SIZE)
    torch.testing.assert_close(out["rgb"], background.expand(4, -1, -1, -1), rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="'alpha' condition is needed"):
        model.generate(reference, torch.rand(4, 3, SIZE, SIZE), 4, sampler, torch.Generator(), None)


# ---------------------------------------------------------------------------------------------- the temporal stage
K = 3  # frames per clip in these tests


def _inputs(clips: int, seed: int = 1) -> tuple:
    g = torch.Generator().manual_seed(seed)
    n = clips * K
    return (torch.randn(n, 48, 8, 8, generator=g), torch.tensor([10, 500] * n)[:n], torch.randn(n, 17, 32, generator=g),
            torch.randn(n, 48, 8, 8, generator=g), torch.rand(n, 3, SIZE, SIZE, generator=g))  # fmt: skip


def _perturb_temporal(model: Disco) -> None:
    from humanvid.models.disco.temporal import is_temporal

    g = torch.Generator().manual_seed(3)
    for net in (model.unet, model.pose_controlnet, model.background_controlnet):
        for name, p in net.named_parameters():
            if is_temporal(name):
                p.data = torch.randn(p.shape, generator=g) * 0.05


def test_the_temporal_layers_start_as_the_image_model_and_then_mix_each_clips_frames_only():
    model = _model("finetune")
    x, t, context, background, pose = _inputs(2)
    same = [v[::K].repeat_interleave(K, dim=0) for v in (x, t, context, background, pose)]  # two clips of one frame repeated
    with torch.no_grad():
        image = model.predict(x, t, context, background, pose)
        image_same = model.predict(*same)
        model.prepare("temporal", seed=0)
        assert model.temporal
        torch.testing.assert_close(model.predict(x, t, context, background, pose, frames=1), image, rtol=0, atol=0)
        # clip statistics of identical frames are each frame's; the temporal convolution and attention start at zero
        torch.testing.assert_close(model.predict(*same, frames=K), image_same, rtol=0, atol=2e-5)
        _perturb_temporal(model)
        base = model.predict(x, t, context, background, pose, frames=K)
        moved = x.clone()
        moved[K - 1] += 1.0  # the first clip's last frame
        out = model.predict(moved, t, context, background, pose, frames=K)
    assert (out[0] - base[0]).abs().max() > 1e-3  # its first frame hears of it
    torch.testing.assert_close(out[K:], base[K:], rtol=0, atol=0)  # the other clip does not
    with pytest.raises(ValueError, match="5 rows are not whole clips of 3 frames"):
        model.predict(x[:5], t[:5], context[:5], background[:5], pose[:5], frames=K)


def test_the_temporal_layers_compute_what_the_release_computes():
    """One ResNet block's temporal convolution and one transformer block's temporal attention against explicit
    arithmetic (the release's einops rearrangements written out)."""
    from diffusers.models.attention import BasicTransformerBlock
    from diffusers.models.resnet import ResnetBlock2D

    from humanvid.models.disco.temporal import FrameCount, add_temporal_layers, temporal_attention, temporal_conv

    torch.manual_seed(0)
    frames = FrameCount(K)
    net = torch.nn.ModuleDict({"res": ResnetBlock2D(in_channels=8, out_channels=8, temb_channels=None, groups=4),
                               "block": BasicTransformerBlock(8, 2, 4, cross_attention_dim=8)})  # fmt: skip
    add_temporal_layers(net, frames)
    res, block = net["res"], net["block"]
    for p in (res.tem_conv.weight, res.tem_conv.bias, block.tem_attn.to_out[0].weight):
        p.data.normal_(0, 0.3)
    x = torch.randn(2 * K, 8, 5, 5)
    with torch.no_grad():
        got = temporal_conv(res, x, frames)
        clip = x.unflatten(0, (2, K)).transpose(1, 2)  # (b, c, f, h, w)
        h = torch.nn.functional.silu(torch.nn.functional.group_norm(clip, 4, res.tem_norm.weight, res.tem_norm.bias, res.tem_norm.eps))
        w = res.tem_conv.weight  # (c_out, c_in, 3), along frames with zero padding
        padded = torch.nn.functional.pad(h, (0, 0, 0, 0, 1, 1))
        conv = sum(torch.einsum("oi,bifhw->bofhw", w[:, :, j], padded[:, :, j : j + K]) for j in range(3))
        conv = conv + res.tem_conv.bias[None, :, None, None, None]
        torch.testing.assert_close(got, (clip + conv).transpose(1, 2).flatten(0, 1), rtol=1e-5, atol=1e-5)

        stream = torch.randn(2 * K, 6, 8)
        got = temporal_attention(block, stream, block.norm2, frames)
        seq = block.norm2(stream.unflatten(0, (2, K)).transpose(1, 2))  # (b, tokens, f, c)
        attn = block.tem_attn
        q, k, v = (proj(seq).unflatten(-1, (2, 4)).transpose(-2, -3) for proj in (attn.to_q, attn.to_k, attn.to_v))  # (b, L, heads, f, d)
        weights = torch.softmax(q @ k.transpose(-1, -2) / 2.0, dim=-1)  # scale 1/sqrt(4)
        out = attn.to_out[0]((weights @ v).transpose(-2, -3).flatten(-2))
        torch.testing.assert_close(got, out.transpose(1, 2).flatten(0, 1), rtol=1e-5, atol=1e-5)


def test_the_temporal_stage_trains_what_its_option_names_and_round_trips(tmp_path):
    from humanvid.models.disco.temporal import is_temporal

    model = _model("temporal")
    everything = _names(model, model.trainable_parameters("temporal"))
    assert {n.split(".")[0] for n in everything} == {"unet", "pose_controlnet", "background_controlnet", "reference_projection"}
    assert len(everything) == sum(len(list(model.modules()[c].parameters())) for c in ("unet", "pose_controlnet", "background_controlnet")) + 1
    only = _model("temporal", temporal_unfreeze="temporal")
    trained = _names(only, only.trainable_parameters("temporal"))
    expected = {f"{c}.{n}" for c in ("unet", "pose_controlnet", "background_controlnet") for n, _ in only.modules()[c].named_parameters() if is_temporal(n)}
    assert trained == expected and len(expected) > 0
    assert not any(p.requires_grad for c, m in only.modules().items() for n, p in m.named_parameters() if f"{c}.{n}" not in trained)

    _perturb_temporal(model)
    model.save(tmp_path / "ckpt")
    again = Disco.from_checkpoint(tmp_path / "ckpt", device=CPU, weight_dtype=torch.float32)
    assert again.temporal
    x, t, context, background, pose = _inputs(1)
    with torch.no_grad():
        torch.testing.assert_close(again.predict(x, t, context, background, pose, frames=K),
                                   model.predict(x, t, context, background, pose, frames=K), rtol=0, atol=0)  # fmt: skip
    batch = {**_batch(2), "frames": torch.rand(2, K, 3, SIZE, SIZE) * 2 - 1, "control": torch.rand(2, K, 3, SIZE, SIZE)}
    loss = again.loss(batch, "temporal", torch.Generator().manual_seed(0))["loss"]
    assert loss.isfinite()
    with pytest.raises(ValueError, match="image model trains on one frame per sample, got 3"):
        _model("finetune").loss(batch, "finetune", torch.Generator().manual_seed(0))


RELEASE_TEMPORAL_KEYS = {
    "resnet": ("tem_norm.weight", "tem_norm.bias", "tem_conv.weight", "tem_conv.bias"),
    "transformer": ("tem_attn.to_q.weight", "tem_attn.to_k.weight", "tem_attn.to_v.weight", "tem_attn.to_out.0.weight",
                    "tem_attn.to_out.0.bias", "tem_norm.weight", "tem_norm.bias"),
}  # fmt: skip
"""The temporal keys below each block of the release's 3D UNet and ControlNets (config/disco_w_tm/tem_disco_temp_attn:
ResnetBlock3D's `tem_norm`/`tem_conv`, BasicTransformerBlock's `tem_attn` (no q/k/v bias) and its `tem_norm`)."""


def test_released_temporal_checkpoint_keys_map_onto_the_model(tmp_path):
    from diffusers.models.attention import BasicTransformerBlock
    from diffusers.models.resnet import ResnetBlock2D

    source = _model("temporal")
    _perturb_temporal(source)
    names = {"unet": source.unet, "controlnet.nets.0": source.pose_controlnet, "controlnet.nets.1": source.background_controlnet}
    state = {}
    for prefix, net in names.items():
        image_keys = {k for k in net.state_dict() if "tem_" not in k}
        state |= {f"{prefix}.{k}": v for k, v in net.state_dict().items() if k in image_keys}
        for path, block in net.named_modules():  # the release's temporal keys, named as its code names them
            kind = "resnet" if isinstance(block, ResnetBlock2D) else "transformer" if isinstance(block, BasicTransformerBlock) else None
            for key in RELEASE_TEMPORAL_KEYS.get(kind, ()):
                state[f"{prefix}.{path}.{key}"] = net.state_dict()[f"{path}.{key}"]
    state["refer_clip_proj.weight"] = source.reference_projection.linear.weight.detach().clone()
    torch.save({"module": state}, tmp_path / "mp_rank_00_model_states.pt")
    released.convert(tmp_path / "mp_rank_00_model_states.pt", tmp_path / "disco-tiktok-temporal")
    target = _model("finetune")
    target.add_temporal_layers()  # what the `released_temporal` flavor does before loading
    released.load_release(target, tmp_path / "disco-tiktok-temporal")  # key for key: nothing missing, nothing left over
    for name in ("unet", "pose_controlnet", "background_controlnet"):
        a, b = source.modules()[name].state_dict(), target.modules()[name].state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    image_only = {k: v for k, v in state.items() if "tem_" not in k}  # the image model's release
    torch.save({"module": image_only}, tmp_path / "image.pt")
    released.convert(tmp_path / "image.pt", tmp_path / "disco-tiktok")
    with pytest.raises(ValueError, match="keys do not match UNet2DConditionModel: missing \\['down_blocks.0.resnets.0.tem_conv.bias'"):
        released.load_release(target, tmp_path / "disco-tiktok")


def test_the_temporal_stage_is_optional_and_only_it_takes_clips():
    import copy

    from conftest import REPO, config_errors

    from humanvid.config import safe_load_yaml
    from humanvid.recipes.base import ClipInfo
    from humanvid.validate import parse_config

    recipe = parse_recipe({"kind": "disco", "reference": "first", "frames": 8})
    picks = [recipe.pick(ClipInfo("c", "id", 24), np.random.default_rng(s)) for s in range(20)]
    assert all(p.targets == list(range(p.targets[0], p.targets[0] + 8)) and p.targets[-1] < 24 for p in picks)
    assert all(p.reference == ("c", 0) for p in picks) and len({p.targets[0] for p in picks}) > 3

    params = safe_load_yaml((REPO / "params.yaml").read_text())
    cfg = parse_config(copy.deepcopy(params), root=REPO)
    assert "temporal" not in cfg.models["disco_debug"].stages  # the image model stops before the optional stage
    assert list(cfg.models["disco_debug_temporal"].stages) == ["temporal"]
    bad = copy.deepcopy(params)
    models = bad["models"]
    models["clips_too_early"] = copy.deepcopy(models["disco_debug"])
    models["clips_too_early"]["stages"]["finetune"]["recipe"] = {"kind": "disco", "reference": "first", "frames": 4}
    models["self_clip"] = copy.deepcopy(models["disco_debug_temporal"])
    models["self_clip"]["stages"]["temporal"]["recipe"] = {"kind": "disco", "reference": "self", "frames": 4}
    models["skips_finetune"] = copy.deepcopy(models["disco_debug"])
    models["skips_finetune"]["stages"] = {k: models["disco_debug"]["stages"][k] for k in ("base", "hap")}
    models["skips_finetune"]["stages"]["temporal"] = models["disco_debug_temporal"]["stages"]["temporal"]
    text = config_errors(bad)
    assert "models.clips_too_early.stages.finetune.recipe: stage 'finetune' trains on samples of at most 1 frame(s); recipe 'disco' asks for 4" in text
    assert "models.self_clip.stages.temporal.recipe.reference: a clip of several frames cannot be its own reference" in text
    assert "models.skips_finetune.stages: missing stage 'finetune'" in text


def test_the_committed_debug_table_shows_every_disco_row_above_the_copy_floor():
    """The bar of the debug regime, on the committed evidence (`reports/metrics/`, re-run with `humanvid reproduce
    disco_debug`): every DisCo row beats "copy reference" on L1, PSNR and SSIM by more than the seed spread."""
    from conftest import assert_rows_beat_the_floor

    assert len(assert_rows_beat_the_floor("disco_debug", "disco", "copy_reference")) >= 3


def test_the_released_pre_training_checkpoint_loads_without_touching_the_pose_controlnet(tmp_path):
    """The HAP checkpoint's layout (config/ref_attn_clip_combine_controlnet_attr_pretraining): `unet.*`, its one
    ControlNet — the background one — as `controlnet.*`, `refer_clip_proj.weight`; flavor `released_hap` loads it and
    keeps the pose ControlNet it built from the image-variation UNet."""
    source = _model("finetune")
    for p in [*source.unet.parameters(), *source.background_controlnet.parameters()]:
        torch.nn.init.normal_(p, std=0.02)
    state = {f"unet.{k}": v for k, v in source.unet.state_dict().items()}
    state |= {f"controlnet.{k}": v for k, v in source.background_controlnet.state_dict().items()}
    state["refer_clip_proj.weight"] = source.reference_projection.linear.weight.detach().clone() + 1
    state["vae.encoder.conv_in.weight"] = torch.zeros(1)
    torch.save({"module": state}, tmp_path / "hap.pt")
    written = released.convert(tmp_path / "hap.pt", tmp_path / "disco-hap")
    assert sorted(p.name for p in written) == ["background_controlnet.safetensors", "reference_projection.safetensors", "unet.safetensors"]
    target = _model("finetune")
    pose_before = {k: v.clone() for k, v in target.pose_controlnet.state_dict().items()}
    released.load_release(target, tmp_path / "disco-hap")
    for name in ("unet", "background_controlnet"):
        a, b = source.modules()[name].state_dict(), target.modules()[name].state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), name
    assert torch.equal(target.reference_projection.linear.weight, state["refer_clip_proj.weight"])
    assert all(torch.equal(v, target.pose_controlnet.state_dict()[k]) for k, v in pose_before.items())
    torch.save({"module": {k: v for k, v in state.items() if not k.startswith("controlnet.")}}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="no weights for background_controlnet"):
        released.convert(tmp_path / "bad.pt", tmp_path / "bad")
