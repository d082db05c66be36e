import hashlib
import subprocess
import sys

import pytest
from httpfixture import LoopbackServer

from humanvid import weights
from humanvid.datasets.fetch import FetchError


@pytest.fixture
def served_weight(tmp_path, monkeypatch):
    root = tmp_path / "served"
    root.mkdir()
    data = b"\x89ONNX" + bytes(range(256)) * 64
    (root / "tiny.onnx").write_bytes(data)
    monkeypatch.setenv("HUMANVID_WEIGHTS_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("HUMANVID_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with LoopbackServer(root) as srv:
        src = weights.WeightSource("tiny-test", "tests", "MIT", url=srv.url("files/tiny.onnx"), sha256=hashlib.sha256(data).hexdigest(), size=len(data))
        monkeypatch.setitem(weights.WEIGHTS, "tiny-test", src)
        yield src, data, srv


def test_missing_weight_says_what_to_fetch(served_weight):
    with pytest.raises(weights.MissingWeightsError) as err:
        weights.resolve("tiny-test")
    msg = str(err.value)
    assert "humanvid weights fetch tiny-test" in msg and "weights.overrides.tiny-test" in msg and "tiny.onnx" in msg
    assert weights.verify("tiny-test")[0] == "missing"


def test_fetch_verify_and_detect_corruption(served_weight):
    src, data, srv = served_weight
    path = weights.fetch("tiny-test", progress=lambda m: None)
    assert path == weights.cached_path("tiny-test") and path.read_bytes() == data
    assert weights.resolve("tiny-test") == str(path)
    assert weights.verify("tiny-test")[0] == "ok"
    path.write_bytes(data[:-1] + b"!")
    status, detail = weights.verify("tiny-test")
    assert status == "bad" and "sha256" in detail


def test_bad_checksum_offline_and_overrides(served_weight, monkeypatch, tmp_path):
    src, data, srv = served_weight
    monkeypatch.setitem(weights.WEIGHTS, "tiny-test", weights.WeightSource("tiny-test", "tests", "MIT", url=src.url, sha256="0" * 64))
    with pytest.raises(FetchError, match="sha256"):
        weights.fetch("tiny-test", progress=lambda m: None)
    assert not weights.cached_path("tiny-test").exists()
    monkeypatch.setenv("HUMANVID_OFFLINE", "1")
    with pytest.raises(weights.MissingWeightsError, match="offline mode"):
        weights.fetch("tiny-test")
    local = tmp_path / "mine.onnx"
    local.write_bytes(data)
    assert weights.resolve("tiny-test", overrides={"tiny-test": str(local)}) == str(local)
    with pytest.raises(weights.MissingWeightsError, match="weights.overrides.tiny-test"):
        weights.resolve("tiny-test", overrides={"tiny-test": str(tmp_path / "nope.onnx")})
    with pytest.raises(KeyError, match="unknown weight"):
        weights.resolve("nonexistent")


def test_cli_lists_every_weight_with_its_source_and_licence(tmp_path):
    env = {"HUMANVID_WEIGHTS_DIR": str(tmp_path), "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "flows.cli", "weights", "list"], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    for name in ("dwpose-yolox-l", "dwpose-ll-ucoco-384", "openpose-body", "rvm-mobilenetv3", "densepose-r50-fpn-s1x", "sd15"):
        assert f"| {name} |" in out.stdout
    assert "hf://yzd-v/DWPose/dw-ll_ucoco_384.onnx" in out.stdout and "(offline)" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "flows.cli", "weights", "verify", "openpose-body"], capture_output=True, text=True, env=env)
    assert bad.returncode == 1 and "missing" in bad.stdout


def test_weights_without_a_direct_download_say_where_they_come_from(tmp_path, monkeypatch):
    monkeypatch.setenv("HUMANVID_WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(weights.MissingWeightsError, match=r"no direct download: it is published on Google Drive .*r3d50-kinetics/resnet-50-kinetics\.pth"):
        weights.fetch("r3d50-kinetics")
    placed = tmp_path / "i3d-kinetics400" / "i3d_pretrained_400.pt"
    placed.parent.mkdir()
    placed.write_bytes(b"\0" * 8)
    assert weights.find("i3d-kinetics400") == placed  # placed by hand where the message says: found
    status, detail = weights.verify("i3d-kinetics400")
    assert status == "bad" and str(placed) in detail and "not a readable torch checkpoint" in detail  # found, but not loadable
    import torch
    from metric_weights import i3d_state

    torch.save(i3d_state(), placed)
    assert weights.verify("i3d-kinetics400")[0] == "ok"


class _RunsCode:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned > /tmp/humanvid-pwned",))


def _hostile_files(tmp_path):
    import pickle

    import torch
    from metric_weights import fid_inception_state

    good = fid_inception_state()
    files = {}
    files["code"] = tmp_path / "code.pth"
    files["code"].write_bytes(pickle.dumps({"x": _RunsCode()}, protocol=2))
    files["keys"] = tmp_path / "keys.pth"
    torch.save({"Conv2d_1a_3x3.conv.weight": good["Conv2d_1a_3x3.conv.weight"], "nonsense.weight": torch.zeros(2)}, files["keys"])
    files["truncated"] = tmp_path / "truncated.pth"
    torch.save(good, tmp_path / "full.pth")
    files["truncated"].write_bytes((tmp_path / "full.pth").read_bytes()[:5000])
    files["empty"] = tmp_path / "empty.pth"
    files["empty"].write_bytes(b"")
    return files


@pytest.mark.parametrize("kind, words", [("code", "holds Python objects besides tensors"), ("keys", "does not match FIDInceptionV3"),
                                         ("truncated", "not a readable torch checkpoint"), ("empty", "is empty")])  # fmt: skip
def test_a_bad_override_is_refused_safely_naming_the_key_and_the_file(tmp_path, kind, words):
    import os

    from humanvid.metrics.network_metrics import build_network
    from humanvid.state_dicts import WeightFileError

    path = _hostile_files(tmp_path)[kind]
    overrides = {"fid-inception": str(path)}
    with pytest.raises(WeightFileError) as err:
        build_network("fid-inception", overrides)
    message = str(err.value)
    assert message.startswith("weights.overrides.fid-inception: ") and str(path) in message and words in message
    assert "weights_only" not in message and "Traceback" not in message
    assert not os.path.exists("/tmp/humanvid-pwned")  # nothing ran
    status, detail = weights.verify("fid-inception", overrides)
    assert status == "bad" and "weights.overrides.fid-inception" in detail and words in detail
    assert weights.loadable("fid-inception", overrides) is not None  # status does not call it "weights now on this machine"
