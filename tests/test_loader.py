"""Training data from shards: each paper's sampler, exact contents, rank/worker splits, resume, bad data."""

from __future__ import annotations

import itertools

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from humanvid.config import ShardConfig
from humanvid.datasets import Clip
from humanvid.datasets.synthdance import SynthDanceOptions, render_clip
from humanvid.keypoints import FLIP_WHOLEBODY133
from humanvid.recipes import ClipInfo, DiffPerformer, Idol, MagicAnimatePair, MagicAnimateVideo, MakeYourAnchor
from humanvid.shards import ShardReader, write_shards
from humanvid.shards.loader import ShardSamples, iterate
from humanvid.shards.samples import frame_key

CONDITIONS = {c: {"estimator": "groundtruth", "ground_truth": True} for c in ("openpose18", "wholebody133", "depth", "alpha", "densepose", "mesh_normals")}
SIZE, FRAMES = 32, 64


def _build(root, n_ids=3, per_id=2, frames=FRAMES, corrupt: tuple[str, int] | None = None, prefix: str = ""):
    data, clips = {}, []
    for i in range(n_ids):
        for j in range(per_id):
            d = render_clip(SynthDanceOptions(width=SIZE, height=SIZE, num_frames=frames), identity=i, clip=j)
            cid = f"{prefix}id{i}_c{j}"
            data[cid] = d
            clips.append(Clip("synth", cid, f"id{i}", "train", 12.0, frames, SIZE, SIZE, f"clips/{cid}.mp4"))
    root.mkdir(parents=True)
    conds = lambda c: {"openpose18": data[c.clip_id]["openpose18"], "wholebody133": data[c.clip_id]["wholebody133"],  # noqa: E731
                       "depth": data[c.clip_id]["depth"], "alpha": data[c.clip_id]["alpha"], "densepose": data[c.clip_id]["iuv"],
                       "mesh_normals": data[c.clip_id]["normals"]}  # fmt: skip
    write_shards(root, clips, lambda c: data[c.clip_id]["rgb"], conds, CONDITIONS,
                 ShardConfig(window_frames=24, jpeg_quality=95, rows_per_group=2, rows_per_file=3), lambda m: None)  # fmt: skip
    if corrupt:  # overwrite one stored JPEG with bytes that are not a JPEG, in place in its shard file
        reader = ShardReader(root)
        entry = next(e for e in reader.index if e["clip_id"] == corrupt[0] and e["frame_start"] <= corrupt[1] < e["frame_start"] + e["num_frames"])
        pf = pq.ParquetFile(root / entry["shard"])
        table = pf.read()
        rows = table.to_pylist()
        rows[entry["row"] - min(e["row"] for e in reader.index if e["shard"] == entry["shard"])]["frames"][corrupt[1] - entry["frame_start"]] = b"\xff\xd8garbage"
        pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), root / entry["shard"], row_group_size=pf.metadata.row_group(0).num_rows,
                       use_dictionary=False, compression="none")  # fmt: skip
    return ShardReader(root), data


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return _build(tmp_path_factory.mktemp("loader") / "shards")


# -- samplers: statistics ---------------------------------------------------------------------------------


def test_magicanimate_pair_gap_follows_the_beta_and_image_joint_rate():
    cfg, clip = MagicAnimatePair(), ClipInfo("c", "i", 101)
    rng = np.random.default_rng(0)
    picks = [cfg.pick(clip, rng) for _ in range(6000)]
    joint = [p for p in picks if p.image_joint]
    assert len(joint) / len(picks) == pytest.approx(0.2, abs=0.02)  # τ0
    assert all(p.reference == (p.clip_id, p.targets[0]) for p in joint)
    gaps = np.array([abs(p.targets[0] - p.reference[1]) / 100 for p in picks if not p.image_joint])
    assert gaps.mean() == pytest.approx(2 / 3, abs=0.02)  # Beta(2, 1) has mean a / (a + b)
    assert np.mean(gaps > 0.5) == pytest.approx(1 - 0.25, abs=0.03)  # P(X > 1/2) = 1 - 0.5² for Beta(2, 1)
    assert np.mean([p.flip for p in picks]) == pytest.approx(0.5, abs=0.03)


