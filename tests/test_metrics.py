import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from humanvid.metrics import PROTOCOLS, disco
from humanvid.metrics.depth import align_scale_shift, depth_errors, depth_to_rgb, rgb_to_depth
from humanvid.metrics.evaluate import evaluate_frames
from humanvid.metrics.frechet import frechet_distance, frechet_distance_of
from humanvid.metrics.image import l1, psnr, ssim
from humanvid.metrics.landmarks import landmark_distances


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (37, 45, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 40, a.shape), 0, 255).astype(np.uint8)
    return a, b


def _constant(diff: int, size: int = 8) -> tuple[np.ndarray, np.ndarray]:
    return np.full((size, size, 3), 100, np.uint8), np.full((size, size, 3), 100 + diff, np.uint8)


def test_ssim_and_psnr_match_scikit_image(pair):
    a, b = pair
    ref = structural_similarity(a, b, channel_axis=-1, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)
    assert ssim(a, b) == pytest.approx(ref, abs=1e-10)
    assert psnr(a, b) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=255), abs=1e-10)
    assert ssim(a, a) == pytest.approx(1.0)


def test_disco_ssim_is_scikit_image_defaults_on_grayscale(pair):
    import cv2

    a, b = pair
    ga, gb = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), cv2.cvtColor(b, cv2.COLOR_RGB2GRAY)
    assert disco.ssim(a, b) == pytest.approx(structural_similarity(ga, gb), abs=1e-10)


def test_psnr_standard_wrapped_and_fixed_on_known_pairs():
    """DisCo's PSNR before its 2024-04-10 fix wraps the uint8 squared error; the fixed one is the standard value
    except for identical frames (100 instead of +inf)."""
    a, b = _constant(16)
    assert psnr(a, b) == pytest.approx(24.048, abs=1e-3) and psnr(b, a) == pytest.approx(24.048, abs=1e-3)
    assert disco.psnr_wrapped(a, b) == 100.0  # 16² = 256 wraps to 0 in uint8: DisCo's "identical images" branch
    assert disco.psnr_fixed(a, b) == pytest.approx(24.048, abs=1e-3)
    a, b = _constant(20)
    assert psnr(a, b) == pytest.approx(22.110, abs=1e-3) and disco.psnr_fixed(b, a) == pytest.approx(22.110, abs=1e-3)
    assert disco.psnr_wrapped(a, b) == pytest.approx(26.547, abs=1e-3)  # 400 mod 256 = 144
    assert disco.psnr_wrapped(b, a) == pytest.approx(26.547, abs=1e-3)  # (-20)² mod 256 is 144 too
    assert psnr(a, a) == float("inf") and disco.psnr_wrapped(a, a) == 100.0 and disco.psnr_fixed(a, a) == 100.0
    # The protocols pick them: same pair, three answers.
    values = {name: evaluate_frames(a[None], b[None], ["psnr"], name)["psnr"][0] for name in PROTOCOLS}
    assert values == {"corrected": pytest.approx(22.110, abs=1e-3), "disco": pytest.approx(26.547, abs=1e-3),
                      "disco@2024-04": pytest.approx(22.110, abs=1e-3), "openpose-lmd": pytest.approx(22.110, abs=1e-3)}  # fmt: skip


def test_l1_analytic_vectors_in_both_protocols():
    a, b = _constant(1, size=256)
    assert disco.l1(a, b) == pytest.approx(1.526e-05, rel=1e-3)  # 1 / (256·256)
    a, b = _constant(16)
    assert l1(a, b) == pytest.approx(16 / 255)


def test_disco_resizes_a_generated_frame_of_another_size():
    big = np.full((16, 16, 3), 90, np.uint8)
    gt = np.full((8, 8, 3), 90, np.uint8)
    assert disco.l1(big, gt) == 0.0 and disco.psnr_wrapped(big, gt) == 100.0 and disco.psnr_fixed(big, gt) == 100.0


def test_evaluate_frames_shapes_and_protocols(pair):
    a, b = pair
    out = evaluate_frames(np.stack([a, b]), np.stack([b, b]), ["l1", "psnr"])
    assert len(out["l1"]) == 2 and out["l1"][1] == 0
    out_disco = evaluate_frames(np.stack([a, b]), np.stack([b, b]), ["l1", "psnr", "ssim"], "disco")
    assert out_disco["psnr"][1] == 100.0 and out_disco["l1"][0] == pytest.approx(disco.l1(a, b))
    with pytest.raises(ValueError, match="differ in shape"):
        evaluate_frames(np.stack([a]), np.stack([a, a]), ["l1"])


