"""Compare a sampler's videos with the ground-truth frames they re-create, in every protocol
(`humanvid.metrics.protocols`: per metric the variant a paper used, at the protocol's size); write metrics and
a preview.

Every requested metric ends as a number per protocol or as a stated need ("weights fid-inception",
"a model that generates depth", …): nothing is skipped silently and nothing stands in for a missing
network.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from humanvid.conditions import crop_resize, crop_resize_plane
from humanvid.config import EvaluationConfig
from humanvid.controls import control_images, control_sources
from humanvid.disk import reraise_if_disk_full
from humanvid.metrics import METRICS, PROTOCOLS, disco, image, protocol, weights_needed
from humanvid.metrics.protocols import LMD_ESTIMATORS, Protocol
from humanvid.sampling.clips import MANIFEST
from humanvid.sampling.outputs import read_depth
from humanvid.shards import ShardReader
from humanvid.video import read_video

PRIMARY = "corrected"  # the protocol of `overall` (what DVC metrics and plots read)

FRAME_VARIANTS: dict[str, dict[str, Callable[[np.ndarray, np.ndarray], float]]] = {
    "l1": {"standard": image.l1, "disco": disco.l1},
    "psnr": {"standard": image.psnr, "disco-wrapped": disco.psnr_wrapped, "disco-fixed": disco.psnr_fixed},
    "ssim": {"standard": image.ssim, "disco": disco.ssim},
}
"""Per-frame metric -> its variant (`Protocol.psnr`, …) -> the function of a (generated, ground truth) uint8 pair."""

TEMPORAL_METRICS: dict[str, Callable[[np.ndarray, np.ndarray], list[float]]] = {"tl1": image.temporal_l1}
"""Per-frame metrics of consecutive frames: (generated, ground truth) uint8 videos -> a value per frame (NaN where
there is none); the same definition in every protocol."""


def _variant(p: Protocol, metric: str) -> str:
    """The variant of a per-frame metric a protocol computes (a temporal metric has one definition everywhere)."""
    return "standard" if metric in TEMPORAL_METRICS else p.variant(metric)


def _mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def evaluate_frames(pred: np.ndarray, target: np.ndarray, names: list[str], protocol_name: str = "corrected") -> dict[str, list[float]]:
    """Per-frame values of the non-network frame metrics for uint8 videos (T, H, W, 3) of the same size."""
    if pred.shape != target.shape:
        raise ValueError(f"generated and ground-truth videos differ in shape: {pred.shape} vs {target.shape}")
    p = protocol(protocol_name)
    fns = {n: FRAME_VARIANTS[n][p.variant(n)] for n in names if n in FRAME_VARIANTS}
    out = {n: [fn(a, b) for a, b in zip(pred, target, strict=True)] for n, fn in fns.items()}
    return out | {n: TEMPORAL_METRICS[n](pred, target) for n in names if n in TEMPORAL_METRICS}


def at_protocol_size(pred: np.ndarray, frames: np.ndarray, p: Protocol, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """(generated, ground truth) uint8 videos (T, S, S, 3) at the protocol's evaluation size S (None: the model's
    `resolution`): the ground-truth `frames` (T, H, W, 3) go through the model inputs' centre crop and bicubic resize
    to S; a generated video of another size is resized to S as DisCo's code does (OpenCV bilinear)."""
    size = p.size or resolution
    target = np.stack([crop_resize(f, size) for f in frames[: len(pred)]])
    return np.stack([disco.resized_like_disco(f, size, size) for f in pred]), target


def _landmark_distances(estimator, pred: np.ndarray, target: np.ndarray, reader: ShardReader, clip_id: str, threshold: float) -> dict[str, float]:
    """LMD of one clip: the pose estimator on the generated and the ground-truth video (both (T, S, S, 3))."""
    from humanvid.datasets.clips import Clip
    from humanvid.metrics.landmarks import landmark_distances

    size = pred.shape[1]
    clip = Clip(**reader.clip_meta(clip_id) | {"num_frames": len(pred), "width": size, "height": size, "source": "generated"})
    return landmark_distances(estimator(pred, clip)["wholebody133"], estimator(target, clip)["wholebody133"], threshold)