def test_magicanimate_video_stride_and_reduction_rates():
    cfg, clip = MagicAnimateVideo(reduce_p=0.2, image_joint_p=0.36), ClipInfo("c", "i", 90)
    rng = np.random.default_rng(1)
    picks = [cfg.pick(clip, rng) for _ in range(6000)]
    full = [p for p in picks if len(p.targets) == 16]
    reduced = [p for p in picks if len(p.targets) == 1]
    assert len(full) + len(reduced) == len(picks)
    assert len(reduced) / len(picks) == pytest.approx(0.2, abs=0.02)  # τ1
    assert np.mean([p.image_joint for p in reduced]) == pytest.approx(0.36, abs=0.04)  # τ2
    assert all(np.all(np.diff(p.targets) == 4) and p.targets[-1] < 90 for p in full)
    refs = np.array([p.reference[1] for p in picks])
    assert refs.min() == 0 and refs.max() == 89 and refs.mean() == pytest.approx(44.5, abs=1.5)  # uniform reference


def test_idol_diffperformer_and_make_your_anchor_picks():
    rng = np.random.default_rng(2)
    for _ in range(500):
        p = Idol().pick(ClipInfo("c", "i", 30), rng)
        assert p.reference is None and p.targets == list(range(p.targets[0], p.targets[0] + 8))
        d = DiffPerformer().pick(ClipInfo("c", "i", 50), rng)
        assert len(d.targets) == 8 and d.targets[-1] < 40  # inside the first 80 %
    mates = [ClipInfo("a", "id7", 20), ClipInfo("b", "id7", 30), ClipInfo("c", "id7", 25)]
    refs = [MakeYourAnchor().pick(mates[0], rng, mates).reference for _ in range(300)]
    assert {r[0] for r in refs} == {"a", "b", "c"}  # references come from all of the identity's clips
    assert all(0 <= f < {"a": 20, "b": 30, "c": 25}[c] for c, f in refs)


# -- the loader: exact contents ---------------------------------------------------------------------------


def test_samples_hold_exactly_the_source_frames_and_conditions(shards):
    reader, data = shards
    ds = ShardSamples(reader, MagicAnimateVideo(reduce_p=0.0, flip_p=0.0), SIZE, conditions=("wholebody133", "alpha"))
    sample = next(iter(ds))
    clip = reader.read_clip(sample["clip_id"], conditions=("wholebody133", "alpha"))
    t = sample["targets"].numpy()
    assert len(t) == 16 and np.all(np.diff(t) == 4) and t[-1] - t[0] == 60  # crosses the 24-frame shard windows
    assert np.array_equal(sample["frames"].permute(0, 2, 3, 1).numpy(), clip["frames"][t])  # the stored JPEGs, decoded
    assert np.array_equal(sample["wholebody133"].numpy(), clip["wholebody133"][t])
    assert np.array_equal(sample["alpha"].numpy(), clip["alpha"][t])
    rgb = data[sample["clip_id"]]["rgb"][t].astype(int)
    assert np.abs(sample["frames"].permute(0, 2, 3, 1).numpy() - rgb).mean() < 3  # JPEG q95 of the render


