"""Make-Your-Anchor's body SGDM: all-frame attention (the training-free inflation), batch-overlapped temporal
denoising's shared noise, stage freezing, checkpoints and the sd15 flavor's loading — on tiny real components."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from diffusers.models.attention_processor import Attention, AttnProcessor2_0
from transformers import CLIPTextConfig, CLIPTextModel, CLIPVisionConfig, CLIPVisionModel

from humanvid.models.make_your_anchor.attention import AllFrameAttention, inflate
from humanvid.models.make_your_anchor.model import MakeYourAnchor
from humanvid.models.make_your_anchor.spec import MakeYourAnchorOptions
from humanvid.sampling import sample_video

CPU = torch.device("cpu")
SIZE = 32


def _model(**options) -> MakeYourAnchor:
    opts = MakeYourAnchorOptions(**options)
    return MakeYourAnchor.create("debug_pixel", opts, resolution=SIZE, seed=0, device=CPU, weight_dtype=torch.float32)


def _attention(seed: int = 0) -> Attention:
    torch.manual_seed(seed)
    return Attention(query_dim=16, heads=2, dim_head=8)


def test_all_frame_attention_is_attention_over_every_frame_of_the_window():
    attn = _attention()
    x = torch.randn(6, 5, 16, generator=torch.Generator().manual_seed(1))  # 2 windows × 3 frames, 5 tokens each
    out = AllFrameAttention("a")(attn, x, frames=3)
    # Explicitly: each window's 15 tokens attend to each other (per head), then the output projection.
    q, k, v = attn.to_q(x), attn.to_k(x), attn.to_v(x)
    expected = []
    for w in range(2):
        rows = slice(3 * w, 3 * w + 3)
        qw, kw, vw = (t[rows].reshape(15, 2, 8).transpose(0, 1) for t in (q, k, v))  # (heads, 15, 8)
        weights = torch.softmax(qw @ kw.transpose(1, 2) / 8**0.5, dim=-1)
        expected.append(attn.to_out[0]((weights @ vw).transpose(0, 1).reshape(3, 5, 16)))
    torch.testing.assert_close(out, torch.cat(expected), rtol=1e-5, atol=1e-6)
    # One frame per window: the per-frame layer, exactly as trained.
    torch.testing.assert_close(AllFrameAttention("a")(attn, x, frames=1), AttnProcessor2_0()(attn, x), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="6 rows are not windows of 4 frames"):
        AllFrameAttention("a")(attn, x, frames=4)


def test_inflation_adds_no_parameters_and_reaches_unet_and_controlnet():
    unet = _model().unet
    fresh = UNet2DConditionModel.from_config(unet.config)
    before = {k: v.shape for k, v in fresh.state_dict().items()}
    names = inflate(fresh)
    assert {k: v.shape for k, v in fresh.state_dict().items()} == before
    assert names and all(n.endswith("attn1") for n in names) and inflate(fresh) == names  # idempotent
    model = _model()
    assert len(model.inflated) == len(names) + sum(1 for n in names if n.startswith(("down_blocks", "mid_block")))  # UNet + ControlNet


def test_frames_in_a_window_see_each_other_and_a_single_frame_sees_itself():
    model = _model()
    for p in model.unet.parameters():  # give the zero-initialised output layer weight so frames are visible in the output
        torch.nn.init.normal_(p, std=0.05) if p.dim() > 1 else None
    gen = torch.Generator().manual_seed(2)
    c = model.latent_channels()
    x = torch.randn(3, c, SIZE // 4, SIZE // 4, generator=gen)
    t = torch.full((3,), 500)
    context = model.image_tokens(torch.rand(1, 3, SIZE, SIZE, generator=gen) * 2 - 1).expand(3, -1, -1)
    mesh = torch.rand(3, 3, SIZE, SIZE, generator=gen)
    with torch.no_grad():
        alone = torch.cat([model.predict(x[i : i + 1], t[:1], context[:1], mesh[i : i + 1]) for i in range(3)])
        per_frame = model.predict(x, t, context, mesh, frames=1)
        together = model.predict(x, t, context, mesh, frames=3)
        changed = x.clone()
        changed[2] += 1.0
        moved = model.predict(changed, t, context, mesh, frames=3)
    torch.testing.assert_close(per_frame, alone, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(together, per_frame, atol=1e-4)  # the window's frames attend to each other
    assert not torch.allclose(moved[0], together[0], atol=1e-5)  # frame 0 reads frame 2


def test_shared_noise_gives_identical_frames_for_identical_meshes():
    """One window, the same mesh image on every frame: with the release's shared initial noise every frame is the
    same problem and comes out the same; with noise per frame they differ."""
    model = _model(prediction="residual")
    for p in model.unet.conv_out.parameters():
        torch.nn.init.normal_(p, std=0.05)
    gen = torch.Generator().manual_seed(3)
    reference = torch.rand(3, SIZE, SIZE, generator=gen) * 2 - 1
    mesh = torch.rand(1, 3, SIZE, SIZE, generator=gen).expand(6, -1, -1, -1)
    run = lambda shared: sample_video(model, reference, mesh, 2, 3, 1, 1.0, torch.Generator().manual_seed(0), "truncated",  # noqa: E731
                                      shared_noise=shared, condition_scale=2.0)["rgb"]  # fmt: skip
    same = run(True)
    assert same.shape == (6, 3, SIZE, SIZE)
    torch.testing.assert_close(same, same[:1].expand_as(same), rtol=0, atol=1e-5)
    per_frame = run(False)
    assert (per_frame[0] - per_frame[1]).abs().max() > 1e-3


def test_both_stages_train_unet_and_controlnet_only():
    model = _model()
    for stage in ("pretrain", "finetune"):
        params = {id(p) for p in model.trainable_parameters(stage)}
        assert params == {id(p) for m in (model.unet, model.controlnet) for p in m.parameters()}
        assert not any(p.requires_grad for m in (model.vae, model.image_encoder) for p in m.parameters())
    with pytest.raises(ValueError, match="unknown stage 'base'"):
        model.trainable_parameters("base")


def _round_trip(model: MakeYourAnchor, batch: dict, stage: str, tmp_path) -> MakeYourAnchor:
    """Save and reload; the reloaded model gives the same stage loss on the same batch and noise."""
    model.save(tmp_path / "ckpt")
    again = MakeYourAnchor.from_checkpoint(tmp_path / "ckpt", device=CPU, weight_dtype=torch.float32)
    with torch.no_grad():
        a = model.loss(batch, stage, torch.Generator().manual_seed(1))["loss"]
        b = again.loss(batch, stage, torch.Generator().manual_seed(1))["loss"]
    torch.testing.assert_close(a, b)
    return again


def test_a_training_step_moves_the_loss_and_a_checkpoint_round_trips(tmp_path):
    model = _model(prediction="residual", l1_weight=1.0)
    params = model.trainable_parameters("pretrain")
    gen = torch.Generator().manual_seed(4)
    batch = {"frames": torch.rand(2, 1, 3, SIZE, SIZE, generator=gen) * 2 - 1, "reference": torch.rand(2, 3, SIZE, SIZE, generator=gen) * 2 - 1,
             "control": torch.rand(2, 1, 3, SIZE, SIZE, generator=gen)}  # fmt: skip
    opt = torch.optim.AdamW(params, lr=1e-3)
    losses = []
    for _ in range(8):
        loss = model.loss(batch, "pretrain", torch.Generator().manual_seed(0))["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]  # the same batch and noise: the step learns it
    again = _round_trip(model, batch, "pretrain", tmp_path)
    assert torch.equal(again.null_text, model.null_text) and again.inflated == model.inflated


def _sd15_folders(root, clip_hidden: int = 32) -> dict[str, str]:
    """SD1.5's layout (unet, vae, text_encoder) and CLIP ViT-B/32's (a CLIPVisionModel folder) at debug size."""
    torch.manual_seed(0)
    UNet2DConditionModel(sample_size=4, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(32, 64),
                         down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
                         cross_attention_dim=32, attention_head_dim=8, norm_num_groups=8).save_pretrained(root / "sd15" / "unet")  # fmt: skip
    AutoencoderKL(block_out_channels=(16, 32, 32), down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3,
                  layers_per_block=1, norm_num_groups=8, latent_channels=4).save_pretrained(root / "sd15" / "vae")  # fmt: skip
    CLIPTextModel(CLIPTextConfig(vocab_size=49408, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                                 max_position_embeddings=77)).save_pretrained(root / "sd15" / "text_encoder")  # fmt: skip
    CLIPVisionModel(CLIPVisionConfig(hidden_size=clip_hidden, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=32,
                                     patch_size=8)).save_pretrained(root / "clip")  # fmt: skip
    return {"sd15": str(root / "sd15"), "clip-vit-base-patch32": str(root / "clip")}


def test_the_sd15_flavor_loads_its_released_parts_by_name(tmp_path):
    overrides = _sd15_folders(tmp_path)
    model = MakeYourAnchor.create("sd15", None, resolution=SIZE, seed=0, device=CPU, weight_dtype=torch.float32, overrides=overrides)
    saved = UNet2DConditionModel.from_pretrained(overrides["sd15"], subfolder="unet")
    assert all(torch.equal(v, model.unet.state_dict()[k]) for k, v in saved.state_dict().items())
    assert model.image_tokens(torch.zeros(1, 3, SIZE, SIZE)).shape == (1, 1 + (32 // 8) ** 2, 32)  # last_hidden_state, unprojected
    assert model.null_text.shape == (1, 77, 32)
    with pytest.raises(ValueError, match="prediction 'residual' needs a denoiser trained for it here"):
        MakeYourAnchor.create("sd15", MakeYourAnchorOptions(prediction="residual"), resolution=SIZE, seed=0, device=CPU,
                              weight_dtype=torch.float32, overrides=overrides)  # fmt: skip
    wrong = _sd15_folders(tmp_path / "wrong", clip_hidden=48)
    with pytest.raises(ValueError, match="CLIP's hidden size 48 must equal the UNet's cross-attention size 32"):
        MakeYourAnchor.create("sd15", None, resolution=SIZE, seed=0, device=CPU, weight_dtype=torch.float32, overrides=wrong)


def test_the_sample_target_is_the_clean_frame_itself():
    """`prediction: sample` (the debug flavor's): the network is trained on the clean frame's latents — nothing
    subtracted, no reference latents needed — and DDIM steps onto that prediction."""
    model = _model(prediction="sample")
    latents = torch.randn(2, 1, model.latent_channels(), 8, 8)
    assert model.predicts_clean and not model.residual
    assert torch.equal(model.prediction_target(model.diffused(latents, None), torch.zeros_like(latents)), latents)
    assert model.sampling_scheduler().config.prediction_type == "sample"
    assert _model().sampling_scheduler().config.prediction_type == "epsilon"
    state = model.sampling_state(torch.zeros(3, SIZE, SIZE), torch.zeros(4, 3, SIZE, SIZE), 1.0)
    assert state["reference"] is None and torch.equal(model.sampled_latents(state, latents[:, 0]), latents[:, 0])


# -- identity-specific face enhancement -----------------------------------------------------------------------


def _keypoints(frames: int, cx: float = 16.0, cy: float = 13.0, radius: float = 6.0) -> torch.Tensor:
    """COCO-WholeBody keypoints (frames, 133, 3) whose 68 face points are synthdance's face template at (cx, cy)
    (the rest zero: not seen)."""
    from humanvid.datasets.synthdance.body import FACE_TEMPLATE
    from humanvid.keypoints import FACE_START

    kp = torch.zeros(frames, 133, 3)
    uv = torch.tensor(FACE_TEMPLATE, dtype=torch.float32)
    kp[:, FACE_START : FACE_START + 68, 0] = cx + radius * uv[:, 0]
    kp[:, FACE_START : FACE_START + 68, 1] = cy - radius * uv[:, 1]
    kp[:, FACE_START : FACE_START + 68, 2] = 1.0
    return kp


def _face_model(**options) -> MakeYourAnchor:
    model = _model(prediction="sample", face_size=16, **options)
    model.prepare("face", seed=0)
    return model


def test_the_face_stage_trains_the_face_sgdm_alone_on_aligned_crops(tmp_path):
    model = _face_model()
    channels = model.latent_channels()
    assert model.face_unet.config.in_channels == 2 * channels + 1 and model.face_controlnet.config.in_channels == channels  # z_t alone
    torch.testing.assert_close(model.face_controlnet.conv_in.weight, model.face_unet.conv_in.weight[:, :channels])
    face_params = {id(p) for m in (model.face_unet, model.face_controlnet) for p in m.parameters()}
    assert {id(p) for p in model.trainable_parameters("face")} == face_params
    assert not any(p.requires_grad for m in (model.unet, model.controlnet, model.vae, model.image_encoder) for p in m.parameters())
    # The release's mask convention: M marks what is kept (1 off the face), the face is zeroed in the image z_M encodes.
    crops, masks = torch.rand(1, 3, 16, 16) * 2 - 1, torch.zeros(1, 1, 16, 16)
    masks[..., 4:12, 4:12] = 1
    kept, masked = model.face_inputs(crops, masks, None)
    assert kept.shape == (1, 1, 4, 4) and kept[0, 0, 1:3, 1:3].eq(0).all() and kept[0, 0, 0].eq(1).all()
    torch.testing.assert_close(model.decode(masked), crops * (1 - masks))
    body = {k: v.clone() for k, v in model.unet.state_dict().items()}
    gen = torch.Generator().manual_seed(4)
    batch = {"frames": torch.rand(2, 1, 3, SIZE, SIZE, generator=gen) * 2 - 1, "reference": torch.rand(2, 3, SIZE, SIZE, generator=gen) * 2 - 1,
             "control": torch.rand(2, 1, 3, SIZE, SIZE, generator=gen), "wholebody133": _keypoints(2)[:, None]}  # fmt: skip
    opt = torch.optim.AdamW(model.trainable_parameters("face"), lr=1e-3)
    losses = []
    for _ in range(6):
        terms = model.loss(batch, "face", torch.Generator().manual_seed(0))
        opt.zero_grad()
        terms["loss"].backward()
        opt.step()
        losses.append(terms["loss"].item())
    assert losses[-1] < losses[0] and terms["faces"].item() == 2
    assert all(torch.equal(v, model.unet.state_dict()[k]) for k, v in body.items())  # the body SGDM is untouched
    unseen = dict(batch, wholebody133=torch.zeros(2, 1, 133, 3))  # no face points seen: nothing to learn, a zero loss
    assert model.loss(unseen, "face", torch.Generator().manual_seed(0))["loss"].item() == 0.0
    _round_trip(model, batch, "face", tmp_path)
    with pytest.raises(ValueError, match="prepare the face stage first"):
        _model().trainable_parameters("face")


def test_face_enhancement_changes_only_the_masked_faces():
    from humanvid.config import FaceEnhancementConfig
    from humanvid.models.make_your_anchor import face

    model = _face_model()
    for m in model.modules().values():
        m.eval()
    gen = torch.Generator().manual_seed(5)
    rgb = torch.rand(3, 3, SIZE, SIZE, generator=gen) * 2 - 1
    keypoints = _keypoints(3)
    keypoints[2, :, 2] = 0  # the third frame's face is not seen: it keeps the body's face
    mesh = torch.rand(3, 3, SIZE, SIZE, generator=gen)
    settings = FaceEnhancementConfig(steps=2, guidance_scale=2.0)
    out = model.enhance_faces(rgb, keypoints, mesh, rgb[0], settings, torch.Generator().manual_seed(0))
    rows, matrices, points = model.face_alignment(keypoints)
    assert rows.tolist() == [0, 1]
    masks = model.face_masks(face.warp(rgb[rows], matrices, (model.options.face_size,) * 2), points)
    reach = face.warp(masks, face.invert_affine(matrices), (SIZE, SIZE))[:, 0] > 0  # (2, S, S)
    assert reach.any() and (~reach).any()
    for i in (0, 1):
        assert torch.equal(out[i][:, ~reach[i]], rgb[i][:, ~reach[i]])
        assert not torch.allclose(out[i][:, reach[i]], rgb[i][:, reach[i]])
    assert torch.equal(out[2], rgb[2])
    with pytest.raises(ValueError, match="no `face` stage"):
        _model().enhance_faces(rgb, keypoints, mesh, rgb[0], settings, torch.Generator())


def test_the_sd15_face_sgdm_is_sd_inpainting_loaded_by_name(tmp_path):
    overrides = _sd15_folders(tmp_path)
    torch.manual_seed(1)
    inpainting = UNet2DConditionModel(sample_size=4, in_channels=9, out_channels=4, layers_per_block=1, block_out_channels=(32, 64),
                                      down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
                                      cross_attention_dim=32, attention_head_dim=8, norm_num_groups=8)  # fmt: skip
    inpainting.save_pretrained(tmp_path / "inpainting" / "unet")
    overrides["sd15-inpainting"] = str(tmp_path / "inpainting")
    model = MakeYourAnchor.create("sd15", MakeYourAnchorOptions(face_size=16), resolution=SIZE, seed=0, device=CPU, weight_dtype=torch.float32,
                                  overrides=overrides)  # fmt: skip
    model.prepare("face", seed=0, overrides=overrides)
    assert all(torch.equal(v, model.face_unet.state_dict()[k]) for k, v in inpainting.state_dict().items())
    assert model.face_controlnet.config.in_channels == 4 and model.face_controlnet.conv_in.weight.shape[1] == 4
    overrides["sd15-inpainting"] = overrides["sd15"]  # a plain 4-channel UNet is no inpainting UNet
    plain = MakeYourAnchor.create("sd15", MakeYourAnchorOptions(face_size=16), resolution=SIZE, seed=0, device=CPU, weight_dtype=torch.float32,
                                  overrides=overrides)  # fmt: skip
    with pytest.raises(ValueError, match="takes 4 channels, an inpainting UNet 9"):
        plain.prepare("face", seed=0, overrides=overrides)


def _seth(root, head_controlnet_channels: int = 4) -> str:
    """The `seth` release's layout at debug size: body/{unet,controlnet} and head/{unet,controlnet}, each written by
    diffusers' save_pretrained as the release's training scripts save them (their key names are diffusers')."""
    from diffusers import ControlNetModel

    torch.manual_seed(2)
    blocks = {"down_block_types": ("CrossAttnDownBlock2D", "DownBlock2D"), "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D"),
              "block_out_channels": (32, 64), "layers_per_block": 1, "cross_attention_dim": 32, "attention_head_dim": 8, "norm_num_groups": 8}  # fmt: skip
    body = UNet2DConditionModel(sample_size=4, in_channels=4, out_channels=4, **blocks)
    body.save_pretrained(root / "body" / "unet")
    ControlNetModel.from_unet(body).save_pretrained(root / "body" / "controlnet")
    UNet2DConditionModel(sample_size=4, in_channels=9, out_channels=4, **blocks).save_pretrained(root / "head" / "unet")
    ControlNetModel(in_channels=head_controlnet_channels, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), block_out_channels=(32, 64),
                    layers_per_block=1, cross_attention_dim=32, attention_head_dim=8, norm_num_groups=8).save_pretrained(root / "head" / "controlnet")  # fmt: skip
    return str(root)


