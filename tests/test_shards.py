import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from humanvid.conditions import crop_resize_keypoints
from humanvid.config import ShardConfig
from humanvid.datasets import Clip
from humanvid.datasets.synthdance import SynthDanceOptions, render_clip
from humanvid.shards import ReferenceClipSamples, SampleSpec, ShardError, ShardReader, write_shards
from humanvid.shards.samples import target_frames, to_model_frames
from humanvid.shards.schema import INDEX_FILE, META_VERSION

CONDITIONS = {c: {"estimator": "groundtruth", "ground_truth": True} for c in ("openpose18", "wholebody133", "depth", "alpha", "densepose")}


def _clips(n=3, frames=10):
    data, clips = {}, []
    for i in range(n):
        d = render_clip(SynthDanceOptions(width=32, height=24, num_frames=frames), identity=i, clip=0)
        cid = f"c{i}"
        data[cid] = d
        clips.append(Clip("synth", cid, f"id{i}", "test" if i == n - 1 else "train", 12.0, frames, 32, 24, f"clips/{cid}.mp4"))
    return clips, data


def _conditions(d):
    return {"openpose18": d["openpose18"], "wholebody133": d["wholebody133"], "depth": d["depth"], "alpha": d["alpha"], "densepose": d["iuv"]}


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    out = tmp_path_factory.mktemp("shards")
    clips, data = _clips()
    bad = Clip("synth", "broken", "id9", "train", 12.0, 10, 32, 24, "clips/broken.mp4", status="failed", error="boom")

    def read_frames(c):
        if c.clip_id == "c1":
            raise OSError("clips/c1.mp4: cannot decode video")
        return data[c.clip_id]["rgb"]

    summary = write_shards(out, clips + [bad], read_frames, lambda c: _conditions(data[c.clip_id]), CONDITIONS,
                           ShardConfig(window_frames=4, jpeg_quality=95, rows_per_group=2, rows_per_file=2), lambda m: None)  # fmt: skip
    return out, summary, data


def test_roundtrip_exact_conditions_close_frames(sharded):
    out, summary, data = sharded
    reader = ShardReader(out)
    clip = reader.read_clip("c0")
    src = data["c0"]
    assert clip["frames"].shape == src["rgb"].shape
    assert np.abs(clip["frames"].astype(int) - src["rgb"]).mean() < 4  # JPEG q95
    np.testing.assert_array_equal(clip["openpose18"], src["openpose18"])
    np.testing.assert_array_equal(clip["wholebody133"], src["wholebody133"])
    np.testing.assert_array_equal(clip["alpha"], src["alpha"])
    np.testing.assert_array_equal(clip["densepose"], src["iuv"])
    np.testing.assert_allclose(clip["depth"], src["depth"], atol=0.0005 + 1e-6)  # millimetre units


def test_layout_index_and_failures(sharded):
    out, summary, _ = sharded
    # 2 good clips x 10 frames in windows of 4 -> 3 rows each; 2 rows per file; 2 rows per group.
    assert summary.clips == 2 and summary.rows == 6 and len(summary.files) == 3
    failed = {f["clip_id"]: f for f in summary.failed}
    assert failed["broken"]["stage"] == "download" and failed["broken"]["error"] == "boom"
    assert "c1.mp4" in failed["c1"]["error"]
    index = pq.read_table(out / INDEX_FILE).to_pylist()
    assert [r["row"] for r in index] == list(range(6))
    assert [r["num_frames"] for r in index if r["clip_id"] == "c0"] == [4, 4, 2]
    pf = pq.ParquetFile(out / summary.files[0])
    assert pf.schema_arrow.metadata[META_VERSION] == b"2"
    assert pf.metadata.num_row_groups == 1 and pf.metadata.row_group(0).num_rows == 2
    col = pf.schema_arrow.names.index("frames")
    assert pf.metadata.row_group(0).column(col).compression == "UNCOMPRESSED"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["conditions"] == CONDITIONS


