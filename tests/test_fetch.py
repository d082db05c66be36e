import hashlib
import io
import tarfile
import zipfile

import pytest
from httpfixture import LoopbackServer

from humanvid.datasets.archive import UnsafeArchiveError, safe_extract
from humanvid.datasets.fetch import FetchError, FetchPolicy, fetch, redact

FAST = FetchPolicy(retries=3, backoff=0.01, timeout=1.0)


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    (root / "blob.bin").write_bytes(bytes(range(256)) * 400)  # 102,400 bytes
    with LoopbackServer(root) as srv:
        yield srv


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_fetch_verifies_and_is_idempotent(server, tmp_path):
    data = (server.httpd.root / "blob.bin").read_bytes()
    dest = fetch(server.url("files/blob.bin"), tmp_path / "out" / "blob.bin", _sha(data), policy=FAST)
    assert dest.read_bytes() == data
    before = len(server.requests)
    fetch(server.url("files/blob.bin"), dest, _sha(data), policy=FAST)
    assert len(server.requests) == before  # already there and verified: nothing asked
    assert not list(dest.parent.glob("*.part"))


def test_truncated_download_resumes_with_range(server, tmp_path):
    data = (server.httpd.root / "blob.bin").read_bytes()
    dest = fetch(server.url("truncate-once/blob.bin"), tmp_path / "blob.bin", _sha(data), policy=FAST)
    assert dest.read_bytes() == data
    ranges = [r for p, r in server.requests if p.startswith("/truncate-once")]
    assert ranges[0] is None and ranges[1] == f"bytes={len(data) // 2}-"


def test_checksum_mismatch_leaves_nothing(server, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(FetchError, match="sha256"):
        fetch(server.url("files/blob.bin"), out / "blob.bin", "0" * 64, policy=FAST)
    assert list(out.iterdir()) == []


def test_http_errors_retry_only_when_transient(server, tmp_path):
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch(server.url("status/404"), tmp_path / "a", policy=FAST)
    assert sum(p == "/status/404" for p, _ in server.requests) == 1
    with pytest.raises(FetchError, match=r"HTTP 500.*|after 4 attempt"):
        fetch(server.url("status/500"), tmp_path / "b", policy=FAST)
    assert sum(p == "/status/500" for p, _ in server.requests) == 4
    assert fetch(server.url("flaky/blob.bin"), tmp_path / "c", policy=FAST).is_file()
    assert list(tmp_path.glob("*.part")) == [] and not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_timeout(server, tmp_path):
    with pytest.raises(FetchError, match="attempt"):
        fetch(server.url("slow/blob.bin"), tmp_path / "s", policy=FetchPolicy(retries=0, timeout=0.5))


def test_secrets_stay_out_of_messages(server, tmp_path, monkeypatch):
    assert redact("https://user:pw@host.org:8443/a/b.zip?token=abc&x=1") == "https://host.org:8443/a/b.zip?token=***&x=***"
    monkeypatch.delenv("HV_TEST_TOKEN", raising=False)
    with pytest.raises(FetchError, match=r"\$HV_TEST_TOKEN, which is unset"):
        fetch(server.url("files/blob.bin?sig=s3cr3t"), tmp_path / "x", policy=FetchPolicy(auth_env="HV_TEST_TOKEN"))
    with pytest.raises(FetchError) as err:
        fetch(server.url("status/404?sig=s3cr3t"), tmp_path / "y", policy=FAST)
    assert "s3cr3t" not in str(err.value)


def _zip(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def test_safe_extract_accepts_plain_archives(tmp_path):
    _zip(tmp_path / "ok.zip", {"TikTok_dataset/00001/images/0001.png": b"x", "readme.txt": b"y"})
    files = safe_extract(tmp_path / "ok.zip", tmp_path / "out")
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in files) == ["TikTok_dataset/00001/images/0001.png", "readme.txt"]


@pytest.mark.parametrize("name", ["../evil.txt", "a/../../evil.txt", "/etc/evil.txt"])
def test_safe_extract_rejects_escapes(tmp_path, name):
    _zip(tmp_path / "bad.zip", {"fine.txt": b"x", name: b"evil"})
    with pytest.raises(UnsafeArchiveError, match="absolute|climbs"):
        safe_extract(tmp_path / "bad.zip", tmp_path / "out")
    assert not (tmp_path / "out" / "fine.txt").exists() and not (tmp_path / "evil.txt").exists()


def test_safe_extract_rejects_links(tmp_path):
    buf = tmp_path / "link.tar"
    with tarfile.open(buf, "w") as tf:
        info = tarfile.TarInfo("data/passwd")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(info)
        data = b"x"
        info = tarfile.TarInfo("data/ok.txt")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    with pytest.raises(UnsafeArchiveError, match="link"):
        safe_extract(buf, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*"))


def test_extraction_checks_free_disk_space_first(tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    _zip(tmp_path / "big.zip", {"a.bin": b"x" * 10_000})
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 5_000, 5_000))
    from humanvid.disk import DiskFull

    with pytest.raises(DiskFull, match=r"disk full while writing .*out \(extracting big.zip\) \(needs ~10.0 kB, 5.0 kB free\)"):
        safe_extract(tmp_path / "big.zip", tmp_path / "out")
    assert not (tmp_path / "out" / "a.bin").exists()


@pytest.mark.parametrize("other_host", ["127.0.0.1", "127.0.0.2"])
def test_the_token_goes_only_to_the_origin_it_was_given_for(tmp_path, monkeypatch, other_host):
    """A redirect to another origin (another port, another address) follows without the bearer token; a
    redirect within the origin keeps it."""
    from urllib.parse import quote

    root = tmp_path / "served"
    root.mkdir()
    (root / "blob.bin").write_bytes(b"x" * 1000)
    monkeypatch.setenv("HV_TEST_TOKEN", "s3cr3t-token")
    policy = FetchPolicy(retries=0, timeout=2.0, auth_env="HV_TEST_TOKEN")
    with LoopbackServer(root) as first, LoopbackServer(root, host=other_host) as second:
        fetch(first.url("redirect/?to=" + quote(second.url("files/blob.bin"), safe="")), tmp_path / "a.bin", policy=policy)
        assert first.auth[0][1] == "Bearer s3cr3t-token"
        assert second.auth == [("/files/blob.bin", None)]  # the other origin never saw it
        fetch(first.url("redirect/?to=" + quote(first.url("files/blob.bin"), safe="")), tmp_path / "b.bin", policy=policy)
        assert first.auth[-1] == ("/files/blob.bin", "Bearer s3cr3t-token")  # same origin: kept
    assert (tmp_path / "a.bin").read_bytes() == (tmp_path / "b.bin").read_bytes() == b"x" * 1000