def test_temporal_l1_by_hand():
    """tL1 on a 3-frame grey clip: the truth brightens by 10 then 20 levels, the generation by 10 then 0 (it froze)."""
    truth = np.stack([np.full((2, 2, 3), v, np.uint8) for v in (100, 110, 130)])
    frozen = np.stack([np.full((2, 2, 3), v, np.uint8) for v in (100, 110, 110)])
    values = evaluate_frames(frozen, truth, ["tl1", "l1"])["tl1"]
    assert np.isnan(values[0]) and values[1] == 0 and values[2] == pytest.approx(20 / 255)
    assert evaluate_frames(truth, truth, ["tl1"], "disco")["tl1"][1:] == [0.0, 0.0]  # the same in every protocol
    flicker = truth.copy()
    flicker[1] += 5  # one frame off by 5 levels: its change in and its change out both count
    assert evaluate_frames(flicker, truth, ["tl1"])["tl1"][1:] == [pytest.approx(5 / 255), pytest.approx(5 / 255)]


def test_frechet_distance_analytic():
    d = 2048
    eye = np.eye(d)
    # Equal covariances: the distance is the squared mean difference.
    assert frechet_distance(np.zeros(d), eye, np.ones(d), eye) == pytest.approx(2048.0, rel=1e-9)
    # Diagonal covariances: Σ (σ1 − σ2)² on the diagonal of the matrix square roots.
    s1, s2 = np.diag([1.0, 4.0]), np.diag([4.0, 9.0])
    assert frechet_distance(np.zeros(2), s1, np.zeros(2), s2) == pytest.approx((1 - 2) ** 2 + (2 - 3) ** 2)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 8))
    assert frechet_distance_of(x, x) == pytest.approx(0.0, abs=1e-8)
    assert frechet_distance_of(x, x + 3.0) == pytest.approx(8 * 9.0, rel=1e-6)
    with pytest.raises(ValueError, match="at least 2"):
        frechet_distance_of(x[:1], x[:1])


def test_depth_alignment_recovers_scale_and_shift_exactly():
    rng = np.random.default_rng(1)
    target = rng.uniform(1.0, 3.0, (24, 20))
    mask = np.zeros_like(target, bool)
    mask[4:20, 5:15] = True
    pred = (target - 0.7) / 2.5  # relative depth: target = 2.5 · pred + 0.7
    pred[~mask] = 99.0  # outside the mask: ignored
    s, t = align_scale_shift(pred, target, mask)
    assert (s, t) == (pytest.approx(2.5, abs=1e-12), pytest.approx(0.7, abs=1e-12))
    errs = depth_errors(pred, target, mask)
    assert errs["depth_l2"] == pytest.approx(0.0, abs=1e-20) and errs["depth_absrel"] == pytest.approx(0.0, abs=1e-12)
    assert errs["depth_delta1"] == 1.0
    noisy = depth_errors(pred + rng.normal(0, 0.05, pred.shape), target, mask)
    assert noisy["depth_l2"] > 0 and noisy["depth_absrel"] > 0


def test_depth_colour_map_round_trip_bound():
    d = np.linspace(0.0, 1.0, 20001).reshape(1, -1)
    rgb = depth_to_rgb(d)
    assert rgb.dtype == np.uint8 and rgb.shape == (1, 20001, 3)
    assert np.abs(rgb_to_depth(rgb) - d).max() <= 1 / (2 * 4 * 255) + 1e-12  # half a uint8 step per segment
    assert tuple(depth_to_rgb(np.array([[0.0]]))[0, 0]) == (0, 0, 255) and tuple(depth_to_rgb(np.array([[1.0]]))[0, 0]) == (255, 0, 0)


def test_landmark_mean_distance_counts_only_confident_pairs():
    t = np.zeros((2, 133, 3), np.float32)
    t[..., 2] = 0.9
    p = t.copy()
    p[:, :23, 0] += 3.0  # body shifted 3 px
    p[:, 23:91, 1] += 4.0  # face shifted 4 px
    p[0, 91:, 2] = 0.1  # hands lost in frame 0
    p[1, 91:, :2] += np.array([6.0, 8.0])  # and 10 px off in frame 1
    out = landmark_distances(p, t, threshold=0.3)
    assert out["lmd_body"] == pytest.approx(3.0) and out["lmd_face"] == pytest.approx(4.0)
    assert out["lmd_hand"] == pytest.approx(10.0)  # only frame 1's hands count
    assert out["lmd_missing"] == pytest.approx(42 / (2 * 133))
    t[..., 2] = 0.0
    assert np.isnan(landmark_distances(p, t)["lmd_body"])


def test_fast_frechet_forms_equal_the_sqrtm_definition():
    from scipy import linalg

    def by_sqrtm(a, b):
        mu1, mu2 = a.mean(0), b.mean(0)
        s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
        root = linalg.sqrtm(s1 @ s2)
        return float((mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(root).real)

    rng = np.random.default_rng(3)
    mix = rng.normal(size=(16, 16))
    for n, m in [(300, 200), (9, 7)]:  # more samples than dimensions (eigh form), fewer (nuclear-norm form)
        a = rng.normal(size=(n, 16)) @ mix
        b = rng.normal(size=(m, 16)) @ mix * 1.3 + 0.5
        assert frechet_distance_of(a, b) == pytest.approx(by_sqrtm(a, b), rel=1e-6, abs=1e-6)