def test_reference_clip_samples(sharded):
    out, _, data = sharded
    reader = ShardReader(out)
    ds = ReferenceClipSamples(reader, SampleSpec(frames=2, stride=3, resolution=16), split="train", seed=3)
    assert len(ds) == 2  # only the two 4-frame windows of c0 can hold a span of 4
    item = ds[0]
    assert item["reference"].shape == (3, 16, 16) and item["frames"].shape == (2, 3, 16, 16) and item["frames"].dtype == torch.uint8
    # The loader's sample format: keypoints through the same crop as the frames (16 / 32 here), frame pixels -> sample pixels.
    window = reader.decode(reader.read_raw(ds.entries[0]))
    assert item["openpose18"].shape == (2, 18, 3)
    starts = [s for s in range(len(window["frames"]) - 3) if torch_equal(item["frames"].float() / 127.5 - 1, to_model_frames(window["frames"][[s, s + 3]], 16))]
    assert len(starts) >= 1  # the frames are the source frames at stride 3
    h, w = window["frames"].shape[1:3]
    assert any(np.allclose(item["openpose18"].numpy(), crop_resize_keypoints(window["openpose18"][[s, s + 3]], h, w, 16)) for s in starts)
    again = ds[0]
    assert torch_equal(again["frames"], item["frames"])  # deterministic per (seed, epoch, index)


def test_target_frames_strided_and_random():
    """`strided`: a uniform start then every stride-th frame; `random`: K distinct sorted frames anywhere in the window,
    every frame equally likely (each of 10 frames holds 8 of 10 places: 0.8 of the draws)."""
    rng = np.random.default_rng(0)
    strided = SampleSpec(frames=3, stride=2)
    for _ in range(50):
        t = target_frames(strided, 9, rng)
        assert t == list(range(t[0], t[0] + 5, 2)) and 0 <= t[0] <= 4
    random = SampleSpec(frames=8, order="random")
    draws = [target_frames(random, 10, rng) for _ in range(2000)]
    assert all(len(set(d)) == 8 and d == sorted(d) and 0 <= d[0] and d[-1] < 10 for d in draws)
    counts = np.bincount(np.concatenate(draws), minlength=10) / len(draws)
    assert np.abs(counts - 0.8).max() < 0.04
    assert any(np.diff(d).max() > 1 for d in draws)  # not always a clip
    with pytest.raises(ValueError, match="cannot hold 8"):
        target_frames(random, 7, rng)
    with pytest.raises(ValueError, match="stride must be 1"):
        SampleSpec(frames=4, stride=2, order="random")


def torch_equal(a, b):
    return bool((a - b).abs().max() == 0)


def test_reader_rejects_other_versions(sharded, tmp_path):
    out, _, _ = sharded
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["schema_version"] = 99
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / INDEX_FILE).write_bytes((out / INDEX_FILE).read_bytes())
    with pytest.raises(ShardError, match="schema version 99"):
        ShardReader(tmp_path)
    with pytest.raises(ShardError, match="not found"):
        ShardReader(tmp_path / "nowhere")


def test_decode_only_the_conditions_asked_for(sharded):
    out, _, data = sharded
    reader = ShardReader(out)
    clip = reader.read_clip("c0", conditions=("openpose18",))
    assert set(clip) == {"frames", "openpose18"}
    np.testing.assert_array_equal(clip["openpose18"], data["c0"]["openpose18"])
    with pytest.raises(ShardError, match="no conditions \\['smplx'\\]"):
        reader.read_clip("c0", conditions=("smplx",))


def test_image_records_round_trip_exactly_and_refuse_anything_else():
    from humanvid.shards.codec import DecodeError, decode_plane, depth_to_plane, encode_plane, plane_to_depth

    rng = np.random.default_rng(0)
    for image in (rng.integers(0, 256, (5, 7), dtype=np.uint8), rng.integers(0, 256, (6, 4, 3), dtype=np.uint8),
                  rng.integers(0, 65536, (3, 9), dtype=np.uint16)):  # fmt: skip
        back = decode_plane(encode_plane(image))
        assert back.dtype == image.dtype and np.array_equal(back, image)
    depth = np.array([[0.0, 1.2344, 65.6]], np.float32)  # metres: millimetre steps, clipped at 65.535 m
    np.testing.assert_allclose(plane_to_depth(depth_to_plane(depth)), [[0.0, 1.234, 65.535]], atol=1e-6)
    record = encode_plane(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    for bad, why in ((b"\x89PNG\r\n\x1a\n" + record[8:], "bad header"), (record[:-5], "does not decode"), (record[:6], "does not decode")):
        with pytest.raises(DecodeError, match=why):
            decode_plane(bad)
    with pytest.raises(ValueError, match="must be uint8/uint16"):
        encode_plane(np.zeros((4, 4), np.float32))
