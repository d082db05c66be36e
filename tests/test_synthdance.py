import numpy as np
import pytest

from humanvid.datasets import SynthDance, read_clip_table, write_clip_table
from humanvid.datasets.synthdance import SynthDanceOptions, load_annotations, render_clip
from humanvid.datasets.synthdance.render import Camera
from humanvid.keypoints import openpose18_from_wholebody
from humanvid.video import read_video


@pytest.fixture(scope="module", params=["dance", "anchor"])
def clip(request):
    """Every ground-truth consistency check holds for both presets."""
    data = render_clip(SynthDanceOptions(width=48, height=40, num_frames=6, fps=10, preset=request.param), identity=1, clip=0)
    return data | {"preset": request.param}


def test_the_anchor_preset_frames_a_still_upper_body_that_gestures():
    from humanvid.keypoints import COCO17 as COCO_BODY
    from humanvid.keypoints import FACE_START, LHAND_START

    dance = render_clip(SynthDanceOptions(width=64, height=64, num_frames=24), identity=0, clip=0)
    anchor = render_clip(SynthDanceOptions(width=64, height=64, num_frames=24, preset="anchor"), identity=0, clip=0)
    hips, ankles = [COCO_BODY.index(n) for n in ("left_hip", "left_ankle")]
    # legs still: the hip-to-ankle distance (set by the knee's bend alone) does not change; in a dance it does
    bend = lambda c: np.ptp(np.linalg.norm(c["joints3d"][:, ankles] - c["joints3d"][:, hips], axis=-1))  # noqa: E731
    assert bend(anchor) < 1e-5 < 1e-3 < bend(dance)
    # framed close: the figure covers far more of the frame, the ankles are out of it and the face is in it
    assert (anchor["alpha"] > 0).mean() > 3 * (dance["alpha"] > 0).mean()
    assert not anchor["wholebody133"][:, ankles, 2].any()
    assert anchor["wholebody133"][:, FACE_START:LHAND_START, 2].all()  # the 68 face points
    # the arms gesture: the wrists move by several pixels
    wrist = COCO_BODY.index("left_wrist")
    assert np.ptp(anchor["wholebody133"][:, wrist, :2], axis=0).max() > 3


def test_deterministic_by_seed():
    o = SynthDanceOptions(width=32, height=32, num_frames=3)
    a, b = render_clip(o, 0, 0), render_clip(o, 0, 0)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    c = render_clip(SynthDanceOptions(width=32, height=32, num_frames=3, seed=1), 0, 0)
    assert not np.array_equal(a["rgb"], c["rgb"])


def test_shapes_and_dtypes(clip):
    t, h, w = 6, 40, 48
    assert clip["rgb"].shape == (t, h, w, 3) and clip["rgb"].dtype == np.uint8
    assert clip["depth"].shape == (t, h, w) and clip["depth"].dtype == np.float32
    assert clip["alpha"].shape == (t, h, w) and clip["iuv"].shape == (t, h, w, 3)
    assert clip["wholebody133"].shape == (t, 133, 3) and clip["openpose18"].shape == (t, 18, 3)
    assert clip["joints3d"].shape == (t, 133, 3)


def test_keypoints_project_from_3d_joints(clip):
    k = clip["camera"]
    cam = Camera(k[0, 0], k[1, 1], k[0, 2], k[1, 2], 48, 40)
    np.testing.assert_allclose(cam.project(clip["joints3d"].astype(np.float64)), clip["wholebody133"][..., :2], atol=1e-3)


def test_alpha_matches_depth_support_and_parts(clip):
    fg = clip["alpha"] == 255
    assert set(np.unique(clip["alpha"])) <= {0, 255}
    np.testing.assert_array_equal(fg, clip["depth"] > 0)
    np.testing.assert_array_equal(fg, clip["iuv"][..., 0] > 0)
    assert clip["iuv"][..., 0].max() <= 24
    assert fg.mean() > 0.05  # the person is actually in the frame
    # Depth on the person is metric and near the camera distance used by the generator (~2.9 m).
    near, far = {"dance": (2.0, 4.0), "anchor": (1.0, 1.5)}[clip["preset"]]  # the camera's distance to the person
    assert near < np.median(clip["depth"][fg]) < far


def test_visibility_means_in_frame_and_in_front(clip):
    kp = clip["wholebody133"]
    vis = kp[..., 2] > 0
    assert vis.mean() > 0.3
    inside = (kp[..., 0] >= 0) & (kp[..., 0] < 48) & (kp[..., 1] >= 0) & (kp[..., 1] < 40)
    assert not (vis & ~inside).any()


def test_openpose18_order():
    kp = np.zeros((133, 3), np.float32)
    kp[:17, 0] = np.arange(17)
    kp[:17, 2] = 1
    kp[5, 2] = 0.4  # left shoulder weaker
    op = openpose18_from_wholebody(kp)
    # nose, neck=(l_sh+r_sh)/2, r-shoulder=COCO 6, l-shoulder=COCO 5, r-eye=COCO 2, l-ear=COCO 3
    assert op[0, 0] == 0 and op[1, 0] == 5.5 and op[1, 2] == pytest.approx(0.4)
    assert op[2, 0] == 6 and op[5, 0] == 5 and op[14, 0] == 2 and op[17, 0] == 3


