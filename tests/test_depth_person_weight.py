"""The person-weighted depth loss (`depth_person_weight`, docs/idol.md): latent weights follow the pixels through either
autoencoder, the weighted loss is the explicit weighted mean, and each depth-learning model weighs what it says."""

from __future__ import annotations

import pytest
import torch
from test_idol_model import _batch, _model
from test_loader import SIZE

from humanvid.models.idol.loss_weights import latent_weights, person_weights, weighted_mean, weighted_prediction_loss
from humanvid.models.idol.spec import IdolOptions
from humanvid.models.latent import PatchAutoencoder, debug_vae
from humanvid.models.ldm3d.model import Ldm3d
from humanvid.models.ldm3d.spec import Ldm3dOptions

CPU = torch.device("cpu")


def test_patch_latent_weights_land_where_the_autoencoder_puts_each_pixel():
    ae = PatchAutoencoder(patch_size=4, in_channels=4)
    pixels = torch.rand(2, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    # weights are pixels too: the autoencoder's own encoding of the weight image is where each weight must go
    torch.testing.assert_close(latent_weights(ae, pixels), ae.encode(pixels).latent_dist.mean, rtol=0, atol=0)
    with pytest.raises(ValueError, match="encodes 4 channels, the weights have 3"):
        latent_weights(ae, pixels[:, :3])


def test_kl_latent_weights_are_the_area_mean_of_the_covered_pixels_on_every_channel():
    vae = debug_vae(16, (8, 8))  # one halving: a latent position covers 2 x 2 pixels
    pixels = torch.zeros(1, 3, 16, 16)
    pixels[:, :, :2, :2] = 3.0  # one latent position's pixels, all channels
    pixels[:, 0, 2:4, :2] = 3.0  # the next position's pixels, one channel of three
    w = latent_weights(vae, pixels)
    assert w.shape == (1, vae.config.latent_channels, 8, 8)
    assert torch.all(w[:, :, 0, 0] == 3.0) and torch.allclose(w[:, :, 1, 0], torch.tensor(1.0)) and float(w[:, :, 2:].abs().sum()) == 0


def test_the_weighted_loss_is_the_explicit_weighted_mean_and_plain_when_weights_are_equal():
    model = _model("image_depth", l1_weight=0.5)
    g = torch.Generator().manual_seed(1)
    pred, target = torch.randn(2, 48, 4, 4, generator=g), torch.randn(2, 48, 4, 4, generator=g)
    w = torch.rand(2, 48, 4, 4, generator=g) + 0.1
    e = pred - target
    by_hand = (w * e**2).sum() / w.sum() + 0.5 * (w * e.abs()).sum() / w.sum()
    torch.testing.assert_close(weighted_prediction_loss(pred, target, w, 0.5), by_hand)
    plain = model.prediction_loss(pred, target)  # LatentModel's: MSE + l1_weight x L1
    torch.testing.assert_close(plain, torch.nn.functional.mse_loss(pred, target) + 0.5 * torch.nn.functional.l1_loss(pred, target))
    torch.testing.assert_close(weighted_prediction_loss(pred, target, torch.full_like(w, 7.0), 0.5), plain)
    assert float(weighted_mean(torch.tensor([1.0, 5.0]), torch.tensor([3.0, 1.0]))) == pytest.approx(2.0)


def test_idol_weighs_the_person_in_its_depth_stream_only():
    batch = _batch()
    plain, weighted = _model("image_depth"), _model("image_depth", depth_person_weight=10.0)
    assert plain.depth_loss_weights(batch) is None
    no_depth = {k: v for k, v in batch.items() if k != "depth"}
    assert weighted.depth_loss_weights(no_depth) is None  # no depth stream before the joint stages (Idol.batch)
    w = weighted.depth_loss_weights(batch)
    depth = batch["depth"].flatten(0, 1)
    expected = torch.nn.functional.pixel_unshuffle(person_weights(depth, 10.0).expand(-1, 3, -1, -1), 4)
    torch.testing.assert_close(w, expected, rtol=0, atol=0)
    assert set(w.unique().tolist()) == {1.0, 10.0} and float(w[:, :, 0].max()) == 1.0  # the top rows have no depth
    # the same draw through both models: the video term is the same, the depth term differs by the weights alone
    terms = [m.loss(batch, "image_depth", torch.Generator().manual_seed(3)) for m in (plain, weighted)]
    assert float(terms[0]["video"]) == pytest.approx(float(terms[1]["video"]), rel=1e-6)
    assert float(terms[0]["depth"]) != pytest.approx(float(terms[1]["depth"]), rel=1e-3)


def test_ldm3d_weighs_its_depth_channels_and_leaves_rgb_plain():
    model = Ldm3d.create("debug_pixel", Ldm3dOptions(prediction="residual", l1_weight=1.0, depth_person_weight=5.0), resolution=SIZE, seed=0,
                         device=CPU, weight_dtype=torch.float32)  # fmt: skip
    batch = _batch()
    w = model.depth_loss_weights(batch)
    assert w.shape[1] == 64  # (RGB + one depth channel) x 4 x 4 pixels per position
    assert torch.all(w[:, :48] == 1.0)  # RGB's channels come first in the patch layout
    person = (batch["depth"].flatten(0, 1) > 0).float()
    torch.testing.assert_close(w[:, 48:], torch.nn.functional.pixel_unshuffle(1 + 4 * person[:, None], 4))
    # its loss takes the weights its target latents left: RGB plain, depth weighted
    model.target_latents(batch, batch["frames"], torch.Generator().manual_seed(0))
    torch.testing.assert_close(model._depth_loss_weights, w)
    g = torch.Generator().manual_seed(2)
    pred, target = torch.randn(w.shape, generator=g), torch.randn(w.shape, generator=g)
    e = pred - target
    by_hand = (w * e**2).sum() / w.sum() + (w * e.abs()).sum() / w.sum()  # l1_weight 1
    torch.testing.assert_close(model.prediction_loss(pred, target), by_hand)
    model._depth_loss_weights = None
    torch.testing.assert_close(model.prediction_loss(pred, target), e.square().mean() + e.abs().mean())


def test_person_weight_needs_depth_that_is_none_off_the_person():
    with pytest.raises(ValueError, match="depth_person_weight needs depth that is 'none' off the person"):
        IdolOptions(depth_source="inverse_depth", depth_person_weight=10.0)
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        IdolOptions(depth_person_weight=0.5)
    assert IdolOptions(depth_source="inverse_depth").depth_person_weight == 1.0
