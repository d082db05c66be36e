"""LDM3D adapted to video and depth: the RGBD packings against diffusers' own LDM3D reading of them, the released
autoencoder and UNet loading key for key from a folder laid out as `Intel/ldm3d` (tiny, the real key names), the
autoencoder fine-tuning stage training the VAE alone and fitting it, RGB-only images encoded with "no depth"."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from diffusers.image_processor import VaeImageProcessorLDM3D
from test_idol_model import _batch
from test_loader import SIZE
from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

from humanvid.models.depth_images import depth_channels, depth_from_channels, inverse_depth_value
from humanvid.models.ldm3d.model import Ldm3d
from humanvid.models.ldm3d.spec import Ldm3dOptions

CPU = torch.device("cpu")


def _depth() -> torch.Tensor:
    depth = torch.zeros(2, 8, 8)
    depth[:, 2:6, 2:6] = torch.linspace(1.5, 3.0, 16).reshape(4, 4)
    return depth


def test_the_16_bit_packing_is_what_diffusers_ldm3d_reads_back():
    depth = _depth()
    value = inverse_depth_value(depth)
    packed = depth_channels(depth, "6c")
    assert packed.shape == (2, 3, 8, 8) and packed.min() >= -1 and packed.max() <= 1
    as_uint8 = ((packed + 1) / 2 * 255).round().permute(0, 2, 3, 1).numpy().astype(np.int64)  # what the VAE's output is saved as
    read = np.stack([VaeImageProcessorLDM3D.rgblike_to_depthmap(image) for image in as_uint8])
    assert np.array_equal(read, (value.numpy() * 65535).round().astype(np.int64))
    torch.testing.assert_close(depth_from_channels(packed, "6c"), 1 - value, atol=1 / 65535, rtol=0)
    one = depth_channels(depth, "4c")
    assert one.shape == (2, 1, 8, 8)
    torch.testing.assert_close(depth_from_channels(one, "4c"), 1 - value)
    with pytest.raises(ValueError, match="3 depth channels, got 1"):
        depth_from_channels(one, "6c")


def _released_folder(root, channels: int):
    """Tiny stand-ins laid out as the hub repositories are: `Intel/ldm3d`'s vae/ and unet/ (diffusers' key names, an
    RGBD VAE), sd-image-variations' image_encoder/."""
    torch.manual_seed(0)
    vae = AutoencoderKL(in_channels=channels, out_channels=channels, latent_channels=4, block_out_channels=(8, 8), layers_per_block=1,
                        norm_num_groups=4, down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2)  # fmt: skip
    unet = UNet2DConditionModel(sample_size=SIZE // 2, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(32, 64),
                                down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
                                cross_attention_dim=32, attention_head_dim=8, norm_num_groups=8)  # fmt: skip
    encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                                                             image_size=32, patch_size=8, projection_dim=32))  # fmt: skip
    vae.save_pretrained(root / "ldm3d" / "vae")
    unet.save_pretrained(root / "ldm3d" / "unet")
    encoder.save_pretrained(root / "sdiv" / "image_encoder")
    return {"ldm3d": str(root / "ldm3d"), "ldm3d-4c": str(root / "ldm3d"), "sd-image-variations": str(root / "sdiv")}, vae, unet


def test_the_released_ldm3d_loads_key_for_key_and_its_packing_must_match(tmp_path):
    overrides, vae, unet = _released_folder(tmp_path, 6)
    model = Ldm3d.create("ldm3d", Ldm3dOptions(rgbd="6c"), resolution=SIZE, seed=0, device=CPU, weight_dtype=torch.float32,
                         overrides=overrides)  # fmt: skip
    for ours, released in ((model.vae, vae), (model.unet, unet)):
        mine, theirs = ours.state_dict(), released.state_dict()
        assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in theirs)
    assert model.stage == "autoencoder" and model.pose_controlnet is not None
    with pytest.raises(ValueError, match="packed as 6c, options.rgbd is 4c"):
        Ldm3d.create("ldm3d", Ldm3dOptions(rgbd="4c"), resolution=SIZE, seed=0, device=CPU, weight_dtype=torch.float32, overrides=overrides)
    with pytest.raises(ValueError, match="takes 6 and gives 6 channels; RGBD 4c needs 4"):
        Ldm3d.create("ldm3d_4c", Ldm3dOptions(rgbd="4c"), resolution=SIZE, seed=0, device=CPU, weight_dtype=torch.float32, overrides=overrides)


def test_the_autoencoder_stage_fits_the_rgbd_vae_alone(tmp_path):
    overrides, _, _ = _released_folder(tmp_path, 4)
    model = Ldm3d.create("ldm3d_4c", Ldm3dOptions(rgbd="4c"), resolution=SIZE, seed=0, device=CPU, weight_dtype=torch.float32,
                         overrides=overrides)  # fmt: skip
    model.prepare("autoencoder", seed=0)
    params = model.trainable_parameters("autoencoder")
    assert {id(p) for p in params} == {id(p) for p in model.vae.parameters()}
    assert not any(p.requires_grad for p in model.unet.parameters())
    batch = _batch(b=4)
    coarse = torch.rand(4, 1, 3, 4, 4, generator=torch.Generator().manual_seed(1)) * 2 - 1  # smooth frames a small VAE can fit
    batch["frames"] = torch.nn.functional.interpolate(coarse.flatten(0, 1), size=SIZE, mode="bilinear").unflatten(0, (4, 1))
    batch["depth"][:] = 2.0 + torch.linspace(0, 1, SIZE)[None, None, :, None]
    optimizer = torch.optim.Adam(params, lr=3e-3)
    losses = []
    for step in range(60):
        terms = model.loss(batch, "autoencoder", torch.Generator().manual_seed(step))
        optimizer.zero_grad()
        terms["loss"].backward()
        optimizer.step()
        losses.append(float(terms["loss"].detach()))
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5]), losses


def test_an_rgb_image_is_encoded_with_no_depth_and_a_frame_decodes_to_rgb_and_depth():
    model = Ldm3d.create("debug_pixel", Ldm3dOptions(), resolution=SIZE, seed=0, device=CPU, weight_dtype=torch.float32)
    g = torch.Generator().manual_seed(0)
    rgb = torch.rand(2, 3, SIZE, SIZE, generator=g) * 2 - 1
    torch.testing.assert_close(model.encode(rgb), model.encode(torch.cat([rgb, -torch.ones(2, 1, SIZE, SIZE)], dim=1)))
    depth = torch.zeros(2, SIZE, SIZE)
    depth[:, 8:24, 8:24] = torch.rand(2, 16, 16, generator=g) + 2
    out = model.decode_outputs(model.encode(model.rgbd(rgb, depth)))  # the patch autoencoder is exact
    torch.testing.assert_close(out["rgb"], rgb)
    torch.testing.assert_close(out["depth"], 1 - inverse_depth_value(depth), atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="no 'depth' condition"):
        model.batch({"frames": torch.zeros(1, 1, 3, SIZE, SIZE, dtype=torch.uint8)}, "finetune")
