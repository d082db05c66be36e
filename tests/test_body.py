"""SMPL-X: loading through the real `smplx` package from a synthetic model file (the real keys and layouts,
built by tests/smplx_synthetic.py), the fast joint path, and the real fitting on keypoints projected from
known parameters."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from smplx_synthetic import write_smplx_npz

from humanvid.body.fit import WHOLEBODY_TO_SMPLX, FitConfig, fit_smplx, project
from humanvid.body.joints import SMPLXJoints
from humanvid.body.model import BodyModelError, load_smplx

CPU = torch.device("cpu")
T, SIZE, FOCAL = 8, 512, 512.0
IDX = sorted(WHOLEBODY_TO_SMPLX)
SIDX = [WHOLEBODY_TO_SMPLX[k] for k in IDX]


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return write_smplx_npz(tmp_path_factory.mktemp("smplx") / "SMPLX_NEUTRAL.npz")


def _truth(seed: int = 0, pose_std: float = 0.1) -> dict[str, torch.Tensor]:
    """A slow, natural motion near the rest pose, facing the camera 4 m away."""
    g = torch.Generator().manual_seed(seed)
    ramp = torch.linspace(0, 1, T)[:, None]
    orient = torch.tensor([[np.pi, 0.0, 0.0]]) + torch.randn(1, 3, generator=g) * 0.03 + ramp * torch.randn(1, 3, generator=g) * 0.05
    return {"betas": torch.randn(1, 10, generator=g) * 0.3, "global_orient": orient,
            "body_pose": torch.randn(1, 63, generator=g) * pose_std + ramp * torch.randn(1, 63, generator=g) * 0.05,
            "left_hand_pose": torch.randn(1, 12, generator=g) * 0.2 + ramp * 0.1, "right_hand_pose": torch.randn(1, 12, generator=g) * 0.2 - ramp * 0.1,
            "jaw_pose": ramp * torch.tensor([[0.1, 0.0, 0.0]]), "expression": torch.randn(1, 10, generator=g) * 0.3 + ramp * 0.2,
            "transl": torch.tensor([[0.0, -0.6, 4.0]]) + ramp * torch.tensor([[0.1, 0.0, 0.05]])}  # fmt: skip


def _joints(model, truth) -> torch.Tensor:
    with torch.no_grad():
        return model(**{k: v.expand(T, -1) for k, v in truth.items()}).joints


def _keypoints(joints: torch.Tensor, noise_px: float = 0.0, seed: int = 0) -> np.ndarray:
    kp = np.zeros((T, 133, 3), np.float32)
    px = project(joints[:, SIDX], FOCAL, (SIZE / 2, SIZE / 2)).numpy()
    kp[:, IDX, :2] = px + np.random.default_rng(seed).normal(0, noise_px, px.shape) if noise_px else px
    kp[:, IDX, 2] = 1.0
    return kp


def _root_relative_error(fit_joints: np.ndarray, truth: torch.Tensor) -> float:
    a, b = fit_joints[:, SIDX], truth[:, SIDX].numpy()
    return float(np.linalg.norm((a - a[:, :1]) - (b - b[:, :1]), axis=-1).mean())


def test_the_fast_joint_path_equals_smplx(model_path):
    model = load_smplx(model_path, T, CPU, torch.float32)
    truth = _truth(1, pose_std=0.3)
    fast = SMPLXJoints(model)(**{k: v.expand(T, -1) for k, v in truth.items()})
    assert fast.shape == (T, 127, 3)
    assert torch.allclose(fast, _joints(model, truth), atol=1e-5)


def test_fitting_recovers_known_parameters(model_path):
    model = load_smplx(model_path, T, CPU, torch.float32)
    truth = _truth(2)
    joints = _joints(model, truth)
    fit = fit_smplx(_keypoints(joints), SIZE, SIZE, model, FitConfig(focal=FOCAL))
    # Stated bounds (measured: 1.6 px, 2.7 cm, 3.5 cm, 1 cm): monocular fitting cannot fix depth exactly.
    assert np.nanmean(fit.reprojection_px) < 2.5
    assert _root_relative_error(fit.joints, joints) < 0.05  # metres, every fitted keypoint's joint
    assert np.linalg.norm(fit.joints[:, SIDX] - joints[:, SIDX].numpy(), axis=-1).mean() < 0.06
    assert np.abs(fit.transl[:, :2] - truth["transl"].numpy()[..., :2]).mean() < 0.05
    assert fit.missing_frames == [] and fit.betas.shape == (10,) and fit.body_pose.shape == (T, 63)


def test_temporal_term_lowers_jitter_on_noisy_keypoints(model_path):
    model = load_smplx(model_path, T, CPU, torch.float32)
    joints = _joints(model, _truth(3))
    noisy = _keypoints(joints, noise_px=4.0, seed=3)

    def jitter(cfg: FitConfig) -> float:  # mean 3D acceleration of the fitted joints, metres / frame²
        j = fit_smplx(noisy, SIZE, SIZE, model, cfg).joints[:, SIDX]
        return float(np.linalg.norm(j[2:] - 2 * j[1:-1] + j[:-2], axis=-1).mean())

    truth_jitter = float(np.linalg.norm((joints[2:] - 2 * joints[1:-1] + joints[:-2])[:, SIDX].numpy(), axis=-1).mean())
    loose, smooth = jitter(FitConfig(focal=FOCAL, smooth=0.0)), jitter(FitConfig(focal=FOCAL))
    assert smooth < 0.5 * loose and smooth < loose - truth_jitter


def test_frames_without_keypoints_are_carried_and_reported(model_path):
    model = load_smplx(model_path, T, CPU, torch.float32)
    joints = _joints(model, _truth(4))
    kp = _keypoints(joints)
    kp[3:5, :, 2] = 0.0  # two frames where the detector saw nobody
    logs = []
    fit = fit_smplx(kp, SIZE, SIZE, model, FitConfig(focal=FOCAL), log=logs.append)
    assert fit.missing_frames == [3, 4] and any("frames had no visible keypoint" in m for m in logs)
    assert np.isfinite(fit.joints).all() and np.isnan(fit.reprojection_px[3:5]).all()
    err = np.linalg.norm(fit.joints[3:5, SIDX] - joints[3:5, SIDX].numpy(), axis=-1).mean()
    assert err < 0.15  # carried between the neighbours by the temporal term
    kp[:, :, 2] = 0.0
    with pytest.raises(ValueError, match="no frame has a visible keypoint"):
        fit_smplx(kp, SIZE, SIZE, model)


def test_the_model_is_found_through_the_weight_registry_and_never_fetched(tmp_path, model_path):
    from humanvid import weights

    with pytest.raises(weights.MissingWeightsError, match="licence-gated: register at https://smpl-x.is.tue.mpg.de"):
        load_smplx(None, 1, CPU, torch.float32)
    model = load_smplx(None, 2, CPU, torch.float32, overrides={"smplx": str(model_path.parent)})
    assert model.batch_size == 2 and model.v_template.shape == (9930, 3)


def test_model_files_that_do_not_fit_are_refused(tmp_path, model_path):
    with pytest.raises(FileNotFoundError, match="licence-gated.*smpl-x.is.tue.mpg.de"):
        load_smplx(tmp_path, 1, CPU, torch.float32)
    (tmp_path / "SMPLX_NEUTRAL.pkl").write_bytes(b"\x80\x04")
    with pytest.raises(BodyModelError, match="the .pkl SMPL-X release needs pickle"):
        load_smplx(tmp_path / "SMPLX_NEUTRAL.pkl", 1, CPU, torch.float32)
    with np.load(model_path) as data:
        arrays = {k: data[k] for k in data.files}
    bad = dict(arrays)
    bad["J_regressor_typo"] = bad.pop("J_regressor")
    np.savez(tmp_path / "SMPLX_NEUTRAL.npz", **bad)
    with pytest.raises(BodyModelError, match="missing J_regressor"):
        load_smplx(tmp_path, 1, CPU, torch.float32)
    bad = dict(arrays, weights=arrays["weights"][:, :50])
    np.savez(tmp_path / "SMPLX_NEUTRAL.npz", **bad)
    with pytest.raises(BodyModelError, match=r"weights has shape \(9930, 50\)"):
        load_smplx(tmp_path, 1, CPU, torch.float32)
    np.savez(tmp_path / "SMPLX_NEUTRAL.npz", **dict(arrays, f=np.array([object()], dtype=object)))
    with pytest.raises(BodyModelError, match="holds pickled objects"):
        load_smplx(tmp_path, 1, CPU, torch.float32)
    with pytest.raises(ValueError, match=r"keypoints must be \(T, 133, 3\)"):
        fit_smplx(np.zeros((T, 18, 3), np.float32), SIZE, SIZE, load_smplx(model_path, T, CPU, torch.float32))