def test_the_released_seth_checkpoints_load_by_name_key_for_key(tmp_path):
    from diffusers import ControlNetModel
    from safetensors.torch import load_file, save_file

    overrides = _sd15_folders(tmp_path) | {"make-your-anchor-seth": _seth(tmp_path / "seth")}
    model = MakeYourAnchor.create("released", None, resolution=SIZE, seed=0, device=CPU, weight_dtype=torch.float32, overrides=overrides)
    assert model.stage == "released"
    for name, folder, cls in (("unet", "body/unet", UNet2DConditionModel), ("controlnet", "body/controlnet", ControlNetModel),
                              ("face_unet", "head/unet", UNet2DConditionModel), ("face_controlnet", "head/controlnet", ControlNetModel)):  # fmt: skip
        saved = cls.from_pretrained(tmp_path / "seth" / folder).state_dict()
        mine = model.modules()[name].state_dict()
        assert saved.keys() == mine.keys() and all(torch.equal(v, mine[k]) for k, v in saved.items()), name
    # A release with a renamed key is refused with the file and the key named, never loaded partly random.
    weights_file = tmp_path / "seth" / "head" / "controlnet" / "diffusion_pytorch_model.safetensors"
    state = load_file(weights_file)
    state["conv_in.weights"] = state.pop("conv_in.weight")
    save_file(state, weights_file)
    with pytest.raises(Exception, match=r"conv_in\.weight"):
        MakeYourAnchor.create("released", None, resolution=SIZE, seed=0, device=CPU, weight_dtype=torch.float32, overrides=overrides)
    wrong = _sd15_folders(tmp_path / "w") | {"make-your-anchor-seth": _seth(tmp_path / "seth9", head_controlnet_channels=9)}
    with pytest.raises(ValueError, match="head UNet takes 9 channels and its ControlNet 9; an inpainting SGDM takes 9 and 4"):
        MakeYourAnchor.create("released", None, resolution=SIZE, seed=0, device=CPU, weight_dtype=torch.float32, overrides=wrong)