def test_flipped_samples_mirror_frames_and_swap_sides(shards):
    reader, _ = shards
    plain = ShardSamples(reader, Idol(flip_p=0.0), SIZE, conditions=("wholebody133",))
    flipped = ShardSamples(reader, Idol(flip_p=1.0), SIZE, conditions=("wholebody133",))
    a, b = next(iter(plain)), next(iter(flipped))
    assert a["clip_id"] == b["clip_id"] and b["flip"] and not a["flip"]
    src = reader.read_clip(b["clip_id"], conditions=("wholebody133",))
    t = b["targets"].numpy()
    assert np.array_equal(b["frames"].numpy(), src["frames"][t][:, :, ::-1].transpose(0, 3, 1, 2))
    kp = src["wholebody133"][t]
    expect = kp[:, FLIP_WHOLEBODY133].copy()
    seen = expect[..., 2] > 0
    expect[..., 0][seen] = SIZE - 1 - expect[..., 0][seen]
    assert np.allclose(b["wholebody133"].numpy(), expect)
    name = reader.dir.name  # the frames' names say which frame, mirrored or not (a latent cache's keys)
    assert b["frame_keys"] == [frame_key(name, b["clip_id"], int(i), True) for i in t]
    assert a["frame_keys"] == [frame_key(name, a["clip_id"], int(i), False) for i in a["targets"]]
    with pytest.raises(ValueError, match="DensePose cannot be flipped"):
        ShardSamples(reader, Idol(flip_p=0.5), SIZE, conditions=("densepose",))


# -- ranks, workers, resume -------------------------------------------------------------------------------


@pytest.mark.parametrize("world,workers", [(2, 1), (4, 1), (2, 2)])
def test_ranks_get_equal_counts_and_cover_every_clip(shards, world, workers):
    reader, _ = shards  # 6 clips: uneven for 4 ranks and for 2 ranks × 2 workers
    counts, seen = [], set()
    for rank in range(world):
        ds = ShardSamples(reader, Idol(), SIZE, rank=rank, world_size=world, seed=3)
        ids = [cid for batch in iterate(ds, batch_size=1, workers=workers) for cid in batch["clip_id"]]
        assert len({len(ds.share(w, workers)) for w in range(workers)}) == 1  # workers of a rank: equal shares
        assert len(ids) == ds.per_rank(workers)
        counts.append(len(ids))
        seen |= set(ids)
    assert len(set(counts)) == 1 and counts[0] * world >= 6
    assert seen == set(ShardSamples(reader, Idol(), SIZE).order)


@pytest.mark.parametrize("workers,threads,processes", [(0, 0, 0), (2, 0, 0), (0, 3, 0), (0, 0, 2)])
def test_resume_continues_with_exactly_the_remaining_samples(shards, workers, threads, processes):
    reader, _ = shards
    cfg = MagicAnimatePair()

    def run(ds):
        return [(cid, tuple(t.tolist())) for batch in iterate(ds, 1, workers, threads=threads, processes=processes)
                for cid, t in zip(batch["clip_id"], batch["targets"], strict=True)]  # fmt: skip

    full = ShardSamples(reader, cfg, SIZE, seed=5)
    full.set_epoch(2)
    everything = run(full)
    first = ShardSamples(reader, cfg, SIZE, seed=5)
    first.set_epoch(2)
    head = []
    for batch in iterate(first, 1, workers, threads=threads, processes=processes):
        head += [(cid, tuple(t.tolist())) for cid, t in zip(batch["clip_id"], batch["targets"], strict=True)]
        if len(head) == 4:
            break
    state = first.state_dict()
    assert state == {"epoch": 2, "consumed": 4, "seed": 5}
    resumed = ShardSamples(reader, cfg, SIZE, seed=5)
    resumed.load_state_dict(state)
    assert head + run(resumed) == everything
    other = ShardSamples(reader, cfg, SIZE, seed=5)
    other.set_epoch(3)
    assert run(other) != everything  # a new epoch is a new permutation


