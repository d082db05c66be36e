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
