"""SMPL-X as a condition: the `smplx` estimator (fit + render per clip, or the parameters a dataset ships),
its shard columns, the estimate stage feeding it DWPose keypoints, and Make-Your-Anchor's perturbation in
the loader — on a synthetic SMPL-X file with the real keys and layouts (tests/smplx_synthetic.py)."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
import yaml
from smplx_synthetic import write_smplx_npz
from test_body import FOCAL, IDX, SIDX, SIZE, T, _joints, _truth

from humanvid.body.fit import project
from humanvid.body.model import load_smplx
from humanvid.body.params import LAYOUT, pack, pose_vertices, unpack
from humanvid.body.params import SIZE as VECTOR_SIZE
from humanvid.body.perturb import PERTURBATIONS, MeshPerturbation
from humanvid.config import ConfigError
from humanvid.datasets import Clip
from humanvid.estimators import CONDITION_LAYOUTS, check_conditions
from humanvid.estimators.smplx import SMPLXMesh
from humanvid.recipes import MakeYourAnchor
from humanvid.registry import RegistryError
from humanvid.shards import ShardReader
from humanvid.shards.loader import ShardSamples
from humanvid.shards.schema import ARRAY_CONDITIONS, CONDITION_FIELDS
from humanvid.validate import load_config

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return write_smplx_npz(tmp_path_factory.mktemp("smplx") / "SMPLX_NEUTRAL.npz")


def _clip(clip_id="c0", frames=T) -> Clip:
    return Clip("talkshow", clip_id, "oliver", "train", 30.0, frames, SIZE, SIZE, f"clips/{clip_id}.mp4")


def _keypoints(model, truth) -> np.ndarray:
    kp = np.zeros((T, 133, 3), np.float32)
    kp[:, IDX, :2] = project(_joints(model, truth)[:, SIDX], FOCAL, (SIZE / 2, SIZE / 2)).numpy()
    kp[:, IDX, 2] = 1.0
    return kp


def test_the_parameter_vector_has_one_layout_everywhere():
    assert VECTOR_SIZE == 119 == sum(n for _, n in LAYOUT)
    assert CONDITION_LAYOUTS["smplx"] == ("float32", f"T,{VECTOR_SIZE}") and ARRAY_CONDITIONS["smplx"] == (VECTOR_SIZE,)
    assert CONDITION_FIELDS["smplx"].type.value_type.list_size == VECTOR_SIZE
    rng = np.random.default_rng(0)
    params = {name: rng.normal(size=(1 if name == "betas" else T, n)).astype(np.float32) for name, n in LAYOUT if name not in ("focal", "center")}
    back = unpack(pack(params, T, 500.0, (256.0, 200.0)))
    for name, value in params.items():
        np.testing.assert_array_equal(back[name], np.repeat(value, T, 0) if name == "betas" else value)
    assert (back["focal"] == 500.0).all() and (back["center"] == [256.0, 200.0]).all()
    with pytest.raises(ValueError, match="'body_pose': expected 8 frames × 63"):
        pack({**params, "body_pose": params["body_pose"][:3]}, T, 500.0, (0, 0))


def test_the_estimator_fits_renders_and_its_mesh_reprojects_onto_the_keypoints(tmp_path, model_path):
    model = load_smplx(model_path, T, CPU, torch.float32)
    truth = _truth(seed=1)
    est = SMPLXMesh(CPU, torch.float32, tmp_path, overrides={"smplx": str(model_path)})
    frames = np.zeros((T, SIZE, SIZE, 3), np.uint8)
    out = est(frames, _clip(), inputs={"wholebody133": _keypoints(model, truth)})
    check_conditions(out, frames, "smplx")
    params = unpack(out["smplx"])
    assert (params["focal"] == FOCAL).all() and (params["center"] == SIZE / 2).all()
    # The stored vector poses a mesh whose joints land on the keypoints; the rendered image covers them.
    with torch.no_grad():
        joints = model(**{k: torch.from_numpy(params[k][:1] if k == "betas" else params[k]).expand(T, -1) for k in
                          ("betas", "global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose", "expression", "transl")}).joints  # fmt: skip
    px = project(joints[:, SIDX], FOCAL, (SIZE / 2, SIZE / 2)).numpy()
    assert np.abs(px - _keypoints(model, truth)[:, IDX, :2]).mean() < 2.5
    body = np.round(px[:, :17]).astype(int).clip(0, SIZE - 1)  # body keypoints: on the mesh's silhouette
    covered = np.mean([(out["mesh_normals"][t, y - 3 : y + 4, x - 3 : x + 4].max(axis=(0, 1)) > 0).any() for t in range(T) for x, y in body[t]])
    assert covered > 0.9
    # Surfaces face the camera: blue (z towards the viewer) ≥ 127 wherever the (sparse, synthetic) mesh is.
    fg = out["mesh_normals"].any(-1)
    blue = out["mesh_normals"][..., 2][fg]
    assert fg.mean() > 0.001 and (blue >= 127).mean() > 0.99


def test_shipped_parameters_are_kept_and_only_the_camera_is_solved(tmp_path, model_path):
    model = load_smplx(model_path, T, CPU, torch.float32)
    truth = _truth(seed=2)
    (tmp_path / "annotations").mkdir()
    rng = np.random.default_rng(0)
    # A SHOW-like file: more shape and expression components than the model uses (leading ones kept).
    shipped = {"betas": np.concatenate([truth["betas"].numpy(), rng.normal(size=(1, 290))], 1),
               "body_pose_axis": truth["body_pose"].expand(T, -1).numpy(),
               "left_hand_pose": truth["left_hand_pose"].expand(T, -1).numpy(), "right_hand_pose": truth["right_hand_pose"].expand(T, -1).numpy(),
               "jaw_pose": truth["jaw_pose"].expand(T, -1).numpy(),
               "expression": np.concatenate([truth["expression"].expand(T, -1).numpy(), rng.normal(size=(T, 40))], 1),
               "focal_length": np.array(5000.0), "camera_transl": np.zeros(3)}  # fmt: skip
    np.savez(tmp_path / "annotations" / "c0.npz", **{k: np.asarray(v, np.float32) for k, v in shipped.items()})
    est = SMPLXMesh(CPU, torch.float32, tmp_path, overrides={"smplx": str(model_path)})
    out = est(np.zeros((T, SIZE, SIZE, 3), np.uint8), _clip(), inputs={"wholebody133": _keypoints(model, truth)})
    params = unpack(out["smplx"])
    np.testing.assert_allclose(params["body_pose"], shipped["body_pose_axis"], atol=1e-6)
    np.testing.assert_allclose(params["betas"], np.repeat(shipped["betas"][:, :10], T, 0), atol=1e-6)
    np.testing.assert_allclose(params["expression"], shipped["expression"][:, :10], atol=1e-6)
    # With the pose known, the solved camera puts the body where the truth is (translation within 5 cm).
    np.testing.assert_allclose(params["transl"], truth["transl"].expand(T, -1).numpy(), atol=0.05)

    np.savez(tmp_path / "annotations" / "c0.npz", **{**shipped, "body_pose_axis": shipped["body_pose_axis"][:5]})
    with pytest.raises(ValueError, match="clip c0: c0.npz: 'body_pose_axis' holds 5 frames, the clip 8"):
        est(np.zeros((T, SIZE, SIZE, 3), np.uint8), _clip(), inputs={"wholebody133": _keypoints(model, truth)})


def test_the_estimator_says_what_it_needs(tmp_path, model_path):
    est = SMPLXMesh(CPU, torch.float32, tmp_path, overrides={"smplx": str(model_path)})
    with pytest.raises(ValueError, match="clip c0: smplx needs the clip's wholebody133 keypoints"):
        est(np.zeros((T, SIZE, SIZE, 3), np.uint8), _clip())
    with pytest.raises(ValueError, match="do not match the clip's 8 frames"):
        est(np.zeros((T, SIZE, SIZE, 3), np.uint8), _clip(), inputs={"wholebody133": np.zeros((3, 133, 3), np.float32)})


def test_perturbation_moves_the_pose_keeps_shape_and_camera_and_is_seeded(model_path):
    model = load_smplx(model_path, 2, CPU, torch.float32)
    truth = {k: v[:1].expand(2, -1).numpy() for k, v in _truth(seed=3).items()}
    vectors = pack(truth, 2, FOCAL, (SIZE / 2, SIZE / 2))
    perturb = MeshPerturbation("pose_noise", model_path)
    a_vec, a_img = perturb(vectors, SIZE, SIZE, seed=7)
    b_vec, b_img = perturb(vectors, SIZE, SIZE, seed=7)
    c_vec, _ = perturb(vectors, SIZE, SIZE, seed=8)
    np.testing.assert_array_equal(a_vec, b_vec)
    np.testing.assert_array_equal(a_img, b_img)
    assert not np.array_equal(a_vec, c_vec)
    before, after = unpack(vectors), unpack(a_vec)
    for key in ("betas", "global_orient", "expression", "transl", "focal", "center"):
        np.testing.assert_array_equal(after[key], before[key])
    delta = after["body_pose"] - before["body_pose"]
    assert 0.03 < delta.std() < 0.07  # σ 0.05 rad
    # The image is the perturbed mesh rendered again: close to, but not the same as, the original's.
    from humanvid.body.render import render_normals

    original = render_normals(pose_vertices(model, before)[0], model.faces_tensor, FOCAL, SIZE, SIZE)["normals"]
    m0, m1 = original.any(-1), a_img[0].any(-1)
    near = torch.nn.functional.max_pool2d(torch.from_numpy(m0).float()[None, None], 41, 1, 20)[0, 0].numpy() > 0  # within 20 px ≈ 16 cm
    assert not np.array_equal(original, a_img[0]) and near[m1].mean() > 0.9
    with pytest.raises(RegistryError, match="pose_noise"):
        MeshPerturbation("shake", model_path)
    assert "pose_noise" in PERTURBATIONS


def test_smplx_stage_feeds_on_dwpose_keypoints_and_mesh_conditions_reach_the_loader(workspace, tiny_params, model_path):
    from tasks import download, estimate, shard

    tiny_params["estimators"]["synthdance"] = ["groundtruth", "smplx"]
    tiny_params["weights"] = {"overrides": {"smplx": str(model_path)}}
    (workspace / "params.yaml").write_text(yaml.safe_dump(tiny_params))
    ws = ["--workspace", str(workspace)]
    download.main(["synthdance", *ws])
    from humanvid.datasets.synthdance.generate import annotation_path

    annotation_path(workspace / "data/raw/synthdance", "id000_clip001").unlink()  # groundtruth fails there: no keypoints for smplx
    estimate.main(["synthdance", *ws])
    status = {r["clip_id"]: r for r in pq.read_table(workspace / "data/conditions/synthdance/smplx/status.parquet").to_pylist()}
    assert "needs wholebody133 from groundtruth, which failed on this clip" in status["id000_clip001"]["error"]
    assert sum(r["status"] == "ok" for r in status.values()) == len(status) - 1
    shard.main(["synthdance", *ws])

    reader = ShardReader(workspace / "data/shards/synthdance")
    assert {"smplx", "mesh_normals"} <= set(reader.conditions)
    assert reader.conditions["smplx"]["estimator"] == "smplx"
    cid = reader.clip_ids("train")[0]
    clip = reader.read_clip(cid, ("smplx", "mesh_normals"))
    assert clip["smplx"].shape == (12, VECTOR_SIZE) and clip["mesh_normals"].shape == (12, 32, 32, 3)
    assert clip["mesh_normals"].any()

    # Make-Your-Anchor with perturbation: the sample's mesh image is rendered from perturbed parameters.
    cfg = MakeYourAnchor(perturb="pose_noise")
    with pytest.raises(ValueError, match="pass perturbation=MeshPerturbation"):
        ShardSamples(reader, cfg, 32, conditions=("smplx", "mesh_normals"))
    perturbation = MeshPerturbation("pose_noise", model_path)
    plain = ShardSamples(reader, MakeYourAnchor(), 32, conditions=("smplx", "mesh_normals"), seed=0)
    noisy = ShardSamples(reader, cfg, 32, conditions=("smplx", "mesh_normals"), seed=0, perturbation=perturbation)
    a = next(iter(noisy))
    noisy.set_epoch(0)  # the same first sample again
    b = next(iter(noisy))
    assert torch.equal(a["mesh_normals"], b["mesh_normals"])  # seeded
    target = int(a["targets"][0])
    stored = reader.read_clip(a["clip_id"], ("smplx",))["smplx"][target]
    moved = unpack(a["smplx"].numpy())["body_pose"][0] - unpack(stored[None])["body_pose"][0]
    assert 0.0 < np.abs(moved).mean() < 0.2
    assert next(iter(plain))["smplx"].shape == (1, VECTOR_SIZE)
    # The recipe's own stream builds the perturbation from the weight overrides; the `smplx` control images a
    # training batch carries are the perturbed meshes.
    from humanvid.controls import control_images
    from humanvid.models.method import channels_last

    stream = cfg.stream(reader, resolution=32, split="train", seed=0, stream_seed=0, conditions=("mesh_normals",),
                        overrides={"smplx": str(model_path)})  # fmt: skip
    batch = next(stream.batches(1))
    assert torch.equal(batch["mesh_normals"][0], a["mesh_normals"])
    control = control_images("smplx", {"mesh_normals": channels_last(batch["mesh_normals"][0])}, 32, 32, 32)
    assert control.shape == (1, 3, 32, 32) and torch.equal(control, a["mesh_normals"].float() / 255)
    with pytest.raises(ValueError, match="SMPL-X parameters cannot be flipped"):
        ShardSamples(reader, MakeYourAnchor(flip_p=0.5), 32, conditions=("smplx",))
    # A flipped sample's normal map is the mirror image with x negated (255 - R) on the body, black around it.
    flipped = next(iter(ShardSamples(reader, MakeYourAnchor(flip_p=1.0), 32, conditions=("mesh_normals",), seed=0)))
    stored = reader.read_clip(flipped["clip_id"], ("mesh_normals",))["mesh_normals"][int(flipped["targets"][0])][:, ::-1]
    expected = stored.copy()
    expected[..., 0] = np.where(stored[..., 2] > 0, 255 - stored[..., 0], 0)
    assert stored.any() and np.array_equal(flipped["mesh_normals"][0].permute(1, 2, 0).numpy(), expected)


def test_config_refuses_smplx_without_keypoints_and_unknown_perturbations(tmp_path, tiny_params):
    tiny_params["estimators"]["synthdance"] = ["smplx"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(tiny_params))
    with pytest.raises(ConfigError, match=r"estimators.synthdance\[0\]: estimator 'smplx' needs 'wholebody133'"):
        load_config(tmp_path / "params.yaml")
    tiny_params["estimators"]["synthdance"] = ["groundtruth"]
    tiny_params["models"]["tiny"]["stages"]["pretrain"]["recipe"] = {"kind": "make_your_anchor", "perturb": "shake"}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(tiny_params))
    with pytest.raises(ConfigError, match="models.tiny.stages.pretrain.recipe.perturb: unknown SMPL-X perturbation 'shake'; known: pose_noise"):
        load_config(tmp_path / "params.yaml")
