"""Cross-checks against the metrics' reference packages, on the same weights: humanvid's InceptionV3 pool3
features against pytorch-fid's FID Inception, humanvid's LPIPS against the `lpips` package (with the linear
heads its wheel ships), and the Fréchet distance against pytorch-fid's. Random weights with the released key
names and shapes (no download here); the heads are the real ones."""

import metric_weights
import numpy as np
import pytest
import torch

from humanvid.metrics.frechet import frechet_distance_of


def test_fid_inception_pool3_equals_pytorch_fid(tmp_path, monkeypatch):
    from pytorch_fid import inception as pytorch_fid_inception

    from humanvid.metrics.networks.inception import FIDInceptionV3

    state = metric_weights.fid_inception_state()
    torch.save(state, tmp_path / "fid.pth")
    ours = FIDInceptionV3.from_file(str(tmp_path / "fid.pth")).eval()
    # pytorch-fid downloads its weights inside `fid_inception_v3`: hand it the same state instead.
    monkeypatch.setattr(pytorch_fid_inception, "load_state_dict_from_url", lambda *args, **kwargs: state)
    theirs = pytorch_fid_inception.InceptionV3([pytorch_fid_inception.InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()
    x = torch.rand(3, 3, 64, 96, generator=torch.Generator().manual_seed(0))  # [0, 1], not 299²: both resize inside
    with torch.no_grad():
        a, b = ours(x), theirs(x)[0].flatten(1)
    assert a.shape == b.shape == (3, 2048)
    assert (a - b).abs().max().item() == pytest.approx(0.0, abs=1e-5)


def test_lpips_equals_the_lpips_package_with_its_own_heads(tmp_path):
    import lpips

    from humanvid import weights
    from humanvid.metrics.networks.lpips import LPIPS, SLICE_ENDS

    vgg = metric_weights.vgg16_state()
    torch.save(vgg, tmp_path / "vgg16.pth")
    heads = weights.find("lpips-vgg-v0.1")  # inside the installed wheel: no download
    assert heads is not None and heads.is_file() and "lpips" in heads.parts
    ours = LPIPS.from_files(str(tmp_path / "vgg16.pth"), str(heads)).eval()
    theirs = lpips.LPIPS(net="vgg", pretrained=True, pnet_rand=True, verbose=False).eval()
    # The package splits torchvision's `features.N` into slices at the same layers: features.N -> slice{k}.N.
    slice_of = lambda n: next(k for k, end in enumerate(SLICE_ENDS, 1) if n < end)  # noqa: E731
    mapped = {f"slice{slice_of(int(k.split('.')[1]))}.{k.split('.', 1)[1]}": v for k, v in vgg.items() if k.startswith("features.")}
    theirs.net.load_state_dict(mapped)
    g = torch.Generator().manual_seed(1)
    a, b = torch.rand(2, 3, 64, 64, generator=g) * 2 - 1, torch.rand(2, 3, 64, 64, generator=g) * 2 - 1
    with torch.no_grad():
        mine, ref = ours(a, b).flatten(), theirs(a, b).flatten()
    assert (mine - ref).abs().max().item() == pytest.approx(0.0, abs=1e-6)


def test_frechet_distance_equals_pytorch_fid():
    from pytorch_fid.fid_score import calculate_frechet_distance

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(300, 64)), rng.normal(0.3, 1.5, size=(250, 64)) @ rng.normal(size=(64, 64)) / 8
    ref = calculate_frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    assert frechet_distance_of(a, b) == pytest.approx(ref, rel=1e-9)