# -- BiSeNet face parsing (face_mask: bisenet) ------------------------------------------------------------------


RELEASE_PARSER_KEYS = (  # names in the release's bisenet.py / resnet.py (BiSeNet(n_classes=19).state_dict())
    "cp.resnet.conv1.weight", "cp.resnet.bn1.running_mean", "cp.resnet.layer1.0.conv1.weight", "cp.resnet.layer2.0.downsample.0.weight",
    "cp.resnet.layer2.0.downsample.1.num_batches_tracked", "cp.resnet.layer4.1.bn2.bias", "cp.arm16.conv.conv.weight", "cp.arm16.conv.bn.weight",
    "cp.arm32.conv_atten.weight", "cp.arm32.bn_atten.running_var", "cp.conv_head32.conv.weight", "cp.conv_head16.bn.bias",
    "cp.conv_avg.conv.weight", "ffm.convblk.conv.weight", "ffm.convblk.bn.weight", "ffm.conv1.weight", "ffm.conv2.weight",
    "conv_out.conv.conv.weight", "conv_out.conv.bn.running_mean", "conv_out.conv_out.weight", "conv_out16.conv_out.weight", "conv_out32.conv.conv.weight",
)  # fmt: skip


def _parser_file(tmp_path, seed: int = 3) -> Path:
    from humanvid.models.make_your_anchor.face_parsing import FaceParser

    torch.manual_seed(seed)
    parser = FaceParser()
    path = tmp_path / "79999_iter.pth"
    torch.save(parser.state_dict(), path)  # how the release saved it: a plain state dict
    return path