@pytest.mark.parametrize("processes", [0, 2])
def test_a_corrupted_jpeg_skips_that_sample_and_the_epoch_completes(tmp_path, processes):
    reader, _ = _build(tmp_path / "shards", n_ids=2, per_id=2, frames=30, corrupt=("id0_c1", 5))
    ds = ShardSamples(reader, Idol(frames=30), SIZE, seed=0)  # every sample reads every frame
    batches = list(iterate(ds, batch_size=1, processes=processes))
    assert len(batches) == 4  # the failed sample was replaced: counts stay equal across ranks
    skipped = [s for b in batches for rec in b["skipped"] for s in rec]
    assert [s["clip_id"] for s in skipped] == ["id0_c1"]
    assert "frame 5" in skipped[0]["error"] and "JPEG does not decode" in skipped[0]["error"]


def test_shards_verify_passes_clean_shards_and_names_every_problem(shards, tmp_path):
    import subprocess
    import sys

    from humanvid.shards.verify import verify_shards

    reader, _ = shards
    report = verify_shards(reader.dir)
    assert report.ok, report.problems
    assert report.files == len(reader.manifest["files"]) and report.rows == len(reader.index) and report.frames == 6 * FRAMES
    broken, _ = _build(tmp_path / "broken", n_ids=1, per_id=2, frames=30, corrupt=("id0_c1", 7))
    report = verify_shards(broken.dir)
    assert not report.ok
    assert any("sha256 differs" in p for p in report.problems)  # the file was changed after sharding
    (decode_problem,) = [p for p in report.problems if "JPEG does not decode" in p]
    assert "clip id0_c1" in decode_problem and "frame 7" in decode_problem and ".parquet row" in decode_problem
    proc = subprocess.run([sys.executable, "-m", "flows.cli", "shards", "verify", str(broken.dir)], capture_output=True, text=True)
    assert proc.returncode == 1 and "JPEG does not decode" in proc.stdout


def test_a_reference_that_is_also_a_target_keeps_its_conditions(shards):
    reader, _ = shards
    ds = ShardSamples(reader, MagicAnimateVideo(reduce_p=1.0, image_joint_p=1.0), SIZE, conditions=("openpose18",))
    sample = next(iter(ds))
    assert sample["image_joint"] and sample["openpose18"].shape == (1, 18, 3)
    assert np.array_equal(sample["reference"].numpy(), sample["frames"][0].numpy())


def test_flipped_reference_is_the_mirrored_source_frame(shards):
    reader, _ = shards
    for cfg in (MagicAnimateVideo(reduce_p=1.0, image_joint_p=1.0, flip_p=1.0), MagicAnimatePair(image_joint_p=0.0, flip_p=1.0)):
        sample = next(iter(ShardSamples(reader, cfg, SIZE, conditions=())))
        src = reader.read_clip(sample["reference_clip"], conditions=())["frames"]
        ref_frame = sample["targets"][0].item() if sample["image_joint"] else None
        if ref_frame is not None:
            assert np.array_equal(sample["reference"].permute(1, 2, 0).numpy(), src[ref_frame][:, ::-1])
        assert any(np.array_equal(sample["reference"].permute(1, 2, 0).numpy(), f[:, ::-1]) for f in src)
        dataset, clip, frame, flipped = sample["reference_key"].split("/")  # the key names that mirrored frame
        assert (dataset, clip, flipped) == (reader.dir.name, sample["reference_clip"], "1")
        assert np.array_equal(sample["reference"].permute(1, 2, 0).numpy(), src[int(frame)][:, ::-1])


def test_training_stages_read_through_the_paper_recipes(shards, tmp_path):
    import json

    from conftest import stage_workspace, train_model

    reader, _ = shards
    cfg, layout = stage_workspace(tmp_path, {"synth": reader.dir}, {"b": {
        "arch": {"method": "baseline", "flavor": "debug", "resolution": SIZE}, "run": {"seed": 0, "device": "cpu"},
        "stages": {"vae": {"data": "synth", "recipe": {"kind": "reference_clip"}, "steps": 1, "batch_size": 2},
                   "pretrain": {"data": "synth", "steps": 2, "batch_size": 2, "log_every": 1, "recipe": {"kind": "magicanimate_pair"}},
                   "finetune": {"data": "synth", "steps": 3, "batch_size": 1, "log_every": 1,
                                "recipe": {"kind": "magicanimate_video", "frames": 4, "stride": 2, "reduce_p": 0.5}}},
    }})  # fmt: skip
    train_model(cfg, layout, "b")
    for stage, steps in (("pretrain", 2), ("finetune", 3)):
        run = json.loads((layout.checkpoint("b", stage) / "train_log.json").read_text())
        assert run["steps"] == steps and all(np.isfinite(run["losses"]))


