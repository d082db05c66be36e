import numpy as np
import pytest

from humanvid.video import VideoError, probe_video, read_video, write_video


def test_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    frames = np.repeat(rng.integers(0, 256, (1, 16, 24, 3), dtype=np.uint8), 5, axis=0)
    frames[:, 4:8] = 200
    write_video(tmp_path / "a.mp4", frames, fps=12.5)
    back = read_video(tmp_path / "a.mp4")
    assert back.shape == frames.shape
    assert np.abs(back.astype(int) - frames).mean() < 8
    info = probe_video(tmp_path / "a.mp4")
    assert (info.num_frames, info.width, info.height) == (5, 24, 16) and info.fps == pytest.approx(12.5)
    assert not list(tmp_path.glob(".*tmp*"))  # nothing left aside


def test_bad_inputs_name_the_file(tmp_path):
    with pytest.raises(VideoError, match="missing.mp4: video file not found"):
        read_video(tmp_path / "missing.mp4")
    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100)
    with pytest.raises(VideoError, match="corrupt.mp4"):
        read_video(bad)
    with pytest.raises(ValueError, match="even width and height"):
        write_video(tmp_path / "odd.mp4", np.zeros((2, 15, 16, 3), np.uint8), fps=10)
    with pytest.raises(ValueError, match="non-empty uint8"):
        write_video(tmp_path / "empty.mp4", np.zeros((0, 16, 16, 3), np.uint8), fps=10)
    assert not (tmp_path / "odd.mp4").exists() and not (tmp_path / "empty.mp4").exists()