def test_the_face_parser_has_the_released_keys_and_loads_them_by_name(tmp_path):
    from humanvid.models.make_your_anchor.face_parsing import FaceParser

    state = FaceParser().state_dict()
    assert set(RELEASE_PARSER_KEYS) <= set(state)
    assert state["conv_out.conv_out.weight"].shape == (19, 256, 1, 1) and state["cp.arm16.conv.conv.weight"].shape == (128, 256, 3, 3)
    path = _parser_file(tmp_path)
    loaded = FaceParser.from_file(path, CPU, torch.float32)
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in torch.load(path, weights_only=True).items())
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    renamed = torch.load(path, weights_only=True)
    renamed["ffm.conv3.weight"] = renamed.pop("ffm.conv2.weight")
    torch.save(renamed, tmp_path / "renamed.pth")
    with pytest.raises(ValueError, match=r"missing \['ffm.conv2.weight'\], unexpected \['ffm.conv3.weight'\]"):
        FaceParser.from_file(tmp_path / "renamed.pth", CPU, torch.float32)


def test_the_parsed_face_mask_is_the_releases_classes_dilated_once(monkeypatch):
    from humanvid.models.make_your_anchor import face_parsing
    from humanvid.models.make_your_anchor.face_parsing import FaceParser

    parser = FaceParser().eval()
    classes = torch.zeros(512, 512, dtype=torch.long)
    classes[100:200, 100:200] = 1  # skin: face
    classes[300:310, 300:310] = 17  # hair: not face
    classes[400:401, 50:52] = 12  # upper lip: face
    monkeypatch.setattr(
        FaceParser,
        "forward",
        lambda self, x: torch.nn.functional.one_hot(classes, 19).permute(2, 0, 1)[None].float().expand(len(x), -1, -1, -1),
    )
    masks = parser.face_masks(torch.zeros(2, 3, 512, 512))
    expected = torch.zeros(512, 512)
    expected[99:201, 99:201] = 1
    expected[399:402, 49:53] = 1
    assert masks.shape == (2, 1, 512, 512) and torch.equal(masks[0, 0], expected) and torch.equal(masks[1, 0], expected)
    assert face_parsing.NOT_FACE == tuple(face_parsing.CLASSES.index(c) for c in ("background", "neck", "neck_l", "cloth", "hair", "hat"))
    small = parser.face_masks(torch.zeros(1, 3, 16, 16))  # a crop of another size: the mask brought back to it
    assert small.shape == (1, 1, 16, 16) and small.sum() > 0


