import pytest

from humanvid.atomic import atomic_dir, atomic_file


def test_atomic_dir_publishes_only_on_success(tmp_path):
    target = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "half.txt").write_text("x")
            raise RuntimeError("killed halfway")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []

    with atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("1")
    with atomic_dir(target) as tmp:  # replaces the old one whole
        (tmp / "b.txt").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_stale_scratch_from_a_killed_run_is_cleared(tmp_path):
    stale = tmp_path / ".out.tmp-123-deadbeef"
    stale.mkdir()
    with atomic_dir(tmp_path / "out") as tmp:
        (tmp / "a").write_text("1")
    assert not stale.exists()


def test_atomic_file(tmp_path):
    target = tmp_path / "m.json"
    with pytest.raises(ValueError):
        with atomic_file(target) as tmp:
            tmp.write_text("{")
            raise ValueError
    assert not target.exists() and list(tmp_path.iterdir()) == []
    with atomic_file(target) as tmp:
        tmp.write_text("{}")
    assert target.read_text() == "{}"