def synthesized_depth_estimator(cfg: EvaluationConfig, has_depth: bool) -> str | None:
    """The estimator whose depth of the generated frames samples are scored on ("‡", `evaluation.synthesized_depth`),
    or None: the model's own depth output, if any."""
    option = cfg.synthesized_depth
    return option.estimator if option.estimator is not None and (option.rows == "all" or not has_depth) else None


def plan_needs(cfg: EvaluationConfig, overrides: dict[str, str] | None, has_depth: bool) -> tuple[dict[str, dict[str, str]], list[str]]:
    """(metric -> protocol -> what is missing, for every metric that cannot be computed here; the
    missing weight names, so a later run can tell that they have arrived)."""
    from humanvid import weights
    from humanvid.estimators import ESTIMATORS

    needs: dict[str, dict[str, str]] = {}
    all_missing: set[str] = set()
    depth_from_frames = synthesized_depth_estimator(cfg, has_depth)
    for name in cfg.metrics:
        kind = METRICS[name].kind
        for protocol_name in PROTOCOLS:
            wanted = list(weights_needed(name, protocol_name, cfg.fvd.weights))
            if kind == "landmark":
                wanted += list(ESTIMATORS.get(LMD_ESTIMATORS[protocol(protocol_name).lmd]).weights)
            if kind == "depth" and depth_from_frames is not None:
                wanted += list(ESTIMATORS.get(depth_from_frames).weights)
            missing = weights.missing(wanted, overrides)
            all_missing.update(missing)
            reason = ""
            if kind == "depth" and not has_depth and depth_from_frames is None:
                reason = "a model that generates depth (these samples have none)"
            elif missing:
                reason = weights.fetch_hint(missing)
            if reason:
                needs.setdefault(name, {})[protocol_name] = reason
    return needs, sorted(all_missing)


class _Pools:
    """Feature sets pooled over all clips, per metric and protocol, generated vs ground truth."""

    def __init__(self):
        self.gen: dict[tuple[str, str], list[np.ndarray]] = {}
        self.gt: dict[tuple[str, str], list[np.ndarray]] = {}

    def add(self, key: tuple[str, str], gen: np.ndarray, gt: np.ndarray) -> None:
        if len(gen):
            self.gen.setdefault(key, []).append(gen)
            self.gt.setdefault(key, []).append(gt)

    def distance(self, key: tuple[str, str]) -> tuple[float, int, str]:
        from humanvid.metrics.frechet import frechet_distance_of

        gen, gt = self.gen.get(key, []), self.gt.get(key, [])
        n = sum(len(g) for g in gen)
        if n < 2:
            return float("nan"), n, f"at least 2 feature samples (got {n})"
        return frechet_distance_of(np.concatenate(gen), np.concatenate(gt)), n, ""


class _Once:
    """Results by key — (what, variant, size) — each computed on first request."""

    def __init__(self) -> None:
        self.results: dict[tuple, object] = {}

    def __call__(self, key: tuple, compute: Callable[[], object]):
        if key not in self.results:
            self.results[key] = compute()
        return self.results[key]


class _ClipFeatures:
    """Clip-level features of one generated/ground-truth pair, each network run once when the protocols
    share it: DisCo's FID-VID clips are the complete clips plus one padded tail clip, so the `corrected`
    features are their first rows; FVD features are kept per (network, extraction)."""

    def __init__(self, nets, pred: np.ndarray, target: np.ndarray):
        self.nets, self.videos = nets, (pred, target)
        self._r3d: tuple[np.ndarray, np.ndarray] | None = None

    def fid_vid(self, variant: str) -> tuple[np.ndarray, np.ndarray]:
        from humanvid.metrics.features import CLIP_FRAMES, fid_vid_clips

        if self._r3d is None:
            self._r3d = tuple(self.nets.run("r3d50-kinetics", fid_vid_clips(v, "video-mean")) for v in self.videos)
        gen, gt = self._r3d
        if variant == "video-mean":  # one vector per video: the mean over its clips
            return gen.mean(0, keepdims=True), gt.mean(0, keepdims=True)
        complete = len(self.videos[0]) // CLIP_FRAMES
        return gen[:complete], gt[:complete]

    def fvd(self, net: str, extraction: str) -> tuple[np.ndarray, np.ndarray]:
        """Per (network, extraction) once per clip: the caller's `_Once` keys it."""
        from humanvid.metrics.features import fvd_clips

        gen, gt = ([self.nets.run(net, c) for c in fvd_clips(v, extraction)] for v in self.videos)
        return (np.concatenate(gen), np.concatenate(gt)) if gen else (np.zeros((0, 400)), np.zeros((0, 400)))


