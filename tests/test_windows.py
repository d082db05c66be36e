import pytest
import torch

from humanvid.sampling import coverage, fuse_windows, window_frames, window_starts


@pytest.mark.parametrize(
    "n, window, overlap, starts",
    [(24, 8, 2, [0, 6, 12, 16]), (16, 16, 4, [0]), (5, 8, 2, [0]), (20, 8, 0, [0, 8, 12]), (17, 16, 4, [0, 1])],
)
def test_window_starts(n, window, overlap, starts):
    got = window_starts(n, window, overlap)
    assert got == starts
    assert all(s + min(window, n) <= n for s in got)  # no window runs past the end
    assert coverage(n, window, overlap).min() >= 1  # every frame covered


def test_bad_windows():
    with pytest.raises(ValueError, match="overlap < window"):
        window_starts(10, 4, 4)
    with pytest.raises(ValueError, match="overlap < window"):
        window_frames(10, 4, 4, "closed_loop")


@pytest.mark.parametrize(
    "n, window, overlap, expected",
    [
        # MagicAnimate's released `uniform` schedule at its defaults: starts 0, 12, 24, ... < n, indices mod n.
        (30, 16, 4, [list(range(16)), list(range(12, 28)), [24, 25, 26, 27, 28, 29] + list(range(10))]),
        (24, 16, 4, [list(range(16)), list(range(12, 24)) + list(range(4))]),
        (16, 16, 4, [list(range(16))]),  # one window: no wrap
        (10, 16, 4, [list(range(10))]),  # shorter than a window: the whole clip
        (10, 4, 1, [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9], [9, 0, 1, 2]]),
    ],
)
def test_closed_loop_windows_wrap_around_exactly(n, window, overlap, expected):
    assert window_frames(n, window, overlap, "closed_loop") == expected


def test_closed_loop_coverage_is_uniform_where_the_schedule_says():
    # 30 frames, 16/4: frames 0-9 in windows 1 and 3, 10-11 in 1 only, 12-15 in 1 and 2, 16-23 in 2, 24-27 in 2 and 3, 28-29 in 3.
    cov = coverage(30, 16, 4, "closed_loop")
    assert cov.tolist() == [2] * 10 + [1] * 2 + [2] * 4 + [1] * 8 + [2] * 4 + [1] * 2


def test_fuse_is_the_uniform_average_of_overlapping_predictions():
    n, window, overlap = 10, 4, 2  # starts 0, 2, 4, 6
    calls = []

    def predict(frames):
        calls.append(frames[:, 0].tolist())
        # Each window predicts its own start index for every frame it covers.
        return frames[:, :1].float().expand(-1, frames.shape[1]).unsqueeze(-1).repeat(1, 1, 2)

    fused = fuse_windows(n, window_frames(n, window, overlap), predict)
    assert calls == [[0], [2], [4], [6]]
    expected = [0, 0, 1, 1, 3, 3, 5, 5, 6, 6]  # frames 2-3: mean(0, 2); 4-5: mean(2, 4); ...
    assert fused[:, 0].tolist() == expected
    assert coverage(n, window, overlap).tolist() == [1, 1, 2, 2, 2, 2, 2, 2, 1, 1]


def test_fuse_weights_with_wrap_around_and_batching_are_exact():
    """Closed loop, 3 windows batched 2 + 1: each frame's value is the mean of its windows' values."""
    n, window, overlap = 30, 16, 4
    windows = window_frames(n, window, overlap, "closed_loop")
    calls = []

    def predict(frames):  # window i predicts i + 1 for all its frames
        calls.append(frames.shape[0])
        ids = torch.tensor([windows.index(f.tolist()) + 1.0 for f in frames])
        return ids.view(-1, 1, 1).expand(-1, frames.shape[1], 1)

    fused = fuse_windows(n, windows, predict, batch=2)
    assert calls == [2, 1]
    # frames 0-9: windows 1 and 3 -> 2; 10-11: 1; 12-15: (1+2)/2; 16-23: 2; 24-27: (2+3)/2; 28-29: 3
    assert fused[:, 0].tolist() == [2.0] * 10 + [1.0] * 2 + [1.5] * 4 + [2.0] * 8 + [2.5] * 4 + [3.0] * 2
    assert torch.equal(fused, fuse_windows(n, windows, predict, batch=1))  # batching does not change the result


@pytest.mark.parametrize(
    "n, window, overlap, expected",
    [
        # Make-Your-Anchor's `get_overlap_slide_window_indices`: starts range(0, n, w - o), cut at n, no wrap.
        (30, 16, 4, [list(range(16)), list(range(12, 28)), list(range(24, 30))]),
        (24, 16, 4, [list(range(16)), list(range(12, 24))]),
        (20, 8, 2, [list(range(8)), list(range(6, 14)), list(range(12, 20)), list(range(18, 20))]),
        (16, 16, 4, [list(range(16))]),
        (10, 32, 8, [list(range(10))]),
    ],
)
def test_truncated_windows_are_cut_at_the_end(n, window, overlap, expected):
    assert window_frames(n, window, overlap, "truncated") == expected


def test_truncated_windows_are_averaged_by_count_whatever_their_length():
    """Windows of 16, 16 and 6 frames (30 frames, 16/4), each predicting its index + 1: frames in two windows get
    the mean of two, the short last window goes in a call of its own."""
    n, windows = 30, window_frames(30, 16, 4, "truncated")
    calls = []

    def predict(frames):
        calls.append(tuple(frames.shape))
        ids = torch.tensor([windows.index(f.tolist()) + 1.0 for f in frames])
        return ids.view(-1, 1, 1).expand(-1, frames.shape[1], 1)

    fused = fuse_windows(n, windows, predict, batch=4)
    assert calls == [(2, 16), (1, 6)]
    assert fused[:, 0].tolist() == [1.0] * 12 + [1.5] * 4 + [2.0] * 8 + [2.5] * 4 + [3.0] * 2
    assert coverage(n, 16, 4, "truncated").tolist() == [1] * 12 + [2] * 4 + [1] * 8 + [2] * 4 + [1] * 2


def test_an_unknown_schedule_is_refused():
    with pytest.raises(ValueError, match="unknown window schedule 'loop'"):
        window_frames(30, 16, 4, "loop")
