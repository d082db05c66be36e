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


def test_the_lock_records_a_weight_on_first_fetch_and_refuses_changed_bytes(served_weight, isolated_weights, tmp_path):
    """weights.lock: the first fetch records every file's sha256 (published digest or not); a later load checks them,
    and a file with other bytes is refused naming both digests — also for a folder weight placed by hand."""
    import json

    from humanvid.weights_lock import WeightDigestError, lock_path, tree_digest

    src, data, srv = served_weight
    path = weights.fetch("tiny-test", progress=lambda m: None)
    entry = json.loads(lock_path().read_text())["tiny-test"]
    assert entry["files"] == {"tiny.onnx": hashlib.sha256(data).hexdigest()} and entry["source"] == src.url
    assert weights.locked_digest("tiny-test") == tree_digest(entry["files"])
    assert weights.resolve("tiny-test") == str(path)
    # Same size, same name, other bytes (a re-upload): the published checksum is gone, the lock still refuses.
    changed = data[:-1] + b"!"
    path.write_bytes(changed)
    weights.WEIGHTS["tiny-test"] = weights.WeightSource("tiny-test", "tests", "MIT", url=src.url)
    with pytest.raises(WeightDigestError) as err:
        weights.resolve("tiny-test")
    assert hashlib.sha256(changed).hexdigest() in str(err.value) and hashlib.sha256(data).hexdigest() in str(err.value)
    assert weights.verify("tiny-test")[0] == "bad"
    # A folder weight placed by hand: recorded on its first load (no fetch), then a file added to it is named.
    folder = tmp_path / "folder-weight"
    (folder / "unet").mkdir(parents=True)
    (folder / "unet" / "model.safetensors").write_bytes(b"abc")
    (folder / ".cache" / "huggingface").mkdir(parents=True)
    (folder / ".cache" / "huggingface" / "download.lock").write_bytes(b"bookkeeping")
    weights.WEIGHTS["folder-test"] = weights.WeightSource("folder-test", "tests", "MIT", repo="someone/folder")
    overrides = {"folder-test": str(folder)}
    weights.resolve("folder-test", overrides)
    assert "folder-test" not in json.loads(lock_path().read_text())  # loaded, not yet pinned: `verify` pins it
    assert weights.locked_digest("folder-test") is None
    weights.pinned("folder-test", folder, record=True)
    assert list(json.loads(lock_path().read_text())["folder-test"]["files"]) == ["unet/model.safetensors"]
    (folder / "unet" / "extra.bin").write_bytes(b"x")
    with pytest.raises(WeightDigestError, match=r"unet/extra.bin: not in the lock"):
        weights.resolve("folder-test", overrides)
    del weights.WEIGHTS["folder-test"]


def test_a_published_digest_prefix_is_checked_on_download(served_weight):
    src, data, srv = served_weight
    weights.WEIGHTS["tiny-test"] = weights.WeightSource("tiny-test", "tests", "MIT", url=src.url, sha256_prefix="00000000")
    with pytest.raises(weights.MissingWeightsError, match="its published name says it starts with 00000000"):
        weights.fetch("tiny-test", progress=lambda m: None)
    assert not weights.cached_path("tiny-test").exists()
    weights.WEIGHTS["tiny-test"] = weights.WeightSource("tiny-test", "tests", "MIT", url=src.url, sha256_prefix=hashlib.sha256(data).hexdigest()[:8])
    assert weights.fetch("tiny-test", progress=lambda m: None).read_bytes() == data


def test_the_digest_cache_rehashes_a_touched_file(tmp_path):
    import os

    from humanvid.weights_lock import DigestCache

    f = tmp_path / "w.bin"
    f.write_bytes(b"one")
    cache = DigestCache(tmp_path / "digests.json")
    assert cache.digest(f) == hashlib.sha256(b"one").hexdigest()
    cache.save()
    f.write_bytes(b"two")
    os.utime(f, ns=(1, 1))  # a new mtime (and the same size): hashed again
    assert DigestCache(tmp_path / "digests.json").digest(f) == hashlib.sha256(b"two").hexdigest()
