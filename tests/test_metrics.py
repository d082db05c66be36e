import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from humanvid.metrics import evaluate_frames
from humanvid.metrics.image import l1, psnr, ssim


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (37, 45, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 40, a.shape), 0, 255).astype(np.uint8)
    return a, b


def test_ssim_and_psnr_match_scikit_image(pair):
    a, b = pair
    ref = structural_similarity(a, b, channel_axis=-1, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)
    assert ssim(a, b) == pytest.approx(ref, abs=1e-10)
    assert psnr(a, b) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=255), abs=1e-10)
    assert ssim(a, a) == pytest.approx(1.0)


def test_hand_computed_values():
    a = np.full((8, 8, 3), 100, np.uint8)
    b = np.full((8, 8, 3), 116, np.uint8)  # a constant difference of 16
    assert psnr(a, b) == pytest.approx(24.048, abs=1e-3)
    assert psnr(b, a) == pytest.approx(24.048, abs=1e-3)  # no uint8 wrap-around
    assert l1(a, b) == pytest.approx(16 / 255)
    assert psnr(a, a) == float("inf")


def test_evaluate_frames_shapes(pair):
    a, b = pair
    out = evaluate_frames(np.stack([a, b]), np.stack([b, b]), ["l1", "psnr"])
    assert len(out["l1"]) == 2 and out["l1"][1] == 0
    with pytest.raises(ValueError, match="differ in shape"):
        evaluate_frames(np.stack([a]), np.stack([a, a]))
