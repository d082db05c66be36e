"""A full disk: refused before a write whose size is known, one line naming what was being written when a
write meets ENOSPC, nothing partial left — on a real small tmpfs (root may mount one) and on patched writers."""

import errno
import os
import subprocess
import sys
import textwrap

import pytest
from conftest import REPO

from humanvid.atomic import atomic_dir, atomic_file
from humanvid.disk import DiskFull, reraise_if_disk_full


@pytest.fixture
def tmpfs(tmp_path):
    """A 512 kB tmpfs: a real file system that fills up."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mnt)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip() or proc.returncode}); the patched-writer tests still run")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=True)


def _fill(path, n):
    with open(path, "wb") as fh:
        fh.write(b"x" * n)


def test_a_block_that_fills_the_disk_names_its_output_and_leaves_nothing(tmpfs):
    (tmpfs / "old").mkdir()
    _fill(tmpfs / "old" / "kept.bin", 10)
    with pytest.raises(DiskFull) as err, atomic_dir(tmpfs / "old") as tmp:
        _fill(tmp / "big.bin", 1_000_000)
    assert str(err.value).startswith(f"disk full while writing {tmpfs / 'old'} (")
    assert str(err.value).endswith(" free); free some space and run again")
    assert sorted(p.name for p in tmpfs.iterdir()) == ["old"]  # no scratch left
    assert (tmpfs / "old" / "kept.bin").read_bytes() == b"x" * 10  # the previous output untouched
    with pytest.raises(DiskFull, match=r"disk full while writing .*one\.bin"), atomic_file(tmpfs / "one.bin") as tmp:
        _fill(tmp, 1_000_000)
    assert sorted(p.name for p in tmpfs.iterdir()) == ["old"]


def test_a_known_size_is_refused_before_a_byte_is_written(tmpfs):
    with pytest.raises(DiskFull, match=r"disk full while writing .*big \(needs ~1.0 MB, 0.5 MB free\)"):
        with atomic_dir(tmpfs / "big", size=1_000_000):
            raise AssertionError("the block must not run")
    assert list(tmpfs.iterdir()) == []


def test_a_download_that_does_not_fit_is_refused_and_one_that_fills_the_disk_leaves_no_part(tmpfs, tmp_path, monkeypatch):
    from httpfixture import LoopbackServer

    from humanvid.datasets import fetch as fetch_module

    served = tmp_path / "served"
    served.mkdir()
    _fill(served / "blob.bin", 800_000)
    with LoopbackServer(served) as server:
        policy = fetch_module.FetchPolicy(retries=3, backoff=0.01, timeout=5)
        with pytest.raises(DiskFull, match=r"blob\.bin \(needs ~0.8 MB"):
            fetch_module.fetch(server.url("files/blob.bin"), tmpfs / "blob.bin", policy=policy)
        assert list(tmpfs.iterdir()) == [] and len(server.requests) == 1
        # the size check skipped (a server that lies about its length): the write itself meets ENOSPC
        monkeypatch.setattr(fetch_module, "require_free", lambda *a: None)
        with pytest.raises(DiskFull, match=r"disk full while writing .*blob\.bin"):
            fetch_module.fetch(server.url("files/blob.bin"), tmpfs / "blob.bin", policy=policy)
        assert list(tmpfs.iterdir()) == []  # the .part is gone: it held the space
        assert len(server.requests) == 2  # not retried: no network problem


def test_a_per_clip_handler_stops_on_a_full_disk_instead_of_failing_every_clip(tmp_path, monkeypatch):
    """The shard writer records a bad clip and goes on; ENOSPC is nobody's clip and stops it."""
    from humanvid.config import ShardConfig
    from humanvid.datasets.clips import Clip
    from humanvid.shards import write_shards

    clips = [Clip("d", f"c{i}", "p", "train", 8.0, 2, 8, 8, f"clips/c{i}.mp4") for i in range(3)]
    calls = []

    def read_video(clip):
        calls.append(clip.clip_id)
        if clip.clip_id == "c0":
            raise ValueError("a bad clip")  # data: recorded
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "x.bin"))

    with pytest.raises(DiskFull, match=r"disk full while writing .*x\.bin"):
        write_shards(tmp_path / "out", clips, read_video, lambda c: {}, {}, ShardConfig(), lambda m: None)
    assert calls == ["c0", "c1"]  # stopped at the first full-disk error


def test_reraise_leaves_other_errors_to_the_handler():
    reraise_if_disk_full(ValueError("x"))
    reraise_if_disk_full(OSError(errno.EACCES, "denied"))
    with pytest.raises(DiskFull, match="while writing an output"):
        reraise_if_disk_full(OSError(errno.ENOSPC, "No space left on device"))


def test_a_stage_that_fills_the_disk_ends_with_one_line(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        sys.argv = ["x", "demo"]
        from tasks.common import _one_line_errors
        from humanvid.disk import DiskFull
        _one_line_errors("shard@demo")
        raise DiskFull("{tmp_path}/shards", 1234, 5_000_000)
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr == f"shard@demo: disk full while writing {tmp_path}/shards (needs ~5.0 MB, 1.2 kB free); free some space and run again\n"


def test_dvc_filling_its_cache_is_one_line_and_leaves_no_partial_cache_file(tmpfs):
    """The stage's output fits; DVC's copy of it into the cache does not (a real DVC on a real tmpfs)."""
    from flows.reproduce import StageFailed, repro_single

    subprocess.run(["git", "init", "-q"], cwd=tmpfs, check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=tmpfs, check=True)
    (tmpfs / "dvc.yaml").write_text(textwrap.dedent(f"""
        stages:
          big:
            cmd: {sys.executable} -c "open('out.bin', 'wb').write(b'x' * 300000)"
            outs: [out.bin]
    """))
    with pytest.raises(StageFailed) as err:
        repro_single(tmpfs, "big")
    message = str(err.value)
    assert message.startswith(f"disk full while writing stage big's outputs into DVC's cache at {tmpfs / '.dvc' / 'cache'}")
    assert "(cache.type reflink,copy) (needs ~0.3 MB, " in message
    assert message.endswith(" free); its partial cache files were removed; free some space, or move the cache (`dvc cache dir PATH`), and run again")
    assert "\n" not in message
    assert not [p for p in (tmpfs / ".dvc" / "cache").rglob("*.tmp")]