def test_threaded_decoding_gives_the_same_samples_in_the_same_order(shards):
    import pickle

    reader, _ = shards
    cfg = MagicAnimateVideo(frames=8, stride=2, reduce_p=0.3)
    a = ShardSamples(reader, cfg, SIZE, seed=9, conditions=("openpose18", "alpha"))
    b = ShardSamples(reader, cfg, SIZE, seed=9, conditions=("openpose18", "alpha"))
    plain = list(iterate(a, batch_size=2))
    threaded = list(iterate(b, batch_size=2, threads=4))
    assert len(plain) == len(threaded) == 3
    for x, y in zip(plain, threaded, strict=True):
        assert x["clip_id"] == y["clip_id"]
        for key in ("frames", "openpose18", "alpha", "reference"):
            xs, ys = (x[key], y[key]) if isinstance(x[key], list) else ([x[key]], [y[key]])
            assert all(torch_equal(p, q) for p, q in zip(xs, ys, strict=True))
    assert a.consumed == b.consumed == 6
    clone = pickle.loads(pickle.dumps(reader))  # a spawn-started worker gets a working reader
    assert clone.read_items(reader.index[0], ("frames",), [0])["frames"][0] == reader.read_items(reader.index[0], ("frames",), [0])["frames"][0]


def _assert_same_batches(xs: list[dict], ys: list[dict]) -> None:
    import torch

    assert len(xs) == len(ys)
    for x, y in zip(xs, ys, strict=True):
        assert x.keys() == y.keys()
        for key in x:
            if isinstance(x[key], torch.Tensor):
                assert x[key].dtype == y[key].dtype and torch.equal(x[key], y[key]), key
            elif isinstance(x[key], list) and x[key] and isinstance(x[key][0], torch.Tensor):
                assert all(torch.equal(p, q) for p, q in zip(x[key], y[key], strict=True)), key
            else:
                assert x[key] == y[key], key


@pytest.mark.parametrize("processes,batch_size,conditions,flip_p", [(1, 1, ("openpose18", "alpha", "depth"), 0.5),
                                                                   (2, 2, ("wholebody133", "densepose"), 0.0)])  # fmt: skip
def test_decoding_processes_give_the_same_samples_across_epochs(shards, processes, batch_size, conditions, flip_p):
    """Same samples and order as decoding in this process, over epoch boundaries, with image conditions
    (uint8 matte and IUV, float depth), flips and K varying between samples; the consumer here keeps every
    batch, so once the slots are all held the rest travel by value — both transports are compared."""
    reader, _ = shards
    cfg = MagicAnimateVideo(frames=8, stride=2, reduce_p=0.4, flip_p=flip_p)
    a = ShardSamples(reader, cfg, SIZE, seed=4, conditions=conditions)
    b = ShardSamples(reader, cfg, SIZE, seed=4, conditions=conditions)
    a.set_epoch(1), b.set_epoch(1)
    plain = list(iterate(a, batch_size, epochs=3))
    decoded = list(iterate(b, batch_size, processes=processes, epochs=3))
    _assert_same_batches(plain, decoded)
    assert {len(batch["targets"][0]) for batch in decoded} == {1, 8}
    assert a.state_dict() == b.state_dict() == {"epoch": 3, "consumed": 6, "seed": 4}


