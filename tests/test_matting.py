from typing import List, Optional

import numpy as np
import pytest
import torch
from torch import Tensor

from humanvid.datasets import Clip
from humanvid.estimators.matting import RobustVideoMatting, auto_downsample_ratio

CLIP = Clip("synthdance", "c0", "id0", "test", 12.0, 5, 40, 30, "clips/c0.mp4")


class TinyRVM(torch.nn.Module):
    """RVM's TorchScript call signature. Alpha = (frames seen so far, counted in the recurrent state
    r1) / 100 where the frame is bright, 0 elsewhere; r4 records the downsample ratio it was given."""

    def forward(self, src: Tensor, r1: Optional[Tensor] = None, r2: Optional[Tensor] = None, r3: Optional[Tensor] = None,
                r4: Optional[Tensor] = None, downsample_ratio: float = 1.0) -> List[Tensor]:  # fmt: skip
        b, t, c, h, w = src.shape
        seen = torch.zeros(b) if r1 is None else r1
        index = seen[:, None] + torch.arange(t, dtype=src.dtype)[None] + 1  # (B, T): running frame number
        bright = (src.mean(2, keepdim=True) > 0.5).to(src.dtype)  # (B, T, 1, H, W)
        pha = bright * (index / 100)[:, :, None, None, None]
        return [src, pha, seen + t, torch.zeros(1), torch.zeros(1), torch.tensor([downsample_ratio])]


@pytest.fixture
def rvm(tmp_path):
    path = tmp_path / "rvm_mobilenetv3_fp32.torchscript"
    torch.jit.script(TinyRVM()).save(str(path))
    return {"rvm-mobilenetv3": str(path)}


def test_recurrent_state_carries_across_chunks(rvm):
    est = RobustVideoMatting(torch.device("cpu"), torch.float32, "/nonexistent", overrides=rvm)
    est.chunk = 2  # 5 frames -> chunks of 2, 2, 1
    frames = np.zeros((5, 40, 30, 3), np.uint8)
    frames[:, 10:20, 5:15] = 255
    alpha = est(frames, CLIP)["alpha"]
    assert alpha.shape == (5, 40, 30) and alpha.dtype == np.uint8
    # Frame t's alpha is t+1 hundredths of 255 inside the bright block: the count never restarted.
    assert [int(a[15, 10]) for a in alpha] == [round((t + 1) / 100 * 255) for t in range(5)]
    assert not alpha[:, :10].any()


def test_downsample_ratio_and_bad_inputs(rvm, tmp_path):
    assert auto_downsample_ratio(1080, 1920) == pytest.approx(512 / 1920)
    assert auto_downsample_ratio(256, 200) == 1.0
    est = RobustVideoMatting(torch.device("cpu"), torch.float32, "/nonexistent", overrides=rvm)
    with pytest.raises(ValueError, match="no frames"):
        est(np.zeros((0, 8, 8, 3), np.uint8), CLIP)
    bad = tmp_path / "bad.torchscript"
    bad.write_bytes(b"nope")
    with pytest.raises(ValueError, match="bad.torchscript: not a loadable TorchScript model"):
        RobustVideoMatting(torch.device("cpu"), torch.float32, "/nonexistent", overrides={"rvm-mobilenetv3": str(bad)})
