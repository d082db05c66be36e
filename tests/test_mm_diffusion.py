"""MM-Diffusion adapted to video and depth at debug size: the joint pass is exactly the two unshared U-Nets run side by
side (DisCo's temporal layers included), RS-MMA against an explicit per-frame attention over its windows, the windows
themselves, no parameter shared and both U-Nets trained, a layer that cannot be split refused."""

from __future__ import annotations

import pytest
import torch
from test_idol_model import _batch
from test_loader import SIZE

from humanvid.models.disco.model import Disco
from humanvid.models.mm_diffusion.coupling import COUPLING, CoupledAttention, pair_layers, rs_mma, window_frames
from humanvid.models.mm_diffusion.model import MMDiffusion
from humanvid.models.mm_diffusion.spec import MMDiffusionOptions

CPU = torch.device("cpu")


def _model(stage: str = "image_depth", **options) -> MMDiffusion:
    model = MMDiffusion.create("debug_pixel", MMDiffusionOptions(**{"prediction": "residual", **options}), resolution=SIZE, seed=0,
                               device=CPU, weight_dtype=torch.float32)  # fmt: skip
    order = ("base", "haop", "image_depth", "video_depth")
    for s in order[1 : order.index(stage) + 1]:
        model.prepare(s, seed=0)
    return model


def _jitter(module: torch.nn.Module, g: torch.Generator, std: float = 0.05) -> None:
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=g) * std)