def test_decoding_processes_reuse_a_bounded_set_of_slots(shards):
    """A consumer that lets go of each batch gets its samples in the same few shared-memory slots
    (processes × 2 + 1): memory stays bounded however long the run; a batch still held is never written
    over while the processes decode the next samples into the other slots."""
    reader, _ = shards
    cfg = Idol(frames=4)
    plain = iterate(ShardSamples(reader, cfg, SIZE, seed=1, conditions=("alpha",)), 1, epochs=None)
    ring = iterate(ShardSamples(reader, cfg, SIZE, seed=1, conditions=("alpha",)), 1, processes=2, epochs=None)
    buffers, held = set(), None
    for i in range(41):  # (not zip: its cached result tuple would hold one more batch)
        expected, batch = next(plain), next(ring)
        if held is not None:  # held while the next samples were decoded: unchanged
            _assert_same_batches([held[0]], [held[1]])
        _assert_same_batches([expected], [batch])
        held = (expected, batch)
        if i:  # the first sample is decoded in this process (it measures the slot size)
            buffers.add(batch["frames"].untyped_storage().data_ptr())
    assert len(buffers) <= 5


class _Failing(ShardSamples):
    """Fails on one clip in a chosen way (the decoding processes are forked: they inherit the class)."""

    clip, how = "", ""

    def load(self, clip_id, rng, alloc=np.empty):
        if clip_id == self.clip:
            if self.how == "exit":
                import os

                os._exit(3)
            raise KeyError("no such part")
        return super().load(clip_id, rng, alloc)


@pytest.mark.parametrize("how,message", [("raise", r"failed in a decoding process: KeyError: 'no such part'"),
                                         ("exit", r"decoding process humanvid-decode-0 exited with code 3")])  # fmt: skip
def test_a_failure_in_a_decoding_process_is_raised_here(shards, how, message):
    reader, _ = shards
    ds = _Failing(reader, Idol(frames=4), SIZE, seed=2)
    ds.clip, ds.how = ds.permutation()[2], how  # not the first sample: that one is decoded in this process
    with pytest.raises(RuntimeError, match=message):
        list(iterate(ds, 1, processes=1))


def test_iterate_refuses_two_ways_of_decoding(shards):
    reader, _ = shards
    with pytest.raises(ValueError, match="decode in one way"):
        next(iterate(ShardSamples(reader, Idol(), SIZE), 1, threads=2, processes=2))


def torch_equal(a, b) -> bool:
    import torch

    return torch.equal(a, b)


def _magicanimate(control: str):
    import torch

    from humanvid.models.magicanimate.model import MagicAnimate
    from humanvid.models.magicanimate.spec import MagicAnimateOptions

    return MagicAnimate.create("debug", MagicAnimateOptions(control=control), resolution=SIZE, seed=0, device=torch.device("cpu"),
                               weight_dtype=torch.float32)  # fmt: skip


@pytest.mark.parametrize("control", ["densepose", "dwpose", "dwpose+densepose"])
def test_training_control_images_are_those_of_the_stored_frames(shards, control):
    """The control a training batch carries equals control_images on the sample's own frames as stored
    (a regression: channels-first DensePose maps once reached control_images, which drew no figure at all)."""
    import torch

    from humanvid.controls import control_images, control_sources

    reader, data = shards
    cfg = MagicAnimateVideo(frames=3, stride=2, reduce_p=0.0, flip_p=0.0)
    model = _magicanimate(control)
    sample = next(iterate(ShardSamples(reader, cfg, SIZE, conditions=model.conditions(), seed=0), 1))
    batch = model.batch(sample, "finetune")
    truth = data[sample["clip_id"][0]]
    targets = sample["targets"][0].tolist()
    stored = {"densepose": truth["iuv"][targets], "wholebody133": truth["wholebody133"][targets]}
    expected = control_images(control, {c: stored[c] for c in control_sources(control)}, SIZE, SIZE, SIZE)
    torch.testing.assert_close(batch["control"][0], expected, atol=0, rtol=0)
    assert (expected.flatten(1).std(1) > 0).all()  # every frame draws a figure


