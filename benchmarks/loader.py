"""Benchmark: training-sample throughput of the shard loader against the peer approach and the JPEG ceiling.

Same clips (synthetic 512×512 videos with moving content, OpenPose-18 keypoints and a DensePose-style
IUV image per frame), same samples: MagicAnimate stage 2 — a reference frame plus K = 16 frames at
stride 4 — with conditions. Three ways to deliver them through a torch DataLoader:

(a) humanvid: `ShardSamples` over Parquet shards (JPEG frames q95 4:4:4, keypoints as lists, IUV as a
    zstd image record), delivered three ways: torch DataLoader worker processes; decoding threads in the
    training process (`iterate(..., threads=W)`); decoding processes writing into reused shared-memory
    slots (`iterate(..., processes=W)`, `humanvid.shards.ring`). W = 0: all in the training process.
(b) peer: what public MagicAnimate/AnimateAnyone-style loaders do — open the clip's mp4 with decord and
    `get_batch` the 17 frames, and read one condition PNG per frame (a rendered pose image, or the IUV).
(c) ceiling: decode the same 17 JPEG frames from bytes already in memory into a reused buffer, nothing
    else, in a tight loop in one process; for W workers the single-process rate × min(W, cores) (ideal:
    perfect scaling, no transfer to a training process), and the same decoding measured in W threads.

Conditions: `pose` = keypoints for (a) / rendered pose PNGs for (b); `pose+densepose` adds the IUV image
to both (a PNG file per frame for the peer). Each configuration runs in its own process with 0 (all in the
training process), 1, 2 and 4 workers; rates are steady-state: timing starts after the same warm-up for
every way (2 × W samples: workers started, caches filled). Memory is the proportional set size of the
process and its workers (shared pages counted once), sampled during the run (peak of the samples).

    .venv/bin/python benchmarks/loader.py [--clips 6] [--frames 80] [--samples 48]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SIZE = 512
K, STRIDE = 16, 4


def make_clips(root: Path, n: int, frames: int) -> None:
    """Write the sources once: shards (a), mp4 + PNG folders (b), and a JPEG list for (c)."""
    from PIL import Image

    from humanvid.conditions import render_openpose18
    from humanvid.config import ShardConfig
    from humanvid.datasets import Clip
    from humanvid.shards import write_shards
    from humanvid.video import write_video

    ys, xs = np.mgrid[0:SIZE, 0:SIZE]
    rng = np.random.default_rng(0)
    data, clips = {}, []
    for c in range(n):
        video = np.empty((frames, SIZE, SIZE, 3), np.uint8)
        iuv = np.zeros((frames, SIZE, SIZE, 3), np.uint8)
        kp = np.zeros((frames, 18, 3), np.float32)
        base = rng.uniform(100, 400, (18, 2))
        for t in range(frames):
            phase = 2 * np.pi * (t / 60 + c / n)
            video[t, ..., 0] = (128 + 100 * np.sin(xs / 40 + phase)).astype(np.uint8)
            video[t, ..., 1] = (128 + 100 * np.cos(ys / 30 - phase)).astype(np.uint8)
            video[t, ..., 2] = ((xs + ys + 3 * t) % 256).astype(np.uint8)
            cx, cy = int(SIZE / 2 + 120 * np.sin(phase)), int(SIZE / 2 + 60 * np.cos(phase))
            video[t, cy - 60 : cy + 60, cx - 30 : cx + 30] = (200, 60, 40)
            iuv[t, cy - 60 : cy + 60, cx - 30 : cx + 30] = (1 + (t % 24), 128, 64)
            kp[t, :, :2] = base + 20 * np.sin(phase + np.arange(18))[:, None]
            kp[t, :, 2] = 0.9
        data[f"clip{c}"] = {"rgb": video, "openpose18": kp, "densepose": iuv}
        clips.append(Clip("bench", f"clip{c}", f"id{c}", "train", 25.0, frames, SIZE, SIZE, f"clips/clip{c}.mp4"))
        # (b) the peer's files: an mp4 per clip and one PNG per frame per condition
        write_video(root / "mp4" / f"clip{c}.mp4", video, 25.0, crf=18)
        for t in range(frames):
            (root / "png" / f"clip{c}" / "pose").mkdir(parents=True, exist_ok=True)
            (root / "png" / f"clip{c}" / "densepose").mkdir(parents=True, exist_ok=True)
            Image.fromarray(render_openpose18(kp[t], SIZE, SIZE)).save(root / "png" / f"clip{c}" / "pose" / f"{t:05d}.png")
            Image.fromarray(iuv[t]).save(root / "png" / f"clip{c}" / "densepose" / f"{t:05d}.png")
    conds = {"openpose18": {"estimator": "synthetic", "ground_truth": True}, "densepose": {"estimator": "synthetic", "ground_truth": True}}
    (root / "shards").mkdir()
    write_shards(root / "shards", clips, lambda c: data[c.clip_id]["rgb"],
                 lambda c: {"openpose18": data[c.clip_id]["openpose18"], "densepose": data[c.clip_id]["densepose"]}, conds,
                 ShardConfig(window_frames=frames, jpeg_quality=95, rows_per_group=1, rows_per_file=2), lambda m: None)  # fmt: skip


def _picks(n_clips: int, frames: int, samples: int) -> list[tuple[int, int, list[int]]]:
    rng = np.random.default_rng(1)
    span = (K - 1) * STRIDE + 1
    out = []
    for i in range(samples):
        start = int(rng.integers(0, frames - span + 1))
        out.append((i % n_clips, int(rng.integers(0, frames)), list(range(start, start + span, STRIDE))))
    return out


def _memory_mb(pids: list[int]) -> tuple[float, float]:
    """(Pss, RSS) now of this process and the given ones (its decoding or DataLoader workers), summed. Pss —
    the proportional set size, /proc/PID/smaps_rollup — counts pages they share (forked code, a shared-memory
    ring) once; summed RSS counts them once per process."""
    totals = {"Pss:": 0, "Rss:": 0}
    for pid in ["self"] + [str(p) for p in pids]:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.split(maxsplit=1)[0] in totals:
                    totals[line.split()[0]] += int(line.split()[1])
        except OSError:  # a worker that has just exited
            pass
    return totals["Pss:"] / 1024, totals["Rss:"] / 1024


def run(root: Path, way: str, conditions: str, workers: int, samples: int) -> dict:
    import torch

    from humanvid.recipes import MagicAnimateVideo
    from humanvid.shards import ShardReader
    from humanvid.shards.loader import ShardSamples, collate, jpeg_decoder

    reader = ShardReader(root / "shards")
    n_clips = len(reader.clip_ids())
    frames = reader.index[0]["num_frames"]
    cond = ("openpose18",) if conditions == "pose" else ("openpose18", "densepose")
    if way.startswith("humanvid"):
        cfg = MagicAnimateVideo(frames=K, stride=STRIDE, reduce_p=0.0, flip_p=0.0)
        epochs = []
        for e in range(int(np.ceil((samples + 2 * workers + 8) / n_clips))):  # + warm-up and the memory readings
            ds = ShardSamples(reader, cfg, SIZE, conditions=cond, seed=0)
            ds.set_epoch(e)
            epochs.append(ds)
        dataset = torch.utils.data.ChainDataset(epochs)
        if way in ("humanvid-threads", "humanvid-processes"):  # decoding threads / processes, streaming across epochs
            from humanvid.shards.loader import iterate

            ds = ShardSamples(reader, cfg, SIZE, conditions=cond, seed=0)
            kind = way.removeprefix("humanvid-")
            stream = iterate(ds, 1, epochs=None, **{kind: workers})
            if kind == "processes":  # their memory counts too
                next(stream), next(stream)  # the processes start after the first sample
                import multiprocessing

                return _measure(stream, way, conditions, workers, samples, [p.pid for p in multiprocessing.active_children()])
            return _measure(stream, way, conditions, workers, samples, [])
    else:
        picks = _picks(n_clips, frames, samples + 2 * workers + 8)  # + warm-up and the memory readings
        decoder_name, decode = jpeg_decoder()
        if way.startswith("ceiling"):  # no DataLoader: decode the sample's 17 JPEGs from memory in a tight loop
            jpegs = {}
            for cid in reader.clip_ids():
                (entry,) = [e for e in reader.index if e["clip_id"] == cid]
                jpegs[int(cid[4:])] = reader.read_raw(entry)["frames"]
            reused = np.empty((K + 1, SIZE, SIZE, 3), np.uint8)

            def one(c, ref, targets):
                # `ceiling`: a fresh array per sample, as a loader handing samples on must produce;
                # `ceiling-reused`: one buffer for every sample (no allocation, no page faults at all).
                buffer = reused if way == "ceiling-reused" else np.empty((K + 1, SIZE, SIZE, 3), np.uint8)
                for i, t in enumerate([ref] + targets):
                    decode(jpegs[c][t], buffer[i])

            for pk in picks[:2]:  # warm-up
                one(*pk)
            t0 = time.perf_counter()
            for pk in picks:
                one(*pk)
            one_core = len(picks) / (time.perf_counter() - t0)
            rate = one_core * max(1, min(workers, os.cpu_count() or 1))  # perfect scaling over the cores the workers can use
            measured = one_core
            if way == "ceiling" and workers > 1:  # the same decoding in W real threads: what this machine attains
                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(workers) as pool:
                    list(pool.map(lambda pk: one(*pk), picks[:workers]))
                    t0 = time.perf_counter()
                    list(pool.map(lambda pk: one(*pk), picks))
                    measured = len(picks) / (time.perf_counter() - t0)
            return {"way": way, "conditions": conditions, "workers": workers, "samples_per_s": rate, "frames_per_s": rate * (K + 1),
                    "measured_samples_per_s": measured, "peak_pss_mb": _memory_mb([])[0], "peak_rss_mb": _memory_mb([])[1]}  # fmt: skip
        else:
            try:
                import decord
            except ImportError:
                raise SystemExit('benchmarks/loader.py: the peer reads mp4s with decord: pip install -e ".[bench]"') from None
            from PIL import Image

            class Peer(torch.utils.data.Dataset):
                def __len__(self):
                    return len(picks)

                def __getitem__(self, i):
                    c, ref, targets = picks[i]
                    vr = decord.VideoReader(str(root / "mp4" / f"clip{c}.mp4"), num_threads=1)
                    video = vr.get_batch([ref] + targets).asnumpy()
                    out = {"frames": torch.from_numpy(video)}
                    for name in ("pose",) + (("densepose",) if conditions != "pose" else ()):
                        out[name] = torch.from_numpy(np.stack([np.asarray(Image.open(root / "png" / f"clip{c}" / name / f"{t:05d}.png").convert("RGB"))
                                                               for t in targets]))  # fmt: skip
                    return out

            dataset = Peer()
    loader = torch.utils.data.DataLoader(dataset, batch_size=1, num_workers=workers, collate_fn=collate,
                                         prefetch_factor=2 if workers else None)  # fmt: skip
    it = iter(loader)
    return _measure(it, way, conditions, workers, samples, [w.pid for w in getattr(it, "_workers", [])])


CONTROL_KINDS = {"pose": ("openpose",), "pose+densepose": ("openpose", "densepose")}


def model_ready(sample: dict, way: str, conditions: str) -> dict:
    """What a training step consumes, from either way's sample, in the training process (timed): frames in [-1, 1]
    and the control images in [0, 1]. humanvid delivers keypoints and IUV records, so it draws the control images
    here exactly as `Method.batch` does; the peer read them drawn (PNGs) and only converts them."""
    import torch

    from humanvid.controls import control_images, control_sources
    from humanvid.models.method import channels_last, to_unit

    cpu = torch.device("cpu")
    if way.startswith("humanvid"):
        controls = [torch.stack([control_images(kind, {c: channels_last(sample[c][i]) for c in control_sources(kind)}, SIZE, SIZE, SIZE)
                                 for i in range(len(sample["frames"]))]) for kind in CONTROL_KINDS[conditions]]  # fmt: skip
        return {"frames": to_unit(sample["frames"], cpu), "reference": to_unit(sample["reference"], cpu), "control": controls}
    controls = [sample[name].permute(0, 1, 4, 2, 3).float() / 255 for name in ("pose", "densepose") if name in sample]
    return {"frames": to_unit(sample["frames"].permute(0, 1, 4, 2, 3), cpu), "control": controls}


def _measure(it, way: str, conditions: str, workers: int, samples: int, worker_pids: list[int]) -> dict:
    for _ in range(max(1, 2 * workers)):  # warm-up, the same for every way: workers started, each one's
        model_ready(next(it), way, conditions)  # first samples decoded (its row-group cache filled, its buffers touched)
    t0 = time.perf_counter()
    n = 0
    for sample in it:
        model_ready(sample, way, conditions)
        n += 1
        if n >= samples - 1:
            break
    seconds = time.perf_counter() - t0
    # Memory after the timed run, not during it: reading smaps_rollup walks the workers' page tables and
    # slowed their decoding by up to a third.
    pss, rss = _memory_mb(worker_pids)
    for _, _sample in zip(range(8), it, strict=False):
        now = _memory_mb(worker_pids)
        pss, rss = max(pss, now[0]), max(rss, now[1])
    return {"way": way, "conditions": conditions, "workers": workers, "samples_per_s": n / seconds,
            "frames_per_s": n * (K + 1) / seconds, "peak_pss_mb": pss, "peak_rss_mb": rss}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips", type=int, default=6)
    ap.add_argument("--frames", type=int, default=80)
    ap.add_argument("--samples", type=int, default=48)
    ap.add_argument("--one", nargs=4, metavar=("ROOT", "WAY", "CONDITIONS", "WORKERS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        root, way, conditions, workers = args.one
        print(json.dumps(run(Path(root), way, conditions, int(workers), args.samples)))
        return
    from humanvid.shards.loader import jpeg_decoder

    print(f"machine: {platform.machine()}, {os.cpu_count()} cpus, Python {platform.python_version()}, JPEG decoder {jpeg_decoder()[0]}")
    with tempfile.TemporaryDirectory(prefix="humanvid-loader-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        make_clips(root, args.clips, args.frames)
        print(f"sources: {args.clips} clips × {args.frames} frames at {SIZE}² written in {time.perf_counter() - t0:.1f} s")
        results = []
        for conditions in ("pose", "pose+densepose"):
            for workers in (0, 1, 2, 4):
                for way in ("humanvid", "humanvid-threads", "humanvid-processes", "peer", "ceiling", "ceiling-reused"):
                    if (way.startswith("ceiling") and conditions != "pose") or (way in ("humanvid-threads", "humanvid-processes") and workers == 0):
                        continue
                    out = subprocess.run([sys.executable, __file__, "--samples", str(args.samples), "--one", str(root), way, conditions, str(workers)],
                                         capture_output=True, text=True)  # fmt: skip
                    if out.returncode:
                        raise SystemExit(f"{way} {conditions} workers {workers} failed:\n{out.stderr[-3000:]}")
                    results.append(json.loads(out.stdout.strip().splitlines()[-1]))
                    r = results[-1]
                    print(f"  {conditions:15s} workers {workers}  {way:9s} {r['samples_per_s']:7.2f} samples/s  {r['frames_per_s']:7.1f} frames/s  "
                          f"peak Pss {r['peak_pss_mb']:.0f} MB (RSS {r['peak_rss_mb']:.0f})", flush=True)  # fmt: skip
        print("\n| conditions | W | humanvid: DataLoader workers | threads | processes (frames/s) | peer | ceiling ideal fresh / reused; measured in W threads "
              "| best humanvid / peer | best humanvid / ceiling (ideal; measured) | peak memory Pss (RSS) workers / threads / processes / peer (MB) |")  # fmt: skip
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        get = {(r["way"], r["conditions"], r["workers"]): r for r in results}
        for conditions in ("pose", "pose+densepose"):
            for w in (0, 1, 2, 4):
                a, b = get[("humanvid", conditions, w)], get[("peer", conditions, w)]
                t = get.get(("humanvid-threads", conditions, w), a)
                p = get.get(("humanvid-processes", conditions, w), a)
                c, d = get[("ceiling", "pose", w)], get[("ceiling-reused", "pose", w)]
                best = max(a["samples_per_s"], t["samples_per_s"], p["samples_per_s"])
                m = c["measured_samples_per_s"]
                memory = " / ".join(f"{r['peak_pss_mb']:.0f} ({r['peak_rss_mb']:.0f})" for r in (a, t, p, b))
                print(f"| {conditions} | {w} | {a['samples_per_s']:.1f} | {t['samples_per_s']:.1f} | {p['samples_per_s']:.1f} ({p['frames_per_s']:.0f}) | "
                      f"{b['samples_per_s']:.1f} | {c['samples_per_s']:.1f} / {d['samples_per_s']:.1f}; {m:.1f} | {best / b['samples_per_s']:.1f}× | "
                      f"{best / c['samples_per_s']:.0%}; {best / m:.0%} | {memory} |")  # fmt: skip


if __name__ == "__main__":
    main()