@pytest.mark.parametrize("stage, frames", [("image_depth", 1), ("video_depth", 4)])
def test_the_joint_pass_is_the_two_unets_run_side_by_side(stage, frames):
    """With RS-MMA's outputs at zero, the joint pass's video rows are the video U-Net's own pass and its depth rows the
    depth U-Net's own pass (run as a plain U-Net) — after both U-Nets (temporal layers too) were moved apart."""
    model = _model(stage)
    g = torch.Generator().manual_seed(1)
    for name, p in model.depth_unet.named_parameters():
        if COUPLING not in name.split("."):
            with torch.no_grad():
                p.add_(torch.randn(p.shape, generator=g) * 0.05)
    c, n = model.image_channels, 2 * frames
    x, t = torch.randn(n, 2 * c, 8, 8, generator=g), torch.full((n,), 400)
    context, background, pose = torch.randn(n, 17, 32, generator=g), torch.randn(n, c, 8, 8, generator=g), torch.rand(n, 3, SIZE, SIZE, generator=g)
    with torch.no_grad():
        joint = model.predict(x, t, context, background, pose, frames=frames)
        video = Disco.predict(model, x[:, :c], t, context, background, pose, frames=frames)
        model.unet, video_unet = model.depth_unet, model.unet
        depth = Disco.predict(model, x[:, c:], t, context, background, pose, frames=frames)
        model.unet = video_unet
    assert (video - depth).abs().max() > 1e-3  # the U-Nets differ, so the check below can fail
    torch.testing.assert_close(joint[:, :c], video, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(joint[:, c:], depth, atol=1e-5, rtol=1e-5)


def test_rs_mma_is_each_frames_attention_over_the_other_streams_window():
    g = torch.Generator().manual_seed(0)
    dim, heads, frames, window, length = 16, 2, 4, 3, 5
    video_half, depth_half = CoupledAttention(dim, heads, window), CoupledAttention(dim, heads, window)
    for half in (video_half, depth_half):
        _jitter(half, g, 0.3)
    video, depth = torch.randn(2 * frames, length, dim, generator=g), torch.randn(2 * frames, length, dim, generator=g)
    for shift in (0, 1, -1):
        out_video, out_depth = rs_mma(video, depth, video_half, depth_half, frames, shift)
        for own, other, own_half, other_half, out in ((video, depth, video_half, depth_half, out_video),
                                                      (depth, video, depth_half, video_half, out_depth)):  # fmt: skip
            q = own_half.qkv(own_half.norm(own))[..., :dim]
            kv = other_half.qkv(other_half.norm(other))
            k, v = kv[..., dim : 2 * dim], kv[..., 2 * dim :]
            for row in range(2 * frames):
                clip, i = divmod(row, frames)
                start = i - window // 2 + shift
                keys = [clip * frames + min(max(start + j, 0), frames - 1) for j in range(window)]
                kk, vv = torch.cat([k[r] for r in keys]), torch.cat([v[r] for r in keys])  # (w·L, C)
                heads_out = []
                for h in range(heads):
                    cols = slice(h * dim // heads, (h + 1) * dim // heads)
                    weights = (q[row, :, cols] @ kk[:, cols].T / (dim // heads) ** 0.5).softmax(-1)
                    heads_out.append(weights @ vv[:, cols])
                expected = own_half.out(torch.cat(heads_out, dim=-1))
                torch.testing.assert_close(out[row], expected, atol=1e-5, rtol=1e-5)


def test_windows_hold_their_frame_and_stay_in_the_clip():
    assert window_frames(4, 3, 0).tolist() == [[0, 0, 1], [0, 1, 2], [1, 2, 3], [2, 3, 3]]
    assert window_frames(4, 1, 0).tolist() == [[0], [1], [2], [3]]
    assert window_frames(4, 4, 1).tolist() == [[0, 0, 1, 2], [0, 1, 2, 3], [1, 2, 3, 3], [2, 3, 3, 3]]
    assert window_frames(1, 8, 0).tolist() == [[0] * 8]  # a single frame attends to its own counterpart
    with pytest.raises(ValueError, match="at least one frame"):
        CoupledAttention(8, 2, 0)


def test_no_parameter_is_shared_and_both_unets_train():
    model = _model("image_depth")
    video_ids = {id(p) for p in model.unet.parameters()}
    assert not video_ids & {id(p) for p in model.depth_unet.parameters()}
    params = model.trainable_parameters("image_depth")
    assert {id(p) for p in model.depth_unet.parameters()} <= {id(p) for p in params}
    g = torch.Generator().manual_seed(0)
    for unet in (model.unet, model.depth_unet):  # the residual head starts at zero: nothing before it would get a gradient
        torch.nn.init.normal_(unet.conv_out.weight, std=0.1, generator=g)
    terms = model.loss(_batch(), "image_depth", g)
    assert set(terms) == {"loss", "video", "depth"}  # no L_xattn, no L_mo: IDOL's own
    assert float(terms["loss"].detach()) == pytest.approx(float(terms["video"] + terms["depth"]), rel=1e-5)
    terms["loss"].backward()
    for unet in (model.unet, model.depth_unet):
        assert unet.conv_in.weight.grad is not None and unet.conv_in.weight.grad.abs().sum() > 0
        outs = [m.out.weight.grad for m in unet.modules() if isinstance(m, CoupledAttention)]
        assert outs and all(grad is not None and grad.abs().sum() > 0 for grad in outs)  # RS-MMA learns from zero


def test_a_layer_that_is_not_row_wise_is_refused():
    video, depth = torch.nn.Sequential(torch.nn.Embedding(4, 3)), torch.nn.Sequential(torch.nn.Embedding(4, 3))
    from humanvid.models.idol.unet import Streams

    with pytest.raises(ValueError, match="'0' is a Embedding"):
        pair_layers(video, depth, Streams())
    with pytest.raises(ValueError, match="no Linear '0'"):
        pair_layers(torch.nn.Sequential(torch.nn.Linear(2, 2)), torch.nn.Sequential(torch.nn.Conv2d(2, 2, 1)), Streams())


def test_both_unets_start_from_the_released_image_variation_unet_key_for_key(tmp_path):
    """MM-Diffusion's own checkpoints (a pixel-space video U-Net, a 1-D audio U-Net) fit no latent model; IDOL's
    adaptation starts both U-Nets from its video LDM. With `sd_image_variations` laid out as the hub repository (tiny,
    diffusers' key names), the video U-Net loads it key for key and stage 1's depth U-Net is the same weights under the
    same names, plus only the RS-MMA halves."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(0)
    root = tmp_path / "sd-image-variations"
    AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 8), layers_per_block=1, norm_num_groups=4,
                  down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2).save_pretrained(root / "vae")  # fmt: skip
    released = UNet2DConditionModel(sample_size=SIZE // 2, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(32, 64),
                                    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
                                    cross_attention_dim=32, attention_head_dim=8, norm_num_groups=8)  # fmt: skip
    released.save_pretrained(root / "unet")
    CLIPVisionModelWithProjection(CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                                                   image_size=32, patch_size=8, projection_dim=32)).save_pretrained(root / "image_encoder")  # fmt: skip
    model = MMDiffusion.create("sd_image_variations", MMDiffusionOptions(), resolution=SIZE, seed=0, device=CPU, weight_dtype=torch.float32,
                               overrides={"sd-image-variations": str(root)})  # fmt: skip
    theirs = released.state_dict()
    assert not model.residual  # the default prediction keeps the released output head (`residual` starts it at zero)
    model.prepare("haop", seed=0)
    model.prepare("image_depth", seed=0)
    for unet in (model.unet, model.depth_unet):
        mine = unet.state_dict()
        extra = {k for k in mine if COUPLING in k.split(".")}
        assert extra and set(mine) - extra == set(theirs)
        assert all(torch.equal(mine[k], theirs[k]) for k in theirs)


def test_the_window_shifts_at_random_in_training_only_and_always_holds_the_frame(monkeypatch):
    from humanvid.models.mm_diffusion import coupling

    model = _model("video_depth")
    shifts = []
    real = coupling.rs_mma

    def recording(video, depth, video_half, depth_half, frames, shift=0):
        shifts.append((video_half.window, frames, shift))
        return real(video, depth, video_half, depth_half, frames, shift)

    monkeypatch.setattr(coupling, "rs_mma", recording)
    c, n = model.image_channels, 8
    g = torch.Generator().manual_seed(0)
    args = (torch.randn(n, 2 * c, 8, 8, generator=g), torch.full((n,), 300), torch.randn(n, 17, 32, generator=g),
            torch.randn(n, c, 8, 8, generator=g), torch.rand(n, 3, SIZE, SIZE, generator=g))  # fmt: skip
    torch.manual_seed(0)
    with torch.no_grad():
        for _ in range(10):
            model.predict(*args, frames=4)
    wide = [(w, s) for w, f, s in shifts if w > 1]
    assert wide and len({s for _, s in wide}) > 1  # drawn per call
    for w, s in wide:  # frame i's window [i - w//2 + s, i - w//2 + s + w) still holds i
        assert w // 2 - (w - 1) <= s <= w // 2
    shifts.clear()
    model.unet.eval()
    with torch.no_grad():
        model.predict(*args, frames=4)
    assert shifts and all(s == 0 for _, _, s in shifts)  # sampling: centred windows
