"""A procedural articulated body: skeleton, dance-like motion, and its keypoints in 3D.

World/camera coordinates: the camera sits at the origin looking down +Z; X points to the image's right,
Y up. A person facing the camera looks towards -Z, so their left side is at +X.

Keypoint orders are those of `humanvid.keypoints`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from humanvid.keypoints import FACE_START, LHAND_START, NUM_WHOLEBODY, RHAND_START


def rot_x(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def rot_y(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def rot_z(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


DOWN = np.array([0.0, -1.0, 0.0])
FORWARD = np.array([0.0, 0.0, -1.0])


def _face_template() -> np.ndarray:
    """68 iBUG landmarks as (u, v) in [-1, 1]^2 on the face (u to the person's left, v up)."""
    pts: list[tuple[float, float]] = []
    # Jaw 0-16: from the right ear (image left) round the chin to the left ear. Person's right is -u.
    for a in np.linspace(np.pi * 0.95, np.pi * 0.05, 17):
        pts.append((np.cos(a) * 0.85, -0.05 - np.sin(a) * 0.8))
    # Eyebrows 17-21 (right), 22-26 (left).
    for side in (-1, 1):
        xs = np.linspace(0.65, 0.15, 5) if side < 0 else np.linspace(0.15, 0.65, 5)
        for x in xs:
            pts.append((side * x, 0.45 + 0.08 * np.sin(np.pi * (x - 0.15) / 0.5)))
    # Nose bridge 27-30, nose bottom 31-35.
    for v in np.linspace(0.3, -0.05, 4):
        pts.append((0.0, v))
    for u in np.linspace(-0.18, 0.18, 5):
        pts.append((u, -0.15 + 0.05 * abs(u) / 0.18))
    # Eyes 36-41 (right), 42-47 (left): six points round each.
    for cx in (-0.38, 0.38):
        for a in np.linspace(np.pi, -np.pi, 7)[:-1]:
            pts.append((cx + 0.16 * np.cos(a), 0.25 + 0.06 * np.sin(a)))
    # Mouth outer 48-59, inner 60-67.
    for a in np.linspace(np.pi, -np.pi, 13)[:-1]:
        pts.append((0.35 * np.cos(a), -0.45 + 0.12 * np.sin(a)))
    for a in np.linspace(np.pi, -np.pi, 9)[:-1]:
        pts.append((0.22 * np.cos(a), -0.45 + 0.05 * np.sin(a)))
    out = np.array(pts)
    assert out.shape == (68, 2)
    return out


FACE_TEMPLATE = _face_template()


def _keypoint_parts() -> list[frozenset[str]]:
    """For each of the 133 keypoints, the body parts whose surface cannot hide it (a joint centre lies
    inside them). Head keypoints (eyes, ears, nose, face) lie on the head's surface: none, so the back of a
    turned-away head hides the face."""
    body = {
        0: (), 1: (), 2: (), 3: (), 4: (),
        5: ("torso", "upper_arm_left"), 6: ("torso", "upper_arm_right"),
        7: ("upper_arm_left", "lower_arm_left"), 8: ("upper_arm_right", "lower_arm_right"),
        9: ("lower_arm_left", "hand_left"), 10: ("lower_arm_right", "hand_right"),
        11: ("torso", "upper_leg_left"), 12: ("torso", "upper_leg_right"),
        13: ("upper_leg_left", "lower_leg_left"), 14: ("upper_leg_right", "lower_leg_right"),
        15: ("lower_leg_left", "foot_left"), 16: ("lower_leg_right", "foot_right"),
    }  # fmt: skip
    parts: list[frozenset[str]] = []
    for i in range(NUM_WHOLEBODY):
        if i in body:
            names = body[i]
        elif i < FACE_START:  # feet: 17-19 left, 20-22 right
            names = ("foot_left", "lower_leg_left") if i < 20 else ("foot_right", "lower_leg_right")
        elif i < LHAND_START:
            names = ()
        elif i < RHAND_START:
            names = ("hand_left", "lower_arm_left")
        else:
            names = ("hand_right", "lower_arm_right")
        parts.append(frozenset([names] if isinstance(names, str) else names))
    return parts


KEYPOINT_PARTS = _keypoint_parts()


@dataclass(frozen=True)
class BodyShape:
    """Per-identity proportions in metres."""

    height_scale: float = 1.0
    shoulder_half: float = 0.19
    hip_half: float = 0.1
    upper_arm: float = 0.29
    forearm: float = 0.26
    thigh: float = 0.44
    shin: float = 0.42
    torso: float = 0.52
    limb_radius: float = 0.055
    torso_radius: tuple[float, float] = (0.17, 0.1)  # half-width, half-depth
    head_radii: tuple[float, float, float] = (0.085, 0.11, 0.095)

    @classmethod
    def sample(cls, rng: np.random.Generator) -> "BodyShape":
        s = rng.uniform(0.92, 1.08)
        girth = rng.uniform(0.85, 1.2)
        return cls(
            height_scale=s,
            shoulder_half=0.19 * s * rng.uniform(0.9, 1.1),
            hip_half=0.1 * s * girth,
            upper_arm=0.29 * s,
            forearm=0.26 * s,
            thigh=0.44 * s,
            shin=0.42 * s,
            torso=0.52 * s,
            limb_radius=0.05 * girth,
            torso_radius=(0.16 * girth, 0.1 * girth),
            head_radii=(0.085 * s, 0.11 * s, 0.095 * s),
        )


@dataclass(frozen=True)
class Motion:
    """A dance: each angle is a base value plus two sinusoids, with per-clip random amplitudes and phases."""

    params: dict[str, np.ndarray]  # name -> (base, a1, f1, p1, a2, f2, p2)

    # name: (base range, amplitude range)
    RANGES = {
        "yaw": ((-0.3, 0.3), (0.1, 0.5)),
        "sway_x": ((-0.05, 0.05), (0.02, 0.12)),
        "bob_y": ((0.0, 0.0), (0.0, 0.04)),
        "lean": ((-0.05, 0.1), (0.0, 0.12)),
        "side_lean": ((-0.05, 0.05), (0.0, 0.12)),
        "head_yaw": ((-0.2, 0.2), (0.0, 0.35)),
        "head_pitch": ((-0.1, 0.1), (0.0, 0.2)),
        "l_sh_abd": ((0.2, 1.2), (0.2, 0.9)),
        "r_sh_abd": ((0.2, 1.2), (0.2, 0.9)),
        "l_sh_flex": ((-0.2, 0.6), (0.1, 0.8)),
        "r_sh_flex": ((-0.2, 0.6), (0.1, 0.8)),
        "l_elbow": ((0.3, 1.2), (0.1, 0.8)),
        "r_elbow": ((0.3, 1.2), (0.1, 0.8)),
        "l_hip_abd": ((0.0, 0.15), (0.0, 0.2)),
        "r_hip_abd": ((0.0, 0.15), (0.0, 0.2)),
        "l_hip_flex": ((0.0, 0.3), (0.0, 0.5)),
        "r_hip_flex": ((0.0, 0.3), (0.0, 0.5)),
        "l_knee": ((0.0, 0.3), (0.0, 0.5)),
        "r_knee": ((0.0, 0.3), (0.0, 0.5)),
        "l_wrist": ((-0.2, 0.2), (0.0, 0.4)),
        "r_wrist": ((-0.2, 0.2), (0.0, 0.4)),
    }
    # Joint limits keep the dance anatomically plausible.
    LIMITS = {"l_elbow": (0.0, 2.4), "r_elbow": (0.0, 2.4), "l_knee": (0.0, 1.6), "r_knee": (0.0, 1.6)}

    # A talking anchor (preset `anchor`): standing still, facing the camera, gesturing with the arms and
    # moving the head; amplitude multipliers per angle (angles not named keep their dance amplitude).
    ANCHOR_SCALE = {"yaw": 0.25, "sway_x": 0.2, "bob_y": 0.0, "lean": 0.3, "side_lean": 0.3, "l_sh_abd": 0.4, "r_sh_abd": 0.4,
                    "l_sh_flex": 0.5, "r_sh_flex": 0.5, "l_elbow": 0.6, "r_elbow": 0.6, **dict.fromkeys(
                        ("l_hip_abd", "r_hip_abd", "l_hip_flex", "r_hip_flex", "l_knee", "r_knee"), 0.0)}  # fmt: skip

    @classmethod
    def sample(cls, rng: np.random.Generator, scale: dict[str, float] | None = None) -> "Motion":
        """A random dance; `scale` multiplies each named angle's amplitudes (`ANCHOR_SCALE`: a talking anchor)."""
        tempo = rng.uniform(0.4, 1.1)  # Hz: one beat for the whole body keeps limbs in step
        params = {}
        for name, ((b0, b1), (a0, a1)) in cls.RANGES.items():
            k = (scale or {}).get(name, 1.0)
            params[name] = np.array(
                [
                    rng.uniform(b0, b1) * (k if name in ("yaw", "lean", "side_lean") else 1.0),
                    rng.uniform(a0, a1) * k,
                    tempo * rng.choice([0.5, 1.0, 2.0]),
                    rng.uniform(0, 2 * np.pi),
                    rng.uniform(a0, a1) * 0.4 * k,
                    tempo * rng.choice([1.0, 2.0, 3.0]),
                    rng.uniform(0, 2 * np.pi),
                ]
            )
        return cls(params)

    def angle(self, name: str, t: float) -> float:
        b, a1, f1, p1, a2, f2, p2 = self.params[name]
        v = b + a1 * np.sin(2 * np.pi * f1 * t + p1) + a2 * np.sin(2 * np.pi * f2 * t + p2)
        lo, hi = self.LIMITS.get(name, (-np.inf, np.inf))
        return float(np.clip(v, lo, hi))


@dataclass(frozen=True)
class Segment:
    """A rigid ellipsoid part: from `start` to `end` with radii across; `frame` columns are local x, y, z."""

    part: str
    center: np.ndarray
    frame: np.ndarray  # (3, 3): local x (across), y (along), z (across) in camera coordinates
    radii: np.ndarray  # (3,)


@dataclass(frozen=True)
class Pose:
    """One frame of the body: whole-body keypoints in camera coordinates and the ellipsoid parts."""

    keypoints3d: np.ndarray  # (133, 3)
    segments: list[Segment]
    forward: np.ndarray  # (3,) the body's facing direction


def _limb_frame(axis: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """Local frame with y along `axis` and z facing backwards (away from the body's front)."""
    y = axis / np.linalg.norm(axis)
    back = -forward - np.dot(-forward, y) * y
    if np.linalg.norm(back) < 1e-6:  # limb points straight forward/back: any perpendicular works
        back = np.cross(y, np.array([1.0, 0.0, 0.0]))
    z = back / np.linalg.norm(back)
    x = np.cross(y, z)
    return np.stack([x, y, z], axis=1)


def _segment(part: str, a: np.ndarray, b: np.ndarray, radius: float, forward: np.ndarray, pad: float = 0.5) -> Segment:
    axis = b - a
    length = np.linalg.norm(axis)
    return Segment(part, (a + b) / 2, _limb_frame(axis, forward), np.array([radius, length / 2 + radius * pad, radius]))


def _hand_points(wrist: np.ndarray, direction: np.ndarray, across: np.ndarray, side: float) -> np.ndarray:
    """21 hand keypoints: wrist, then thumb, index, middle, ring, pinky (base to tip)."""
    pts = [wrist]
    # (offset across the palm, base distance, finger length); side flips the thumb to the outside.
    fingers = [(-0.035, 0.03, 0.06), (-0.022, 0.085, 0.07), (-0.005, 0.09, 0.075), (0.012, 0.085, 0.07), (0.027, 0.075, 0.055)]
    for i, (off, base, length) in enumerate(fingers):
        spread = across * side * off
        start = wrist + direction * base + spread
        step_dir = direction + (across * side * (-0.6 if i == 0 else off * 4))
        step_dir = step_dir / np.linalg.norm(step_dir)
        for j in range(4):
            pts.append(start + step_dir * length * j / 3)
    return np.stack(pts)


def pose_at(shape: BodyShape, motion: Motion, t: float, root: np.ndarray) -> Pose:
    """Forward kinematics at time t (seconds). `root` is the ground point under the pelvis at rest."""
    m = lambda name: motion.angle(name, t)  # noqa: E731
    yaw = rot_y(m("yaw"))
    forward = yaw @ FORWARD
    left = yaw @ np.array([1.0, 0.0, 0.0])
    # Body frame: columns map body-local (left, up, back) into camera coordinates.
    body = yaw

    def to_cam(local: np.ndarray) -> np.ndarray:
        return body @ local

    s = shape
    pelvis = root + np.array([m("sway_x"), (s.thigh + s.shin) * 0.98 + m("bob_y"), 0.0])
    spine_rot = rot_x(-m("lean")) @ rot_z(m("side_lean"))  # lean forward is towards -z (local)
    neck = pelvis + to_cam(spine_rot @ np.array([0.0, s.torso, 0.0]))
    head_rot = spine_rot @ rot_y(m("head_yaw")) @ rot_x(-m("head_pitch"))
    head_center = neck + to_cam(head_rot @ np.array([0.0, s.head_radii[1] * 1.15, 0.0]))
    head_frame = body @ head_rot  # columns: head-local x (left), y (up), z (back)

    def arm(side: float, pre: str):
        shoulder = neck + to_cam(spine_rot @ np.array([side * s.shoulder_half, -0.04, 0.0]))
        r_sh = spine_rot @ rot_z(side * m(f"{pre}_sh_abd")) @ rot_x(m(f"{pre}_sh_flex"))
        elbow = shoulder + to_cam(r_sh @ DOWN) * s.upper_arm
        r_el = r_sh @ rot_x(m(f"{pre}_elbow"))
        wrist = elbow + to_cam(r_el @ DOWN) * s.forearm
        r_wr = r_el @ rot_z(side * m(f"{pre}_wrist"))
        hand_dir = to_cam(r_wr @ DOWN)
        across = to_cam(r_wr @ np.array([1.0, 0.0, 0.0]))
        return shoulder, elbow, wrist, hand_dir, across

    def leg(side: float, pre: str):
        hip = pelvis + to_cam(np.array([side * s.hip_half, 0.0, 0.0]))
        r_hip = rot_z(side * m(f"{pre}_hip_abd")) @ rot_x(m(f"{pre}_hip_flex"))
        knee = hip + to_cam(r_hip @ DOWN) * s.thigh
        r_knee = r_hip @ rot_x(-m(f"{pre}_knee"))
        ankle = knee + to_cam(r_knee @ DOWN) * s.shin
        toe_dir = to_cam(r_knee @ FORWARD)
        heel = ankle - toe_dir * 0.05 + to_cam(r_knee @ DOWN) * 0.04
        big_toe = ankle + toe_dir * 0.17 + to_cam(r_knee @ DOWN) * 0.05 - side * left * 0.02
        small_toe = ankle + toe_dir * 0.14 + to_cam(r_knee @ DOWN) * 0.05 + side * left * 0.035
        return hip, knee, ankle, big_toe, small_toe, heel

    l_sh, l_el, l_wr, l_hand_dir, l_across = arm(+1.0, "l")
    r_sh, r_el, r_wr, r_hand_dir, r_across = arm(-1.0, "r")
    l_hip, l_kn, l_an, l_bt, l_st, l_he = leg(+1.0, "l")
    r_hip, r_kn, r_an, r_bt, r_st, r_he = leg(-1.0, "r")

    # Face: template on the front of the head ellipsoid.
    rx, ry, rz = shape.head_radii
    u, v = FACE_TEMPLATE[:, 0] * 0.75, FACE_TEMPLATE[:, 1] * 0.75
    w = np.sqrt(np.clip(1 - u**2 - v**2, 0.0, 1.0))
    face_local = np.stack([u * rx, v * ry, -w * rz], axis=1)  # -z: the face looks forward
    face = head_center + face_local @ head_frame.T
    l_eye, r_eye = face[42:48].mean(0), face[36:42].mean(0)
    nose = face[30]
    l_ear = head_center + head_frame @ np.array([rx, 0.0, 0.0])
    r_ear = head_center + head_frame @ np.array([-rx, 0.0, 0.0])

    kp = np.zeros((NUM_WHOLEBODY, 3))
    body17 = [nose, l_eye, r_eye, l_ear, r_ear, l_sh, r_sh, l_el, r_el, l_wr, r_wr, l_hip, r_hip, l_kn, r_kn, l_an, r_an]
    kp[:17] = np.stack(body17)
    kp[17:23] = np.stack([l_bt, l_st, l_he, r_bt, r_st, r_he])
    kp[FACE_START:LHAND_START] = face
    kp[LHAND_START:RHAND_START] = _hand_points(l_wr, l_hand_dir, l_across, +1.0)
    kp[RHAND_START:] = _hand_points(r_wr, r_hand_dir, r_across, -1.0)

    lr = shape.limb_radius
    segs = [
        Segment("torso", (pelvis + neck) / 2, _limb_frame(neck - pelvis, forward),
                np.array([shape.torso_radius[0], np.linalg.norm(neck - pelvis) / 2 + 0.06, shape.torso_radius[1]])),
        Segment("head", head_center, head_frame, np.array(shape.head_radii)),
        _segment("upper_arm_left", l_sh, l_el, lr, forward),
        _segment("upper_arm_right", r_sh, r_el, lr, forward),
        _segment("lower_arm_left", l_el, l_wr, lr * 0.85, forward),
        _segment("lower_arm_right", r_el, r_wr, lr * 0.85, forward),
        _segment("hand_left", l_wr, l_wr + l_hand_dir * 0.17, lr * 0.8, forward, pad=0.2),
        _segment("hand_right", r_wr, r_wr + r_hand_dir * 0.17, lr * 0.8, forward, pad=0.2),
        _segment("upper_leg_left", l_hip, l_kn, lr * 1.35, forward),
        _segment("upper_leg_right", r_hip, r_kn, lr * 1.35, forward),
        _segment("lower_leg_left", l_kn, l_an, lr * 1.1, forward),
        _segment("lower_leg_right", r_kn, r_an, lr * 1.1, forward),
        _segment("foot_left", l_he, (l_bt + l_st) / 2, lr * 0.8, forward, pad=0.3),
        _segment("foot_right", r_he, (r_bt + r_st) / 2, lr * 0.8, forward, pad=0.3),
    ]  # fmt: skip
    return Pose(keypoints3d=kp, segments=segs, forward=forward)