def test_a_training_stage_with_loader_processes_trains_on_the_same_batches(shards):
    """`loader_processes` moves decoding out of the training process and changes nothing else: the model
    batches (reference, frames, control images) equal those decoded in the training process, across
    several epochs of this small dataset."""
    import itertools

    import torch

    reader, _ = shards
    cfg = MagicAnimateVideo(frames=3, stride=2, reduce_p=0.3, flip_p=0.0)
    model = _magicanimate("densepose")

    def batches(processes: int):
        stream = cfg.stream(reader, resolution=SIZE, split="train", seed=0, stream_seed=7, conditions=model.conditions(), processes=processes)
        return [model.batch(b, "finetune") for b in itertools.islice(stream.batches(1), 14)]

    for a, b in zip(batches(0), batches(2), strict=True):
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) if torch.is_tensor(a[k]) else a[k] == b[k] for k in a)


# -- frames decoded on the training device (nvJPEG on CUDA; the same code path on a CPU here) -------------


@pytest.mark.parametrize("resolution", [SIZE, 24])
def test_jpeg_kept_and_decoded_on_the_device_matches_the_decoding_loader(shards, resolution):
    """`keep_jpeg` + `decode_on_device` (torchvision's decode_jpeg, batched) gives the frames, references, flips and
    keypoints of the ordinary loader: exactly at the shard's own size, within PIL-vs-torch bicubic rounding when resized."""
    import torch

    from humanvid.shards.loader import decode_on_device

    reader, _ = shards
    cfg = MagicAnimateVideo(reduce_p=0.0, image_joint_p=0.0)
    plain = ShardSamples(reader, cfg, resolution, seed=3, conditions=("openpose18",))
    kept = ShardSamples(reader, cfg, resolution, seed=3, conditions=("openpose18",), keep_jpeg=True)
    a = next(iterate(plain, 4))
    b = decode_on_device(next(iterate(kept, 4)), torch.device("cpu"), resolution)
    assert "frames_jpeg" not in b and any(b["flip"]) and not all(b["flip"])  # both kinds of sample are in the batch
    assert b["frames"].shape == a["frames"].shape == (4, 16, 3, resolution, resolution) and b["frames"].dtype == torch.uint8
    assert b["reference"].shape == a["reference"].shape
    torch.testing.assert_close(b["openpose18"], a["openpose18"])
    diff = (b["frames"].int() - a["frames"].int()).abs()
    ref_diff = (b["reference"].int() - a["reference"].int()).abs()
    if resolution == SIZE:
        assert diff.max() == 0 and ref_diff.max() == 0
    else:
        assert diff.float().mean() < 0.25 and diff.max() <= 24 and ref_diff.float().mean() < 0.25  # measured 0.11, max 6


def test_kept_jpeg_travels_through_decoding_processes_and_needs_a_device(shards):
    import torch

    from humanvid.shards.loader import decode_on_device
    from humanvid.training.streams import ShardStream

    reader, _ = shards
    cfg = MagicAnimatePair(image_joint_p=0.0)
    kept = ShardSamples(reader, cfg, SIZE, seed=5, keep_jpeg=True)
    via_processes = decode_on_device(next(iterate(kept, 3, processes=1)), torch.device("cpu"), SIZE)
    kept.load_state_dict({"epoch": 0, "consumed": 0, "seed": 5})
    in_process = decode_on_device(next(iterate(kept, 3)), torch.device("cpu"), SIZE)
    assert torch.equal(via_processes["frames"], in_process["frames"]) and via_processes["frames"].shape == (3, 1, 3, SIZE, SIZE)
    with pytest.raises(ValueError, match="needs the device that decodes them"):
        ShardStream(kept)
    batch = next(ShardStream(kept, device=torch.device("cpu")).batches(2))
    assert batch["frames"].shape == (2, 1, 3, SIZE, SIZE) and batch["reference"].shape == (2, 3, SIZE, SIZE)


