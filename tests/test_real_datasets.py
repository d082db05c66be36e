"""The real-dataset plugins on small files the tests build in each source's real layout."""

import hashlib
import io
import zipfile

import numpy as np
import pytest
from httpfixture import LoopbackServer
from PIL import Image

from humanvid.datasets import LaionHuman, LocalVideos, TikTok
from humanvid.datasets.clips import CLIP_ID
from humanvid.datasets.local import identity_of
from humanvid.video import read_video, write_video

QUIET = lambda m: None  # noqa: E731


def _png(arr) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


# ----------------------------------------------------------------------------- local videos
def test_local_videos_split_80_20_flip_and_bad_files(tmp_path):
    src = tmp_path / "videos"
    (src / "anna").mkdir(parents=True)
    # Smooth, left-right asymmetric frames: lossy coding keeps them close, and a mirror is obvious.
    x = np.linspace(0, 200, 30)[None, None, :, None]
    frames = np.broadcast_to(x + np.arange(10)[:, None, None, None] * 5, (10, 24, 30, 3)).astype(np.uint8).copy()
    frames[:, 4:12, 2:8] = 255
    write_video(src / "anna" / "walk.mp4", frames, fps=30)
    (src / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not really")
    import av  # an mp4 with a video stream and zero frames

    with av.open(str(src / "empty.mp4"), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = 16, 16, "yuv420p"
        c.start_encoding()  # header written, no frame ever
    clips = LocalVideos("mine", {"path": str(src), "flip": True}).ingest(tmp_path / "out", QUIET)
    ok = {c.clip_id: c for c in clips if c.ok}
    anna = identity_of(src / "anna" / "walk.mp4", src)
    assert anna.startswith("anna-walk-") and sorted(ok) == [f"{anna}_test", f"{anna}_train", f"{anna}_train_flip"]  # test clips are never mirrored
    assert ok[f"{anna}_train"].num_frames == 8 and ok[f"{anna}_test"].num_frames == 2
    train = read_video(tmp_path / "out" / ok[f"{anna}_train"].source)
    flipped = read_video(tmp_path / "out" / ok[f"{anna}_train_flip"].source)
    assert np.abs(train[:, :, ::-1].astype(int) - flipped).mean() < 2  # a mirror image (up to H.264)
    assert np.abs(train.astype(int) - flipped).mean() > 40
    assert np.abs(train.astype(int) - frames[:8]).mean() < 2
    failed = {c.clip_id: c.error for c in clips if not c.ok}
    assert "corrupt.mp4" in failed["corrupt_train"] and "empty.mp4" in failed["empty_test"]


def test_local_ids_are_unique_and_non_empty_by_construction(tmp_path):
    root = tmp_path / "v"
    names = ["a/b.mp4", "a-b.mp4", "ÄÖÜ.mp4", "日本.mp4", "plain_name.mp4", "x y.mp4"]
    ids = [identity_of(root / n, root) for n in names]
    assert len(set(ids)) == len(ids) and all(ids) and ids[1] == "a-b" and ids[4] == "plain_name"
    assert all(CLIP_ID.match(i) for i in ids)
    frames = np.zeros((5, 16, 16, 3), np.uint8)
    for n in ("a.mp4", "a.mov"):
        write_video(root / n, frames, fps=10)
    with pytest.raises(ValueError, match=r"a\.mov and .*a\.mp4 would both be identity 'a': rename one"):
        LocalVideos("mine", {"path": str(root)}).ingest(tmp_path / "out", QUIET)


def test_the_shared_ingest_path_refuses_clip_ids_that_collide(tmp_path, tiny_params, monkeypatch):
    """Whatever the plugin: two clips with one id (one file written twice) or an id that cannot name a file
    stop the download stage with both sources named, and nothing is published."""
    from conftest import make_workspace

    from humanvid.datasets import DATASETS, DatasetPlugin, PluginOptions
    from humanvid.datasets.clips import Clip, check_clip_ids

    class Twice(DatasetPlugin):
        Options = PluginOptions

        def ingest(self, out_dir, progress=print, cache_dir=None):
            (out_dir / "clips").mkdir()
            return [Clip(self.name, "same", "i", "train", 10.0, 5, 16, 16, src) for src in ("clips/one.mp4", "clips/two.mp4")]

    monkeypatch.setitem(DATASETS._items, "twice_test_plugin", Twice)
    tiny_params["datasets"]["dup"] = {"plugin": "twice_test_plugin", "options": {}, "shard": {}}
    ws = make_workspace(tmp_path / "ws", tiny_params)
    from tasks import download

    with pytest.raises(SystemExit, match="two clips have the id 'same': from clips/one.mp4 and from clips/two.mp4"):
        download.main(["dup", "--workspace", str(ws)])
    assert not (ws / "data" / "raw" / "dup").exists()
    with pytest.raises(ValueError, match="cannot name a file"):
        check_clip_ids([Clip("d", "../up", "i", "train", 1.0, 1, 1, 1, "x")], "d")


def test_local_missing_folder_names_the_key(tmp_path):
    with pytest.raises(FileNotFoundError, match="datasets.mine.options.path"):
        LocalVideos("mine", {"path": str(tmp_path / "nope")}).ingest(tmp_path / "out", QUIET)


# ----------------------------------------------------------------------------- TikTok archive layout
@pytest.fixture
def tiktok_zip(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "served" / "TikTok_dataset.zip"
    path.parent.mkdir()
    with zipfile.ZipFile(path, "w") as zf:
        for video in (1, 2, 335):
            for f in range(1, 5):
                img = rng.integers(0, 255, (20, 12, 3), dtype=np.uint8)
                mask = np.zeros((20, 12), np.uint8)
                mask[5:15, 3:6] = 255
                base = f"TikTok_dataset/{video:05d}"
                zf.writestr(f"{base}/images/{f:04d}.png", _png(img))
                zf.writestr(f"{base}/masks/{f:04d}.png", _png(mask))
                if video != 2:  # one video without DensePose renderings
                    zf.writestr(f"{base}/densepose/{f:04d}.png", _png(img // 2))
                if video == 1:  # and one with 16-bit depth maps
                    zf.writestr(f"{base}/depth/{f:04d}.png", _png(np.full((20, 12), 1500 + f, np.uint16)))
        zf.writestr("TikTok_dataset/00003/images/", b"")  # a video folder with no frames
    return path


def test_tiktok_from_url_disco_split_annotations_and_cache(tmp_path, tiktok_zip):
    sha = hashlib.sha256(tiktok_zip.read_bytes()).hexdigest()
    with LoopbackServer(tiktok_zip.parent) as srv:
        opts = {"url": srv.url("files/TikTok_dataset.zip"), "sha256": sha, "flip": True}
        clips = TikTok("tiktok", opts).ingest(tmp_path / "out", QUIET, cache_dir=tmp_path / "cache")
        ok = {c.clip_id: c for c in clips if c.ok}
        assert sorted(ok) == ["00001", "00001_flip", "00002", "00002_flip", "00335"]  # the test video is not mirrored
        assert ok["00335"].split == "test" and ok["00001"].split == "train" and ok["00001_flip"].split == "train"
        assert (ok["00001"].num_frames, ok["00001"].width, ok["00001"].height) == (4, 12, 20)
        (bad,) = [c for c in clips if not c.ok]
        assert bad.clip_id == "00003" and "no frames" in bad.error
        ann = np.load(tmp_path / "out" / "annotations" / "00001.npz")
        flip = np.load(tmp_path / "out" / "annotations" / "00001_flip.npz")
        assert ann["alpha"].shape == (4, 20, 12) and set(np.unique(ann["alpha"])) == {0, 255}
        np.testing.assert_array_equal(flip["alpha"], ann["alpha"][:, :, ::-1])
        assert "densepose_vis" in ann and "densepose_vis" not in np.load(tmp_path / "out" / "annotations" / "00002.npz")
        assert ann["depth"].dtype == np.uint16 and ann["depth"][:, 0, 0].tolist() == [1501, 1502, 1503, 1504]
        np.testing.assert_array_equal(flip["depth"], ann["depth"][:, :, ::-1])
        # A re-run uses the cached, verified archive and its extraction: nothing is downloaded again.
        before = len(srv.requests)
        again = TikTok("tiktok", opts).ingest(tmp_path / "out2", QUIET, cache_dir=tmp_path / "cache")
        assert len(srv.requests) == before and [c.clip_id for c in again] == [c.clip_id for c in clips]


def test_tiktok_frame_split_and_bad_checksum(tmp_path, tiktok_zip):
    clips = TikTok("tiktok", {"archive": str(tiktok_zip), "split": "frames", "test_fraction": 0.25, "videos": [1]}).ingest(
        tmp_path / "out", QUIET, cache_dir=tmp_path / "cache"
    )
    assert [(c.clip_id, c.split, c.num_frames) for c in clips] == [("00001_train", "train", 3), ("00001_test", "test", 1)]
    with LoopbackServer(tiktok_zip.parent) as srv:
        from humanvid.datasets.fetch import FetchError

        with pytest.raises(FetchError, match="sha256"):
            TikTok("tiktok", {"url": srv.url("files/TikTok_dataset.zip"), "sha256": "0" * 64}).ingest(
                tmp_path / "o", QUIET, cache_dir=tmp_path / "cache2"
            )
        assert not (tmp_path / "cache2" / "TikTok_dataset.zip").exists()


# ----------------------------------------------------------------------------- LAION URL list
def test_laion_list_parallel_with_status_and_resume(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    for i in range(3):
        Image.fromarray(np.full((40, 30, 3), 60 * i, np.uint8)).save(served / f"img{i}.jpg")
    (served / "notimage.jpg").write_bytes(b"<html>not an image</html>")
    with LoopbackServer(served) as srv:
        lst = tmp_path / "urls.csv"
        urls = [srv.url(f"files/img{i}.jpg") for i in range(3)] + [srv.url("files/missing.jpg"), srv.url("files/notimage.jpg")]
        lst.write_text("key,url\n" + "\n".join(f"k{i},{u}" for i, u in enumerate(urls)) + "\n")
        opts = {"urls": str(lst), "workers": 3, "format": {"size": 16}, "retries": 0}
        clips = {c.clip_id: c for c in LaionHuman("laion", opts).ingest(tmp_path / "out", QUIET, cache_dir=tmp_path / "cache")}
        assert [k for k, c in clips.items() if c.ok] == ["k0", "k1", "k2"]
        assert "HTTP 404" in clips["k3"].error and "not a decodable image" in clips["k4"].error
        assert read_video(tmp_path / "out" / clips["k2"].source).shape == (1, 16, 16, 3)
        # A re-run asks again only for what is missing or failed to download.
        before = len(srv.requests)
        LaionHuman("laion", opts).ingest(tmp_path / "out2", QUIET, cache_dir=tmp_path / "cache")
        assert sorted(p for p, _ in srv.requests[before:]) == ["/files/missing.jpg"]
        lst.write_text("key,url\nk0,http://a/x.jpg\nk0,http://a/y.jpg\n")
        with pytest.raises(ValueError, match="key 'k0' repeats"):
            LaionHuman("laion", opts).ingest(tmp_path / "out3", QUIET, cache_dir=tmp_path / "cache")


# ----------------------------------------------------------------------------- NTU RGB+D 120 archives
def _skeleton_text(frames: int, bodies: int = 1) -> str:
    lines = [str(frames)]
    for t in range(frames):
        lines.append(str(bodies))
        for b in range(bodies):
            lines.append("72057594037944738 0 1 1 1 1 0 0.01 -0.25 2")
            lines.append("25")
            for j in range(25):
                x, y, z = 0.1 * j + 0.01 * t + b, 0.2, 3.0
                lines.append(f"{x} {y} {z} 250.5 200.5 {960 + j} {540 + t} 0 0 0 1 2")
    return "\n".join(lines) + "\n"


@pytest.fixture
def ntu_archives(tmp_path):
    import av

    root = tmp_path / "ntu"
    root.mkdir()
    names = ["S001C001P001R001A001", "S001C002P003R002A013"]  # performer 1 trains, 3 tests (cross-subject)
    with zipfile.ZipFile(root / "nturgbd_rgb_s001.zip", "w") as zf:
        for name in names:
            avi = tmp_path / f"{name}_rgb.avi"
            with av.open(str(avi), "w") as c:
                s = c.add_stream("mpeg4", rate=30)
                s.width, s.height, s.pix_fmt = 64, 36, "yuv420p"
                for t in range(5):
                    frame = np.full((36, 64, 3), 40 * t, np.uint8)
                    for p in s.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                        c.mux(p)
                for p in s.encode():
                    c.mux(p)
            zf.write(avi, f"nturgb+d_rgb/{name}_rgb.avi")
    with zipfile.ZipFile(root / "nturgbd_depth_masked_s001.zip", "w") as zf:
        for name in names:
            for t in range(5):
                zf.writestr(f"nturgb+d_depth_masked/{name}/MDepth-{t + 1:08d}.png", _png(np.full((424, 512), 1000 + t, np.uint16)))
    with zipfile.ZipFile(root / "nturgbd_skeletons_s001_to_s017.zip", "w") as zf:
        for name in names:
            zf.writestr(f"nturgb+d_skeletons/{name}.skeleton", _skeleton_text(5, bodies=2 if "P003" in name else 1))
    return root


def test_ntu120_pairs_modalities_parses_names_and_splits(tmp_path, ntu_archives):
    from humanvid.datasets import NTU120

    clips = NTU120("ntu120", {"archives": str(ntu_archives), "format": {"size": 32}}).ingest(tmp_path / "out", QUIET, tmp_path / "cache")
    assert [(c.clip_id, c.identity, c.split, c.num_frames, c.ok) for c in clips] == [
        ("S001C001P001R001A001", "P001", "train", 5, True),
        ("S001C002P003R002A013", "P003", "test", 5, True),
    ]
    ann = np.load(tmp_path / "out" / "annotations" / "S001C001P001R001A001.npz")
    assert ann["depth_mm"].shape == (5, 424, 512) and ann["depth_mm"].dtype == np.uint16 and ann["depth_mm"][4, 0, 0] == 1004
    assert ann["joints3d"].shape == (5, 25, 3) and ann["joints_rgb"][2, 3].tolist() == [963.0, 542.0]
    assert ann["joints_depth"][2, 3].tolist() == [250.5, 200.5] and ann["frame_index"].tolist() == [0, 1, 2, 3, 4]
    # 64 × 36 source, centre crop 36 wide from x = 14, resized to 32: x' = (x - 14) · 32/36, y' = y · 32/36.
    np.testing.assert_allclose(ann["rgb_to_clip"], [[32 / 36, 0, -14 * 32 / 36], [0, 32 / 36, 0]])
    NTU120("ntu120", {"archives": str(ntu_archives), "format": {"size": 32}, "flip": True}).ingest(tmp_path / "flip", QUIET, tmp_path / "cache")
    mirrored = np.load(tmp_path / "flip" / "annotations" / "S001C001P001R001A001_flip.npz")  # x' = 32 - x
    np.testing.assert_allclose(mirrored["rgb_to_clip"], [[-32 / 36, 0, 32 + 14 * 32 / 36], [0, 32 / 36, 0]])
    assert np.array_equal(mirrored["depth_mm"], ann["depth_mm"])
    two = np.load(tmp_path / "out" / "annotations" / "S001C002P003R002A013.npz")
    assert two["joints3d"][0, 0, 0] == pytest.approx(1.0)  # the second body moves more: it is the main one
    import pyarrow.parquet as pq

    rows = pq.read_table(tmp_path / "out" / "ntu_samples.parquet").to_pylist()
    assert rows[1] == {"clip_id": "S001C002P003R002A013", "setup": 1, "camera": 2, "performer": 3, "replication": 2, "action": 13}


def test_ntu120_missing_archives_say_exactly_which(tmp_path, ntu_archives):
    from humanvid.datasets import NTU120

    (ntu_archives / "nturgbd_depth_masked_s001.zip").unlink()
    with pytest.raises(FileNotFoundError) as err:
        NTU120("ntu120", {"archives": str(ntu_archives), "setups": [1, 18]}).ingest(tmp_path / "out", QUIET, tmp_path / "cache")
    msg = str(err.value)
    for name in ("nturgbd_depth_masked_s001.zip", "nturgbd_rgb_s018.zip", "nturgbd_depth_masked_s018.zip", "nturgbd_skeletons_s018_to_s032.zip"):
        assert name in msg
    assert "nturgbd_rgb_s001.zip," not in msg and "rose1.ntu.edu.sg" in msg
    (ntu_archives / "nturgbd_depth_masked_s001.zip").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ValueError, match="not a readable zip"):
        NTU120("ntu120", {"archives": str(ntu_archives)}).ingest(tmp_path / "out", QUIET, tmp_path / "cache")


# ----------------------------------------------------------------------------- TED-talks: CSV + yt-dlp
def test_ted_csv_to_videos_via_yt_dlp_and_bad_rows(tmp_path, monkeypatch):
    import humanvid.video
    from humanvid.datasets import TEDTalks

    decodes = []
    real_iter = humanvid.video.iter_frames
    monkeypatch.setattr(humanvid.video, "iter_frames", lambda path: decodes.append(path) or real_iter(path))

    served = tmp_path / "served"
    served.mkdir()
    x = np.linspace(0, 250, 96)[None, :, None]
    frames = np.stack([np.broadcast_to(x, (48, 96, 3)).astype(np.uint8) for _ in range(40)])
    write_video(served / "talkA.mp4", frames, fps=30)
    csv_path = tmp_path / "ted.csv"
    csv_path.write_text(
        "video_id,start,end,bbox,fps,width,height,partition\n"
        "talkA#000000#000010,0,0,40-10-80-50,10.0,192,96,train\n"  # frames [0, 10) at 10 fps = 1 s
        "talkA#000010#000013,0,0,10-0-50-40,10.0,192,96,test\n"
        "talkA#000013#000014,0,0,80-50-40-10,10.0,192,96,train\n"  # right < left: a bad bbox
        "gone#000000#000010,0,0,40-10-80-50,10.0,192,96,train\n"  # the source video is missing (404)
    )
    with LoopbackServer(served) as srv:
        template = srv.url("files/{id}.mp4")
        clips = TEDTalks("ted", {"metadata": str(csv_path), "url_template": template, "pause": 0, "retries": 0}).ingest(
            tmp_path / "out", QUIET, tmp_path / "cache"
        )
        by_id = {c.clip_id: c for c in clips}
        a = by_id["talkA_000000_000010"]
        assert a.ok and (a.width, a.height, a.fps, a.split) == (1024, 512, 25.0, "train")
        assert a.num_frames == 25  # 30 source frames (1 s at 30 fps) resampled to 25 fps
        assert by_id["talkA_000010_000013"].split == "test" and by_id["talkA_000010_000013"].num_frames == 7  # 0.3 s at 25 fps
        assert not by_id["row4"].ok and "ted.csv row 4: bad bbox '80-50-40-10'" in by_id["row4"].error
        assert not by_id["gone_000000_000010"].ok and "gone" in by_id["gone_000000_000010"].error
        assert len(decodes) == 1  # one decoding pass serves every tracklet of a source video
        # MRAA's preset: the bbox crop at 384 x 384 and the source rate; the source comes from the cache.
        before = len(srv.requests)
        opts = {"metadata": str(csv_path), "url_template": template, "pause": 0, "preset": "mraa384", "limit": 1, "flip": True}
        mraa = TEDTalks("ted", opts).ingest(tmp_path / "out2", QUIET, tmp_path / "cache")
        ok = [c for c in mraa if c.ok]
        assert [(c.clip_id, c.width, c.height, c.num_frames) for c in ok] == [
            ("talkA_000000_000010", 384, 384, 30), ("talkA_000000_000010_flip", 384, 384, 30)]
        assert len(srv.requests) == before


# ----------------------------------------------------------------------------- Make-Your-Anchor own video
def test_anchor_own_video_fixed_clips_split_9_to_1(tmp_path):
    from humanvid.datasets import Anchor

    x = np.linspace(0, 250, 48)[None, :, None]
    frames = np.stack([np.broadcast_to(x + t, (32, 48, 3)).astype(np.uint8) for t in range(50)])
    write_video(tmp_path / "host.mp4", frames, fps=10)  # 5 s at 10 fps
    clips = Anchor("me", {"videos": str(tmp_path / "host.mp4"), "clip_frames": 4, "format": {"size": 16, "fps": 5.0}}).ingest(
        tmp_path / "out", QUIET
    )
    # 25 frames at 5 fps -> six 4-frame clips (one frame dropped); ceil(10%) = 1 test clip, the last.
    assert [(c.clip_id, c.split, c.num_frames, c.width) for c in clips] == [(f"host_{k:03d}", "train", 4, 16) for k in range(5)] + [
        ("host_005", "test", 4, 16)
    ]
    short = Anchor("me", {"videos": str(tmp_path / "host.mp4")}).ingest(tmp_path / "out2", QUIET)  # 300-frame clips: too short
    assert not short[0].ok and "shorter than one 300-frame clip" in short[0].error


def test_killed_ingest_resumes_to_the_same_result(tmp_path, tiny_params):
    import os
    import signal
    import subprocess
    import sys
    import time

    from conftest import make_workspace

    from humanvid.datasets import read_clip_table
    from tasks import download

    served = tmp_path / "served"
    served.mkdir()
    for i in range(6):
        Image.fromarray(np.full((24, 24, 3), 30 * i, np.uint8)).save(served / f"img{i}.png")
    with LoopbackServer(served) as srv:
        lst = tmp_path / "urls.csv"
        lst.write_text("key,url\n" + "".join(f"k{i},{srv.url(f'slowish/img{i}.png')}\n" for i in range(6)))
        params = dict(tiny_params, datasets={"humans": {"plugin": "laion_human", "shard": {},
                      "options": {"urls": str(lst), "workers": 1, "format": {"size": 16}}}}, estimators={}, models={}, samplers={}, tables={})  # fmt: skip
        killed, clean = make_workspace(tmp_path / "killed", params), make_workspace(tmp_path / "clean", params)
        proc = subprocess.Popen([sys.executable, "-m", "tasks.download", "humans"], cwd=killed, stderr=subprocess.DEVNULL)
        cache = killed / "data" / "cache" / "humans" / "images"
        deadline = time.monotonic() + 60
        while not (cache / "k2").exists() and time.monotonic() < deadline:  # halfway: some images are in
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert not (killed / "data" / "raw" / "humans").exists()  # nothing that looks done
        before = len(srv.requests)
        download.main(["humans", "--workspace", str(killed)])
        refetched = [p for p, _ in srv.requests[before:]]
        assert "/slowish/img0.png" not in refetched and "/slowish/img5.png" in refetched  # only what was missing
        download.main(["humans", "--workspace", str(clean)])
    a = read_clip_table(killed / "data/raw/humans/clips.parquet")
    b = read_clip_table(clean / "data/raw/humans/clips.parquet")
    assert a == b and all(c.ok for c in a) and len(a) == 6
    for c in a:
        np.testing.assert_array_equal(read_video(killed / "data/raw/humans" / c.source), read_video(clean / "data/raw/humans" / c.source))


# ----------------------------------------------------------------------------- TalkSHOW / SHOW release
def _show_params(frames: int) -> dict:
    rng = np.random.default_rng(0)
    return {"width": 64, "height": 48, "center": np.array([32.0, 24.0]), "batch_size": frames, "camera_transl": rng.normal(size=3),
            "focal_length": 500.0, "body_pose_axis": rng.normal(size=(frames, 21, 3)), "expression": rng.normal(size=(frames, 100)),
            "jaw_pose": rng.normal(size=(frames, 3)), "betas": rng.normal(size=300), "global_orient": rng.normal(size=(frames, 3)),
            "transl": rng.normal(size=(frames, 3)), "left_hand_pose": rng.normal(size=(frames, 12)),
            "right_hand_pose": rng.normal(size=(frames, 12)), "leye_pose": np.zeros((frames, 3)), "reye_pose": np.zeros((frames, 3))}  # fmt: skip


def test_talkshow_release_layout_smplx_annotations_and_safe_pickles(tmp_path):
    import pickle
    import tarfile

    from humanvid.datasets import TalkShow
    from humanvid.datasets.talkshow import UnsafePickleError, load_params

    video_fn = "Some_Show_-_A_Closer_Look-pVAD70eSWA8.mp4"
    videos = tmp_path / "videos" / "seth" / "videos"
    videos.mkdir(parents=True)
    x = np.linspace(0, 250, 64)[None, :, None]
    write_video(videos / video_fn, np.stack([np.broadcast_to(x + t, (48, 64, 3)).astype(np.uint8) for t in range(90)]), fps=30)
    staging = tmp_path / "staging" / "seth" / video_fn
    staging.mkdir(parents=True)
    (staging / "5046-00_00_01-00_00_02.pkl").write_bytes(pickle.dumps(_show_params(30)))  # frames 30-59
    (staging / "5047-00_00_02-00_00_05.pkl").write_bytes(pickle.dumps(_show_params(90)))  # runs past the video's end
    archives = tmp_path / "archives"
    archives.mkdir()
    with tarfile.open(archives / "seth_pkl_tar.tar.gz", "w:gz") as tf:
        tf.add(tmp_path / "staging" / "seth", arcname="seth")
    clips = TalkShow("show", {"archives": str(archives), "videos": str(tmp_path / "videos"), "speakers": ["seth"],
                              "format": {"size": 32, "fps": 30.0}}).ingest(tmp_path / "out", QUIET, tmp_path / "cache")  # fmt: skip
    ok, bad = [c for c in clips if c.ok], [c for c in clips if not c.ok]
    assert [(c.clip_id, c.identity, c.num_frames, c.width) for c in ok] == [("seth_pVAD70eSWA8_5046-00_00_01-00_00_02", "seth", 30, 32)]
    assert "ends after 30 of the sequence's 90 frames" in bad[0].error and not (tmp_path / "out" / bad[0].source).exists()
    frames = read_video(tmp_path / "out" / ok[0].source)
    assert abs(int(frames[0, 16, 16, 0]) - int(frames[-1, 16, 16, 0])) > 10  # the clip moves: it is frames 30-59, not a still
    ann = np.load(tmp_path / "out" / "annotations" / f"{ok[0].clip_id}.npz")
    assert ann["body_pose_axis"].shape == (30, 21, 3) and ann["betas"].shape == (300,) and ann["expression"].shape == (30, 100)

    class Exploit:
        def __reduce__(self):
            return (print, ("owned",))

    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"betas": Exploit()}))
    with pytest.raises(UnsafePickleError, match="builtins.print"):
        load_params(evil)


def test_a_signed_url_never_reaches_dvc_lock_status_or_the_log(tmp_path, tiktok_zip, tiny_params):
    """A dataset fetched from a signed URL: the download stage records the options with the query values
    blanked and a digest of them as written; changing the signature re-runs it, and says so without it."""
    import subprocess
    import sys

    import yaml
    from conftest import make_workspace

    secret = "s3cr3tSIGNATURE"
    with LoopbackServer(tiktok_zip.parent) as srv:
        tiny_params["datasets"]["tt"] = {"plugin": "tiktok", "options": {"url": srv.url(f"files/TikTok_dataset.zip?sig={secret}&exp=1")}, "shard": {}}
        ws = make_workspace(tmp_path / "ws", tiny_params)
        import os
        from pathlib import Path

        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "PREFECT_HOME": str(tmp_path / "ph")}
        env.pop("PREFECT_API_URL", None)
        run = lambda *a: subprocess.run([sys.executable, "-m", *a], cwd=ws, capture_output=True, text=True, env=env)  # noqa: E731
        proc = run("dvc", "repro", "--single-item", "download@tt")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert secret not in proc.stdout + proc.stderr
        lock = (ws / "dvc.lock").read_text()
        assert secret not in lock and "sig=***" in lock and "options_sha256" in lock
        assert secret not in (ws / "pipeline.yaml").read_text()
        params = yaml.safe_load((ws / "params.yaml").read_text())
        params["datasets"]["tt"]["options"]["url"] = srv.url("files/TikTok_dataset.zip?sig=an0therSIG&exp=2")
        (ws / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        proc = run("flows.cli", "stage", "download@tt")  # through Prefect: its log shows the stage's reasons
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out
        assert "an0therSIG" not in out and secret not in out and "ran in" in out
        assert "an0therSIG" not in (ws / "dvc.lock").read_text()
        from flows.workspace import stage_status
        from humanvid.validate import load_config

        assert stage_status(ws, ["download@tt"], load_config(ws / "params.yaml")) == {}
        params["datasets"]["tt"]["options"]["url"] = srv.url(f"files/TikTok_dataset.zip?sig={secret}2&exp=3")
        (ws / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        from humanvid.pipeline import write_plan

        write_plan(ws, load_config(ws / "params.yaml"))
        reasons = stage_status(ws, ["download@tt"], load_config(ws / "params.yaml"))["download@tt"]
        assert any("options_sha256" in r for r in reasons) and not any(secret in r for r in reasons)