def _depth_pair(gen: np.ndarray, what: str, reader: ShardReader, clip_id: str, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(generated depth, ground-truth depth, human mask), each (T, size, size); `what` names the generated depth."""
    data = reader.read_clip(clip_id, conditions=("depth", "alpha"))
    gt = np.stack([crop_resize_plane(d, size) for d in data["depth"][: len(gen)]])
    mask = np.stack([crop_resize_plane(a, size) for a in data["alpha"][: len(gen)]]) > 127
    if gen.shape != gt.shape:
        raise ValueError(f"{what}: generated depth {gen.shape} vs ground truth {gt.shape}")
    return gen, gt, mask


def _depth_errors(gen: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    from humanvid.metrics.depth import depth_errors

    per_frame = [depth_errors(g, t, m) for g, t, m in zip(gen, gt, mask, strict=True) if (m & (t > 0)).sum() >= 2]
    return {k: _mean([f[k] for f in per_frame]) for k in ("depth_l2", "depth_absrel", "depth_delta1")} if per_frame else {}


def _depth_images(gen: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Colour-encoded depth (IDOL's depth FID input): each frame's ground truth min-max normalised inside
    the mask, the generated depth aligned to it first; background black."""
    from humanvid.metrics.depth import align_scale_shift, depth_to_rgb

    gen_rgb, gt_rgb = np.zeros(gen.shape + (3,), np.uint8), np.zeros(gt.shape + (3,), np.uint8)
    for i, (g, t, m) in enumerate(zip(gen, gt, mask, strict=True)):
        m = m & (t > 0)
        if m.sum() < 2:
            continue
        s, b = align_scale_shift(g, t, m)
        lo, hi = t[m].min(), t[m].max()
        span = hi - lo if hi > lo else 1.0
        gt_rgb[i][m] = depth_to_rgb((t[m] - lo) / span)
        gen_rgb[i][m] = depth_to_rgb((s * g[m] + b - lo) / span)
    return gen_rgb, gt_rgb


def evaluate_samples(samples_dir: Path, reader: ShardReader, cfg: EvaluationConfig, device=None, dtype=None,
                     overrides: dict[str, str] | None = None, progress: Callable[[str], None] = lambda _m: None) -> tuple[dict, dict, list[dict]]:  # fmt: skip
    """-> (metrics document, preview arrays of the first ok clip, per-frame records of the `corrected`
    frame metrics for DVC plots: {clip, frame, metric: value})."""
    import torch

    from humanvid.metrics import features
    from humanvid.metrics.network_metrics import FeatureNetworks, lpips_per_frame

    samples_dir = Path(samples_dir)
    manifest = json.loads((samples_dir / MANIFEST).read_text())
    size = manifest["resolution"]
    entries = manifest["clips"]
    control = manifest.get("control", "openpose")  # the model's control kind: what the preview shows as the condition
    has_depth = any("depth" in e.get("outputs", {}) for e in entries if e["status"] == "ok")
    needs, missing_weights = plan_needs(cfg, overrides, has_depth)
    depth_from_frames = synthesized_depth_estimator(cfg, has_depth)
    can = {(m, p) for m in cfg.metrics for p in PROTOCOLS if p not in needs.get(m, {})}
    nets = FeatureNetworks(device or torch.device("cpu"), dtype or torch.float32, overrides, cfg.batch_size)
    broken: dict[str, dict[str, str]] = {}  # metric -> protocol -> why it could not be computed: the others go on

    def attempt(metrics: list[str], fn, protocols: tuple[str, ...] = PROTOCOLS):
        """fn() for these metrics in these protocols, or None once any of them has failed (recorded in `broken`,
        dropped from `can`)."""
        if any(p in broken.get(m, {}) for m in metrics for p in protocols):
            return None
        try:
            return fn()
        except Exception as exc:  # a network that cannot load or run fails its metrics, not every clip
            why = f"{type(exc).__name__}: {exc}"
            for m in metrics:
                broken.setdefault(m, {}).update(dict.fromkeys(protocols, why))
                can.difference_update({(m, p) for p in protocols})
            progress(f"{', '.join(metrics)} ({', '.join(protocols)}): failed, the other metrics go on: {why}")
            return None

    landmark_metrics = [m for m in cfg.metrics if METRICS[m].kind == "landmark"]
    lmd_protocols = {v: tuple(p for p in PROTOCOLS if protocol(p).lmd == v and any((m, p) in can for m in landmark_metrics))
                     for v in LMD_ESTIMATORS}  # fmt: skip
    estimators = {}  # LMD variant -> its pose estimator, loaded once for the protocols that use it
    for variant, names in lmd_protocols.items():
        if names:
            from humanvid.estimators import ESTIMATORS

            load = lambda v=variant: ESTIMATORS.get(LMD_ESTIMATORS[v])(nets.device, nets.dtype, reader.dir, overrides)  # noqa: E731
            estimators[variant] = attempt(landmark_metrics, load, names)

    depth_metrics = [m for m in cfg.metrics if METRICS[m].kind == "depth"]
    depth_net = None  # "‡": the monocular estimator that reads depth off the generated frames
    if depth_from_frames is not None and any((m, p) in can for m in depth_metrics for p in PROTOCOLS):
        from humanvid.estimators import ESTIMATORS

        depth_net = attempt(depth_metrics, lambda: ESTIMATORS.get(depth_from_frames)(nets.device, nets.dtype, reader.dir, overrides))

    per_clip, failed, preview, per_frame = {}, [], {}, []
    pooled = {p: {m: [] for m in cfg.metrics} for p in PROTOCOLS}  # per-frame / per-clip values
    pools = _Pools()
    frame_names = [m for m in cfg.metrics if METRICS[m].kind == "frame"]
    for i, entry in enumerate(entries):
        cid = entry["clip_id"]
        if entry["status"] != "ok":
            failed.append({"clip_id": cid, "stage": "sample", "error": entry["error"]})
            continue
        try:
            files = entry["outputs"]
            pred = read_video(samples_dir / files["rgb"])
            data = reader.read_clip(cid, conditions=())
            target = np.stack([crop_resize(f, size) for f in data["frames"][: len(pred)]])
            if pred.shape != target.shape:
                raise ValueError(f"generated video {files['rgb']} is {pred.shape}, ground truth {target.shape}")
            videos = {size: (pred, target)}  # evaluation size -> (generated, ground truth) at that size
            clip_feats = {size: _ClipFeatures(nets, pred, target)}
            once = _Once()  # protocols sharing a variant at a size compute it once per clip
            clip_doc: dict = {"frames": len(pred)}
            extra = {}  # protocol-independent values of this clip: depth
            depth_rgb = None
            depth_pair = None
            if depth_net is not None:
                depth_pair = _depth_pair(depth_net.estimate(pred, f"{files['rgb']}"), f"{depth_from_frames} on {files['rgb']}", reader, cid, size)
            elif "depth" in files and depth_from_frames is None:
                depth_pair = _depth_pair(read_depth(samples_dir / files["depth"], len(pred)), files["depth"], reader, cid, size)
            if depth_pair is not None:
                if any(METRICS[m].kind == "depth" for m, _ in can):
                    extra |= _depth_errors(*depth_pair)
                depth_rgb = _depth_images(*depth_pair)  # the preview shows it too
            for name in PROTOCOLS:
                p = protocol(name)
                at = p.size or size
                if at not in videos:
                    videos[at] = at_protocol_size(pred, data["frames"], p, size)
                    clip_feats[at] = _ClipFeatures(nets, *videos[at])
                a, b = videos[at]
                clip_values = {}  # this clip's one value per metric: landmarks (at this size), depth
                values = {m: once((m, _variant(p, m), at), lambda m=m, a=a, b=b: evaluate_frames(a, b, [m], name)[m])  # noqa: B023 — once() calls it at once
                          for m in frame_names if (m in FRAME_VARIANTS or m in TEMPORAL_METRICS) and (m, name) in can}  # fmt: skip
                if ("lpips", name) in can:
                    lpips = once(("lpips", p.lpips, at), lambda a=a, b=b, v=p.lpips: attempt(["lpips"], lambda: lpips_per_frame(nets, a, b, v)))  # noqa: B023 — once() calls it at once
                    if lpips is not None:
                        values["lpips"] = lpips
                if estimators.get(p.lmd) is not None and name in lmd_protocols[p.lmd]:
                    compute = partial(_landmark_distances, estimators[p.lmd], a, b, reader, cid, cfg.landmarks.threshold)
                    lmd = once(("lmd", p.lmd, at), lambda c=compute, names=lmd_protocols[p.lmd]: attempt(landmark_metrics, c, names))
                    clip_values |= {m: v for m, v in (lmd or {}).items() if (m, name) in can}
                for m, v in values.items():
                    pooled[name][m].extend(v)
                if name == PRIMARY:
                    per_frame += [{"clip": cid, "frame": t} | {m: (float(v[t]) if math.isfinite(v[t]) else None) for m, v in values.items()}
                                  for t in range(len(pred))]  # fmt: skip
                clip_doc[name] = {m: _mean(v) for m, v in values.items()}
                clip_values |= {m: v for m, v in extra.items() if (m, name) in can}
                for m, v in clip_values.items():
                    pooled[name][m].append(v)
                    clip_doc[name][m] = v
                fvd_net, fvd_clips = weights_needed("fvd", name, cfg.fvd.weights)[0], "disco" if p.fvd == "disco" else cfg.fvd.clips
                feats = clip_feats[at]
                pooled_features = {  # metric -> (memo key, its (generated, ground truth) features of this clip)
                    "depth_fid": (("depth_fid", p.fid), lambda v=p.fid: [nets.run("fid-inception", features.fid_inputs(d, v)) for d in depth_rgb]),  # noqa: B023 — once() calls it at once
                    "fid": (("fid", p.fid, at), lambda v=p.fid, a=a, b=b: [nets.run("fid-inception", features.fid_inputs(x, v)) for x in (a, b)]),  # noqa: B023 — once() calls it at once
                    "fid_vid": (("fid_vid", p.fid_vid, at), lambda v=p.fid_vid, f=feats: f.fid_vid(v)),
                    "fvd": (("fvd", fvd_net, fvd_clips, at), lambda n=fvd_net, c=fvd_clips, f=feats: f.fvd(n, c)),
                }  # fmt: skip
                for m, (key, compute) in pooled_features.items():
                    if (m, name) in can and (m != "depth_fid" or depth_rgb is not None):
                        pair = once(key, lambda m=m, compute=compute: attempt([m], compute))  # noqa: B023 — once() calls it at once
                        if pair is not None:
                            pools.add((m, name), *pair)
        except Exception as exc:  # recorded, the other clips still count
            reraise_if_disk_full(exc)
            failed.append({"clip_id": cid, "stage": "evaluate", "error": f"{type(exc).__name__}: {exc}"})
            continue
        per_clip[cid] = clip_doc
        progress(f"clip {i + 1}/{len(entries)} {cid}: " + ", ".join(f"{m}={v:.4g}" for m, v in clip_doc[PRIMARY].items()))
        if not preview:
            preview = {"generated": pred, "ground_truth": target}
            if control is not None:  # a method that reads no control (a trivial floor) has no condition row
                h, w = data["frames"].shape[1:3]
                sources = control_sources(control)
                conds = reader.read_clip(cid, conditions=sources)  # only the preview clip's: DensePose maps are not free
                images = control_images(control, {c: conds[c][: len(pred)] for c in sources}, h, w, size)
                preview["condition"] = (images.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
            if depth_rgb is not None:
                preview["generated_depth"], preview["ground_truth_depth"] = depth_rgb
    if not per_clip:
        raise RuntimeError(f"{samples_dir}: no clip could be evaluated: {failed}")
    for m, failures in broken.items():  # a metric that failed part-way counts nowhere in those protocols, and says why
        needs.setdefault(m, {}).update({p: f"failed: {why}" for p, why in failures.items()})
        for clip_doc in per_clip.values():
            for p in failures:
                clip_doc.get(p, {}).pop(m, None)

    protocols, samples, warnings = {}, {}, []
    for name in PROTOCOLS:
        overall = {}
        for m in cfg.metrics:
            if (m, name) not in can:
                continue
            if METRICS[m].features:
                value, n, need = pools.distance((m, name))
                overall[m] = value
                samples.setdefault(m, {})[name] = n
                if need:
                    needs.setdefault(m, {})[name] = need
                elif n <= METRICS[m].features:  # see humanvid.metrics.rank_warning
                    warnings.append({"metric": m, "protocol": name, "samples": n, "features": METRICS[m].features})
            else:
                overall[m] = _mean(pooled[name][m])
        protocols[name] = {"overall": overall, "size": protocol(name).size or size}
    doc = {
        "protocol": PRIMARY,
        "overall": protocols[PRIMARY]["overall"],
        "protocols": protocols,
        "needs": needs,
        "missing_weights": missing_weights,
        "samples": samples,
        "warnings": warnings,
        "frames": sum(c["frames"] for c in per_clip.values()),
        "clips": per_clip,
        "failed": manifest.get("dataset_failures", []) + failed,
        "conditions": manifest["conditions"],
        "depth_source": f"{depth_from_frames} on the synthesized frames" if depth_from_frames else ("model" if has_depth else None),
        "settings": cfg.model_dump(),
    }
    return doc, preview, per_frame


PREVIEW_ROWS = ("generated", "ground_truth", "condition", "generated_depth", "ground_truth_depth")
"""Rows of a preview, top to bottom; the depth rows (colour-encoded, aligned to the ground truth) only for a
model that generates depth."""


def preview_image(preview: dict[str, np.ndarray], columns: int = 8, min_size: int = 128) -> np.ndarray:
    """Rows generated | ground truth | condition (| generated depth | ground-truth depth), `columns` frames
    evenly spaced, upscaled for viewing."""
    from PIL import Image

    rows = []
    for key in (k for k in PREVIEW_ROWS if k in preview):
        frames = preview[key]
        idx = np.linspace(0, len(frames) - 1, min(columns, len(frames))).round().astype(int)
        rows.append(np.concatenate([frames[i] for i in idx], axis=1))
    grid = np.concatenate(rows, axis=0)
    scale = max(1, int(np.ceil(min_size / preview["generated"].shape[1])))
    return np.asarray(Image.fromarray(grid).resize((grid.shape[1] * scale, grid.shape[0] * scale), Image.NEAREST))


def preview_video(preview: dict[str, np.ndarray], min_size: int = 128) -> np.ndarray:
    """Frames of generated | ground truth | condition (| depths) side by side (T, H, nW, 3), upscaled for viewing."""
    t = min(len(v) for v in preview.values())
    strip = np.concatenate([preview[k][:t] for k in PREVIEW_ROWS if k in preview], axis=2)
    scale = max(1, int(np.ceil(min_size / preview["generated"].shape[1])))
    strip = strip.repeat(scale, axis=1).repeat(scale, axis=2)
    return strip[:, : strip.shape[1] // 2 * 2, : strip.shape[2] // 2 * 2]  # even sides for H.264