def test_a_reader_restricted_to_identities_sees_only_their_clips(shards):
    reader, _ = shards
    only = reader.restricted(["id0"])
    assert {r["identity"] for r in only.rows()} == {"id0"} and only.clip_ids("train") == ["id0_c0", "id0_c1"]
    others = reader.restricted(exclude=["id0"])
    assert {r["identity"] for r in others.rows()} == {"id1", "id2"}
    assert reader.restricted() is reader and len(reader.rows()) > len(others.rows())  # the original is untouched
    ds = ShardSamples(others, MakeYourAnchor(), SIZE, conditions=())
    assert {s["clip_id"][:3] for s in itertools.islice(iter(ds), 8)} <= {"id1", "id2"}  # references of the same identity too
    with pytest.raises(ValueError, match=r"no identities \['id7'\] in these shards; they hold \['id0', 'id1', 'id2'\]"):
        reader.restricted(["id7"])
    with pytest.raises(ValueError, match="leave no clip"):
        reader.restricted(["id0"], exclude=["id0"])


def test_make_your_anchor_foreground_only_composites_frame_and_reference_on_black_by_their_mattes(shards):
    """The paper's pre-training frames: the human by the matte, the background black — through the stream, with the
    frames decoded in the loader or on the device, flipped samples included."""
    import torch

    from humanvid.recipes.papers import on_black
    from humanvid.training.streams import ShardStream

    reader, _ = shards
    cfg = MakeYourAnchor(foreground_only=True, flip_p=0.5)
    assert cfg.conditions() == ("alpha",) and cfg.reference_conditions() == ("alpha",)
    for keep_jpeg in (False, True):
        stream = ShardStream(ShardSamples(reader, cfg, SIZE, seed=2, conditions=cfg.conditions(), keep_jpeg=keep_jpeg), device=torch.device("cpu"))
        plain = ShardStream(ShardSamples(reader, MakeYourAnchor(flip_p=0.5), SIZE, seed=2, conditions=("alpha",), keep_jpeg=keep_jpeg),
                            device=torch.device("cpu"))  # fmt: skip
        b, raw = next(stream.batches(6)), next(plain.batches(6))
        assert any(b["flip"]) and b["frame_keys"] == raw["frame_keys"] and b["reference_key"] == raw["reference_key"]
        outside, inside = b["alpha"] == 0, b["alpha"] == 255
        frames, raw_frames = b["frames"].permute(0, 1, 3, 4, 2), raw["frames"].permute(0, 1, 3, 4, 2)
        assert outside.any() and inside.any()
        assert frames[outside].max() == 0  # no background pixel left
        assert torch.equal(frames[inside], raw_frames[inside]) and raw_frames[outside].float().mean() > 20  # the human as it was
        ref, raw_ref = b["reference"].permute(0, 2, 3, 1), raw["reference"].permute(0, 2, 3, 1)
        assert ref[b["reference_alpha"] == 0].max() == 0 and torch.equal(ref[b["reference_alpha"] == 255], raw_ref[b["reference_alpha"] == 255])
    soft = on_black(torch.full((1, 3, 1, 2), 200, dtype=torch.uint8), torch.tensor([[[0, 128]]], dtype=torch.uint8))
    assert soft[0, :, 0].tolist() == [[0, 100]] * 3  # 200 · 128 / 255 = 100.4
    with pytest.raises(ValueError, match=r"images \(1, 3, 1, 2\) and mattes \(1, 2, 1\) differ"):
        on_black(torch.zeros(1, 3, 1, 2, dtype=torch.uint8), torch.zeros(1, 2, 1, dtype=torch.uint8))
    assert MakeYourAnchor().finish(raw) is raw  # with background: untouched
