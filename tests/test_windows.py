import pytest
import torch

from humanvid.sampling import coverage, fuse_windows, window_starts


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


def test_fuse_is_the_uniform_average_of_overlapping_predictions():
    n, window, overlap = 10, 4, 2  # starts 0, 2, 4, 6
    calls = []

    def predict(s, e):
        calls.append((s, e))
        # Each window predicts its own start index for every frame it covers.
        return torch.full((1, e - s, 2), float(s))

    fused = fuse_windows(n, window, overlap, predict)
    assert calls == [(0, 4), (2, 6), (4, 8), (6, 10)]
    expected = [0, 0, 1, 1, 3, 3, 5, 5, 6, 6]  # frames 2-3: mean(0, 2); 4-5: mean(2, 4); ...
    assert fused[0, :, 0].tolist() == expected
    assert coverage(n, window, overlap).tolist() == [1, 1, 2, 2, 2, 2, 2, 2, 1, 1]
