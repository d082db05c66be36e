"""Golden images for the condition renderers: a fixed synthdance pose drawn by each renderer must match
the stored PNG exactly. After an intended change, regenerate with HUMANVID_UPDATE_GOLDEN=1 and look at
the new images before committing them."""

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from humanvid.conditions import render_openpose18, render_wholebody
from humanvid.datasets.synthdance import SynthDanceOptions, render_clip
from humanvid.estimators.densepose import densepose_condition

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture(scope="module")
def pose():
    return render_clip(SynthDanceOptions(width=128, height=128, num_frames=1, seed=3), identity=0, clip=0)


def _check(name: str, image: np.ndarray) -> None:
    path = GOLDEN / f"{name}.png"
    if os.environ.get("HUMANVID_UPDATE_GOLDEN") == "1":
        Image.fromarray(image).save(path)
    assert path.is_file(), f"{path} missing: run with HUMANVID_UPDATE_GOLDEN=1 once and inspect it"
    np.testing.assert_array_equal(np.asarray(Image.open(path).convert("RGB")), image)


def test_openpose18_golden(pose):
    _check("openpose18", render_openpose18(pose["openpose18"][0], 128, 128))


def test_wholebody_golden(pose):
    img = render_wholebody(pose["wholebody133"][0], 128, 128)
    assert (img == [255, 0, 0]).all(-1).any() and (img == [255, 255, 255]).all(-1).any()  # hand joints, face points
    _check("wholebody", img)


def test_densepose_condition_golden(pose):
    _check("densepose_condition", densepose_condition(pose["iuv"][0]))
