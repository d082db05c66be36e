"""The metric networks load their public weight files key for key, and the feature pipelines give the
documented shapes and ranges."""

import metric_weights
import numpy as np
import pytest
import torch

from humanvid.metrics import features
from humanvid.metrics.networks import load_exact
from humanvid.metrics.networks.i3d import InceptionI3d, TorchScriptI3d
from humanvid.metrics.networks.inception import FIDInceptionV3
from humanvid.metrics.networks.lpips import LPIPS
from humanvid.metrics.networks.resnet3d import ResNet3d50


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return metric_weights.write_all(tmp_path_factory.mktemp("metric-weights"))


def _frames(t, h=48, w=40, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (t, h, w, 3), dtype=np.uint8)


def test_fid_inception_loads_the_public_layout(files):
    model = FIDInceptionV3.from_file(str(files["fid-inception"]))
    own = {k for k in model.state_dict() if not k.endswith("num_batches_tracked")}
    assert own == set(metric_weights.fid_inception_state())  # no missing, no unexpected keys
    x = features.fid_inputs(_frames(3), "pytorch-fid")
    assert x.shape == (3, 3, 48, 40) and 0.0 <= x.min() and x.max() <= 1.0
    with torch.no_grad():
        feats = model(x)
    assert feats.shape == (3, 2048) and torch.isfinite(feats).all() and (feats >= 0).all()  # pooled ReLU outputs
    disco_in = features.fid_inputs(_frames(2), "clean")
    assert disco_in.shape == (2, 3, 299, 299) and 0.0 <= disco_in.min() and disco_in.max() <= 1.0


def test_r3d50_loads_the_released_checkpoint(files):
    model = ResNet3d50.from_file(str(files["r3d50-kinetics"]))
    assert {k for k in model.state_dict()} == {k.removeprefix("module.") for k in metric_weights.r3d50_checkpoint()["state_dict"]}
    clips = features.fid_vid_clips(_frames(20), "video-mean")
    assert clips.shape == (2, 3, 16, 112, 112)  # 20 frames -> 2 clips, the last padded with the final frame
    assert torch.equal(clips[1, :, 4:], clips[1, :, 3:4].expand(-1, 12, -1, -1))
    assert features.fid_vid_clips(_frames(20), "clips").shape == (1, 3, 16, 112, 112)  # complete clips only
    assert clips.min() >= -120 and clips.max() <= 160  # 0..255 minus the Kinetics mean
    with torch.no_grad():
        assert model(clips).shape == (2, 2048)


def test_i3d_port_and_torchscript_take_the_same_clips(files):
    port = InceptionI3d.from_file(str(files["i3d-kinetics400"]))
    assert {k for k in port.state_dict()} == set(metric_weights.i3d_state())
    disco_batches = list(features.fvd_clips(_frames(18, 64, 80), "disco", batch=2))
    assert [b.shape[0] for b in disco_batches] == [2, 1]  # 3 windows at stride 1
    assert disco_batches[0].shape[1:] == (3, 16, 224, 224) and disco_batches[0].abs().max() <= 1.0
    assert torch.allclose(disco_batches[0][1, :, :15], disco_batches[0][0, :, 1:])  # windows overlap by 15
    (styleganv,) = features.fvd_clips(_frames(18, 64, 80), "styleganv")
    assert styleganv.shape == (1, 3, 16, 224, 224) and styleganv.abs().max() <= 1.0
    assert list(features.fvd_clips(_frames(10), "disco")) == []  # shorter than a clip: no sample
    with torch.no_grad():
        assert port(styleganv).shape == (1, 400)
        scripted = TorchScriptI3d.from_file(str(files["i3d-torchscript-styleganv"]))
        assert scripted(styleganv).shape == (1, 400)


def test_lpips_loads_vgg16_and_heads_and_behaves_like_a_distance(files):
    model = LPIPS.from_files(str(files["vgg16-imagenet"]), str(files["lpips-vgg-v0.1"]))
    a = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        same = model(a, a)
        diff = model(a, a.flip(0))
    assert same.shape == (2,) and torch.allclose(same, torch.zeros(2))
    assert (diff > 0).all()


def test_weight_files_that_do_not_match_are_refused_with_the_key_named(files, tmp_path):
    state = metric_weights.i3d_state()
    state["Mixed_4b.b1b.conv3d.weightz"] = state.pop("Mixed_4b.b1b.conv3d.weight")
    path = tmp_path / "i3d_pretrained_400.pt"
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"i3d_pretrained_400\.pt.*1 missing \(Mixed_4b\.b1b\.conv3d\.weight\).*1 unexpected"):
        InceptionI3d.from_file(str(path))
    with pytest.raises(ValueError, match="mis-shaped"):
        load_exact(torch.nn.Linear(3, 2), {"weight": torch.zeros(2, 4), "bias": torch.zeros(2)}, "x.pt")
    bad = tmp_path / "not-scripted.pt"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a TorchScript archive"):
        TorchScriptI3d.from_file(str(bad))
