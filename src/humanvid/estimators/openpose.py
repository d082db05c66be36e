"""`openpose`: the CMU OpenPose body model (18 keypoints) as the widely used PyTorch port (`body_pose_model.pth`,
the one DisCo and the ControlNet annotators use), in plain torch, with part-affinity grouping.

Network: a VGG-19 trunk to conv4_4_CPM (128 channels at stride 8), then six stages, each with a
part-affinity branch (L1, 38 channels) and a heatmap branch (L2, 19 channels); stages 2-6 read the
previous stage's outputs concatenated with the trunk features (38 + 19 + 128 = 185 channels). The
released state dict names layers without their block (`conv1_1.weight`, `Mconv7_stage6_L2.bias`);
`BodyPoseNet.load_released` maps them onto the blocks and refuses any missing or unexpected key.

Inference, as the reference port does it: the frame (BGR, values / 256 - 0.5) is scaled so its height
is 0.5 x 368 px, padded right/down with 128 to a multiple of 8; the last stage's heatmaps and PAFs are
upsampled x8 (bicubic), unpadded and resized to the frame. Peaks: 4-neighbour maxima of the
Gaussian-smoothed (sigma 3) heatmap above 0.1. Limbs: each candidate pair scores the mean PAF
projection over 10 samples plus a distance prior (min(0.5 H / length - 1, 0)); kept when more than 80% of
samples exceed 0.05 and the score is positive; greedy one-to-one matching by score. People: limbs
assembled into 18-slot sets (merging disjoint sets that share a joint); sets with fewer than 4 parts or
a mean score under 0.4 are dropped. The clip's person per frame is the set with the highest score.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import ClassVar

import numpy as np

from humanvid.datasets.clips import Clip
from humanvid.estimators.base import Estimator

# OpenPose-18 limbs (0-based joint indices) and the PAF channels (x, y) that encode each, in the order
# the grouping visits them.
LIMBS = [(1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13),
         (1, 0), (0, 14), (14, 16), (0, 15), (15, 17), (2, 16), (5, 17)]  # fmt: skip
PAF_CHANNELS = [(12, 13), (20, 21), (14, 15), (16, 17), (22, 23), (24, 25), (0, 1), (2, 3), (4, 5), (6, 7), (8, 9),
                (10, 11), (28, 29), (30, 31), (34, 35), (32, 33), (36, 37), (18, 19), (26, 27)]  # fmt: skip
BOX_SIZE, STRIDE, PAD_VALUE, SCALE = 368, 8, 128, 0.5
PEAK_THRESHOLD, PAF_THRESHOLD, MID_SAMPLES = 0.1, 0.05, 10


def _trunk_spec() -> list[tuple[str, tuple]]:
    c = lambda i, o, k=3: ("conv", (i, o, k))  # noqa: E731
    return [("conv1_1", c(3, 64)), ("conv1_2", c(64, 64)), ("pool1_stage1", ("pool",)), ("conv2_1", c(64, 128)),
            ("conv2_2", c(128, 128)), ("pool2_stage1", ("pool",)), ("conv3_1", c(128, 256)), ("conv3_2", c(256, 256)),
            ("conv3_3", c(256, 256)), ("conv3_4", c(256, 256)), ("pool3_stage1", ("pool",)), ("conv4_1", c(256, 512)),
            ("conv4_2", c(512, 512)), ("conv4_3_CPM", c(512, 256)), ("conv4_4_CPM", c(256, 128))]  # fmt: skip


def _stage_spec(stage: int, branch: int) -> list[tuple[str, tuple]]:
    out = 38 if branch == 1 else 19
    if stage == 1:
        n = f"CPM_L{branch}"
        return [(f"conv5_1_{n}", ("conv", (128, 128, 3))), (f"conv5_2_{n}", ("conv", (128, 128, 3))), (f"conv5_3_{n}", ("conv", (128, 128, 3))),
                (f"conv5_4_{n}", ("conv", (128, 512, 1))), (f"conv5_5_{n}", ("conv", (512, out, 1)))]  # fmt: skip
    n = f"stage{stage}_L{branch}"
    convs = [(f"Mconv{j}_{n}", ("conv", (185 if j == 1 else 128, 128, 7))) for j in range(1, 6)]
    return convs + [(f"Mconv6_{n}", ("conv", (128, 128, 1))), (f"Mconv7_{n}", ("conv", (128, out, 1)))]


def sequential(spec: list[tuple[str, tuple]], last_linear: bool):
    """A torch `nn.Sequential` of named layers from a spec; every conv is followed by a ReLU except, with
    `last_linear`, the block's output convolution."""
    from torch import nn

    layers: list[tuple[str, nn.Module]] = []
    for i, (name, (kind, *args)) in enumerate(spec):
        if kind == "pool":
            layers.append((name, nn.MaxPool2d(2, 2)))
            continue
        cin, cout, k = args[0]
        layers.append((name, nn.Conv2d(cin, cout, k, 1, k // 2)))
        if not (last_linear and i == len(spec) - 1):
            layers.append((f"relu_{name}", nn.ReLU(inplace=True)))
    return nn.Sequential(OrderedDict(layers))


def load_released(net, state: dict, what: str) -> None:
    """Load a released OpenPose state dict into `net`, whose keys are the released ones behind a block prefix
    (`model0.conv1_1.weight` <- `conv1_1.weight`); any missing, unexpected or misshapen key is refused by name."""
    ours = net.state_dict()
    released = {k.split(".", 1)[1]: k for k in ours}
    missing = sorted(set(released) - set(state))
    unexpected = sorted(set(state) - set(released))
    if missing or unexpected:
        raise KeyError(f"{what} weights do not match the model: missing {missing[:5]}{'…' if len(missing) > 5 else ''}, "
                       f"unexpected {unexpected[:5]}{'…' if len(unexpected) > 5 else ''}")  # fmt: skip
    for name, key in released.items():
        if tuple(state[name].shape) != tuple(ours[key].shape):
            raise KeyError(f"{what} weight {name}: shape {tuple(state[name].shape)}, expected {tuple(ours[key].shape)}")
    net.load_state_dict({key: state[name] for name, key in released.items()})


class BodyPoseNet:
    """Built lazily as a torch module (torch is imported by whoever runs the estimator)."""

    @staticmethod
    def build():
        import torch
        from torch import nn

        class Net(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model0 = sequential(_trunk_spec(), last_linear=False)
                for stage in range(1, 7):
                    for branch in (1, 2):
                        setattr(self, f"model{stage}_{branch}", sequential(_stage_spec(stage, branch), last_linear=True))

            def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
                """(B, 3, H, W) -> PAFs (B, 38, H/8, W/8), heatmaps (B, 19, H/8, W/8)."""
                features = self.model0(x)
                paf, heat = self.model1_1(features), self.model1_2(features)
                for stage in range(2, 7):
                    inp = torch.cat([paf, heat, features], 1)
                    paf, heat = getattr(self, f"model{stage}_1")(inp), getattr(self, f"model{stage}_2")(inp)
                return paf, heat

            def load_released(self, state: dict) -> None:
                """Load the released state dict (layer names without their block prefix)."""
                load_released(self, state, "OpenPose body")

        return Net()


def find_peaks(heatmaps: np.ndarray, threshold: float = PEAK_THRESHOLD) -> list[np.ndarray]:
    """(H, W, >=18) -> per joint an array (n, 3) of x, y, score at the smoothed maps' local maxima."""
    from scipy.ndimage import gaussian_filter

    peaks = []
    for j in range(18):
        raw = heatmaps[:, :, j]
        m = gaussian_filter(raw, sigma=3)
        up, down, left, right = (np.zeros_like(m) for _ in range(4))
        up[1:], down[:-1], left[:, 1:], right[:, :-1] = m[:-1], m[1:], m[:, :-1], m[:, 1:]
        mask = (m >= up) & (m >= down) & (m >= left) & (m >= right) & (m > threshold)
        ys, xs = np.nonzero(mask)
        peaks.append(np.stack([xs, ys, raw[ys, xs]], 1).astype(np.float32) if len(xs) else np.zeros((0, 3), np.float32))
    return peaks


def connect_limbs(peaks: list[np.ndarray], pafs: np.ndarray, height: int) -> list[np.ndarray]:
    """Per limb an array (m, 3) of (index in joint A's peaks, index in joint B's peaks, score)."""
    h, w = pafs.shape[:2]
    out = []
    for (a, b), (cx, cy) in zip(LIMBS, PAF_CHANNELS, strict=True):
        ca, cb = peaks[a], peaks[b]
        candidates = []
        for i in range(len(ca)):
            for j in range(len(cb)):
                vec = cb[j, :2] - ca[i, :2]
                norm = math.hypot(*vec)
                if norm == 0:
                    continue
                vec = vec / norm
                xs = np.clip(np.round(np.linspace(ca[i, 0], cb[j, 0], MID_SAMPLES)).astype(int), 0, w - 1)
                ys = np.clip(np.round(np.linspace(ca[i, 1], cb[j, 1], MID_SAMPLES)).astype(int), 0, h - 1)
                proj = pafs[ys, xs, cx] * vec[0] + pafs[ys, xs, cy] * vec[1]
                score = proj.mean() + min(0.5 * height / norm - 1, 0)
                if (proj > PAF_THRESHOLD).sum() > 0.8 * len(proj) and score > 0:
                    candidates.append((i, j, score))
        chosen, used_a, used_b = [], set(), set()
        for i, j, s in sorted(candidates, key=lambda c: c[2], reverse=True):
            if i not in used_a and j not in used_b:
                chosen.append((i, j, s))
                used_a.add(i)
                used_b.add(j)
                if len(chosen) >= min(len(ca), len(cb)):
                    break
        out.append(np.array(chosen, np.float32).reshape(-1, 3))
    return out


def assemble_people(peaks: list[np.ndarray], limbs: list[np.ndarray]) -> list[np.ndarray]:
    """-> people, each (18, 3) x, y, score (score 0 where the joint is missing), best first."""
    offsets = np.cumsum([0] + [len(p) for p in peaks])
    flat = np.concatenate([p for p in peaks]) if offsets[-1] else np.zeros((0, 3), np.float32)
    sets: list[np.ndarray] = []  # each: 18 global peak ids (-1 missing), total score, part count
    for k, ((a, b), found) in enumerate(zip(LIMBS, limbs, strict=True)):
        for i, j, s in found:
            ga, gb = offsets[a] + int(i), offsets[b] + int(j)
            hits = [n for n, row in enumerate(sets) if row[a] == ga or row[b] == gb]
            if len(hits) == 1:
                row = sets[hits[0]]
                if row[b] != gb:
                    row[b] = gb
                    row[19] += 1
                    row[18] += flat[gb, 2] + s
            elif len(hits) == 2:
                r1, r2 = sets[hits[0]], sets[hits[1]]
                if not ((r1[:18] >= 0) & (r2[:18] >= 0)).any():  # disjoint: merge
                    r1[:18] += r2[:18] + 1
                    r1[18:] += r2[18:]
                    r1[18] += s
                    del sets[hits[1]]
                else:
                    r1[b] = gb
                    r1[19] += 1
                    r1[18] += flat[gb, 2] + s
            elif not hits and k < 17:  # the two ear-shoulder limbs never start a person
                row = -np.ones(20, np.float32)
                row[a], row[b] = ga, gb
                row[19] = 2
                row[18] = flat[ga, 2] + flat[gb, 2] + s
                sets.append(row)
    people = []
    for row in sorted(sets, key=lambda r: r[18], reverse=True):
        if row[19] < 4 or row[18] / row[19] < 0.4:
            continue
        person = np.zeros((18, 3), np.float32)
        for joint in range(18):
            if row[joint] >= 0:
                person[joint] = flat[int(row[joint])]
        people.append(person)
    return people


class OpenPoseBody(Estimator):
    name: ClassVar[str] = "openpose"
    provides: ClassVar[tuple[str, ...]] = ("openpose18",)
    weights: ClassVar[tuple[str, ...]] = ("openpose-body",)
    needs_gpu: ClassVar[bool] = True

    def __init__(self, device, dtype, raw_dir, overrides: dict[str, str] | None = None) -> None:
        super().__init__(device, dtype, raw_dir, overrides)
        self.net = BodyPoseNet.build()
        self.net.load_released(released_state(self.weights[0], self.overrides))
        self.net.to(device).eval()

    def maps(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Frames (T, H, W, 3) RGB -> heatmaps (T, H, W, 19) and PAFs (T, H, W, 38), the whole clip in one batch."""
        import cv2
        import torch

        t, h, w = frames.shape[:3]
        scale = SCALE * BOX_SIZE / h
        resized = np.stack([cv2.resize(f[..., ::-1], (0, 0), fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC) for f in frames])
        rh, rw = resized.shape[1:3]
        ph, pw = (-rh) % STRIDE, (-rw) % STRIDE
        padded = np.pad(resized, ((0, 0), (0, ph), (0, pw), (0, 0)), constant_values=PAD_VALUE)
        x = torch.from_numpy(padded.astype(np.float32) / 256 - 0.5).permute(0, 3, 1, 2).to(self.device)
        with torch.inference_mode():
            paf, heat = self.net(x)
        heats, pafs = [], []
        for hm, pf in zip(heat.float().cpu().numpy(), paf.float().cpu().numpy(), strict=True):
            def back(m: np.ndarray) -> np.ndarray:
                up = cv2.resize(m.transpose(1, 2, 0), (0, 0), fx=STRIDE, fy=STRIDE, interpolation=cv2.INTER_CUBIC)
                return cv2.resize(up[:rh, :rw], (w, h), interpolation=cv2.INTER_CUBIC)

            heats.append(back(hm))
            pafs.append(back(pf))
        return np.stack(heats), np.stack(pafs)

    def people(self, frames: np.ndarray) -> np.ndarray:
        """Frames (T, H, W, 3) RGB -> the best-scored person per frame (T, 18, 3); all zeros where none is found."""
        heats, pafs = self.maps(frames)
        out = np.zeros((len(frames), 18, 3), np.float32)
        for t in range(len(frames)):
            peaks = find_peaks(heats[t])
            people = assemble_people(peaks, connect_limbs(peaks, pafs[t], frames.shape[1]))
            if people:
                out[t] = people[0]
                out[t, :, 2] = np.clip(out[t, :, 2], 0, 1)
        return out

    def __call__(self, frames: np.ndarray, clip: Clip) -> dict[str, np.ndarray]:
        if len(frames) == 0:
            raise ValueError(f"clip {clip.clip_id}: no frames")
        return {"openpose18": self.people(frames)}


def released_state(weight: str, overrides: dict[str, str]) -> dict:
    """The state dict of a released OpenPose `.pth` (`humanvid.weights` name), loaded with `weights_only`."""
    import torch

    from humanvid import weights

    path = weights.resolve(weight, overrides)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path}: not a readable PyTorch state dict ({exc})") from exc