def test_ingest_writes_canonical_clips(tmp_path):
    plugin = SynthDance("synthdance", {"identities": 2, "clips_per_identity": 2, "num_frames": 5, "width": 32, "height": 32, "fps": 8})
    clips = plugin.ingest(tmp_path, progress=lambda m: None)
    write_clip_table(tmp_path / "clips.parquet", clips)
    table = read_clip_table(tmp_path / "clips.parquet")
    assert table == clips
    assert {c.split for c in table} == {"train", "test"}
    assert {c.identity for c in table if c.split == "test"} == {"id000", "id001"}
    train_ids = {c.clip_id for c in table if c.split == "train"}
    assert train_ids.isdisjoint({c.clip_id for c in table if c.split == "test"})
    for c in table:
        frames = read_video(tmp_path / c.source)
        assert frames.shape == (c.num_frames, c.height, c.width, 3)
        gt = load_annotations(tmp_path, c.clip_id)
        # The lossy mp4 stays close to the rendered frames it encodes.
        rendered = render_clip(plugin.options, int(c.identity[2:]), int(c.clip_id[-3:]))["rgb"]
        assert np.abs(frames.astype(int) - rendered).mean() < 3
        assert gt["depth"].shape == (c.num_frames, 32, 32)


def test_surface_normals_are_unit_and_face_the_camera_on_the_person(clip):
    fg = clip["alpha"] == 255
    assert clip["normals"].shape == clip["rgb"].shape and clip["normals"].dtype == np.uint8
    assert not clip["normals"][~fg].any()  # background black, as the SMPL-X renderer draws it
    n = clip["normals"][fg].astype(np.float64) / 127.5 - 1  # x right, y up, z towards the viewer
    np.testing.assert_allclose(np.linalg.norm(n, axis=-1), 1.0, atol=0.02)
    k = clip["camera"]  # a visible surface faces the ray that sees it: n · ray <= 0 in camera coordinates
    ys, xs = np.nonzero(fg[0])
    ray = np.stack([(xs + 0.5 - k[0, 2]) / k[0, 0], -(ys + 0.5 - k[1, 2]) / k[1, 1], np.ones(len(xs))], -1)
    n0 = clip["normals"][0][ys, xs].astype(np.float64) / 127.5 - 1
    assert (np.einsum("ij,ij->i", n0 * np.array([1.0, 1.0, -1.0]), ray) < 0.03).all()
    assert n[:, 0].min() < -0.5 < 0.5 < n[:, 0].max()  # round limbs: normals turn left and right
    # The brightest (sunlit) pixels are those whose normal points towards the light.
    from humanvid.datasets.synthdance.render import LIGHT

    lit = n @ (LIGHT * np.array([1.0, 1.0, -1.0]))
    grey = clip["rgb"][fg].astype(np.float64).mean(-1)
    assert np.corrcoef(lit.clip(0, None), grey)[0, 1] > 0.2


def test_one_room_per_identity_when_asked():
    opts = dict(width=32, height=32, num_frames=2, preset="anchor")
    per_clip = [render_clip(SynthDanceOptions(**opts), 0, c) for c in (0, 1)]
    studio = [render_clip(SynthDanceOptions(**opts, background="identity"), 0, c) for c in (0, 1)]
    bg = lambda clip: clip["rgb"][0][clip["alpha"][0] == 0]  # noqa: E731
    both = (per_clip[0]["alpha"][0] == 0) & (per_clip[1]["alpha"][0] == 0) & (studio[0]["alpha"][0] == 0) & (studio[1]["alpha"][0] == 0)
    assert np.array_equal(studio[0]["rgb"][0][both], studio[1]["rgb"][0][both])  # the same room behind the person
    assert not np.array_equal(per_clip[0]["rgb"][0][both], per_clip[1]["rgb"][0][both])
    assert bg(studio[0]).size and render_clip(SynthDanceOptions(**opts, background="identity"), 1, 0)["rgb"][0].tolist() != studio[0]["rgb"][0].tolist()


def test_face_landmarks_keep_ibug_sides(clip):
    """iBUG numbering: the jaw runs from the person's right (0) to their left (16), as the right brow (17) and right eye
    (36–41) are the person's right. Whichever way the head turns, each of those lies on the same image side as COCO's
    right eye (point 2) against the left eye (point 1)."""
    from humanvid.keypoints import FACE_START

    kp = clip["wholebody133"]
    face = kp[:, FACE_START : FACE_START + 68]
    visible = (face[:, :, 2] > 0).all(1) & (kp[:, 1, 2] > 0) & (kp[:, 2, 2] > 0)
    assert visible.any()
    eyes = np.sign(kp[visible, 2, 0] - kp[visible, 1, 0])
    for right, left in ((face[:, 0, 0], face[:, 16, 0]), (face[:, 17, 0], face[:, 26, 0]),
                        (face[:, 36:42, 0].mean(1), face[:, 42:48, 0].mean(1)), (face[:, 48, 0], face[:, 54, 0])):  # fmt: skip
        np.testing.assert_array_equal(np.sign(right[visible] - left[visible]), eyes)