def test_a_bisenet_face_stage_keeps_its_parser_in_the_checkpoint(tmp_path):
    path = _parser_file(tmp_path)
    model = _model(prediction="sample", face_size=16, face_mask="bisenet")
    with pytest.raises(FileNotFoundError):  # not on this machine, no override: a clear refusal, no fallback to landmarks
        model.prepare("face", seed=0)
    model = _model(prediction="sample", face_size=16, face_mask="bisenet")
    model.prepare("face", seed=0, overrides={"bisenet-face-parsing": str(path)})
    assert "face_parser" in model.modules() and path.name == "79999_iter.pth"
    trained = {id(p) for p in model.trainable_parameters("face")}
    assert not any(id(p) in trained or p.requires_grad for p in model.face_parser.parameters())  # frozen, as in the release
    model.save(tmp_path / "ckpt")
    again = MakeYourAnchor.from_checkpoint(tmp_path / "ckpt", device=CPU, weight_dtype=torch.float32)
    assert all(torch.equal(v, again.face_parser.state_dict()[k]) for k, v in model.face_parser.state_dict().items())
    crops = torch.rand(2, 3, 16, 16) * 2 - 1
    assert torch.equal(again.face_masks(crops, torch.zeros(2, 68, 2)), model.face_parser.face_masks(crops))
    from humanvid.models import METHODS

    spec = METHODS.get("make_your_anchor")
    assert spec.option_weights(spec.parse_options({"face_mask": "bisenet"}), "sd15") == ("bisenet-face-parsing",)


def test_the_committed_debug_table_beats_the_copy_floor_and_face_enhancement_helps():
    """On the committed evidence of `make_your_anchor_debug` (reports/metrics/): every row of the method sampled at
    W_c 1 beats copying the reference on L1, PSNR and SSIM beyond the seed spread; face enhancement adds to the body
    model beyond it; the paper's W_c 2.0 on the debug model is the row that loses (a colour-shifted studio). "Ours"
    against "w/o TD" on tL1 is not met at debug size: the margins are ~1e-4, with either one noise for all frames or
    each frame its own (docs/make_your_anchor.md)."""
    from conftest import assert_row_beats, assert_rows_beat_the_floor

    table, ours = "make_your_anchor_debug", "make_your_anchor_debug"
    rows = assert_rows_beat_the_floor(table, "make_your_anchor", "copy_reference_anchor", skip=("make_your_anchor_debug_wc2",))
    assert len(rows) == 8
    for metric, sign in (("psnr", 1), ("l1", -1), ("ssim", 1)):
        assert_row_beats(table, ours, "make_your_anchor_debug_no_fe", metric, sign)
        assert_row_beats(table, ours, "make_your_anchor_debug_wc2", metric, sign)
