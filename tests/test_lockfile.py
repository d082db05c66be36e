"""flows.lockfile: a stage's dvc.lock entry spliced in writes the bytes DVC's own round-trip writer writes."""

from __future__ import annotations

import contextlib
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from dvc.dvcfile import Lockfile
from dvc.repo import Repo
from dvc.utils.serialize._yaml import parse_yaml

from flows import lockfile

REPO = Path(__file__).resolve().parents[1]


def _pipeline(extra_stage: bool) -> dict:
    py = Path(sys.executable).as_posix()
    stages = {
        "make": {"cmd": f"{py} -c \"open('a.txt','w').write(open('in.txt').read()*2)\"", "deps": ["in.txt"], "outs": ["a.txt"]},
        "scale": {"foreach": ["x"], "do": {"cmd": f"{py} -c \"open('b.txt','w').write(open('a.txt').read().upper())\"",
                                           "deps": ["a.txt"], "params": ["scale.factor", "scale.name"], "outs": ["b.txt"]}},  # fmt: skip
        "long-name-with-a-command-longer-than-the-dumper-width": {
            "cmd": f"{py} -c \"import pathlib; pathlib.Path('c.txt').write_text('x' * 3)\"  # " + "padding " * 12,
            "outs": ["c.txt"],
        },
    }
    if extra_stage:
        stages["added"] = {"cmd": f"{py} -c \"open('d.txt','w').write('d')\"", "deps": ["b.txt"], "outs": ["d.txt"]}
    return {"stages": stages}


def _workspace(path: Path) -> Path:
    path.mkdir()
    (path / "in.txt").write_text("hello\n")
    (path / "params.yaml").write_text(yaml.safe_dump({"scale": {"factor": 2, "name": "two: quoted?"}}))
    (path / "dvc.yaml").write_text(yaml.safe_dump(_pipeline(extra_stage=False), sort_keys=False))
    Repo.init(str(path), no_scm=True).close()
    return path


def _repro(path: Path) -> str:
    with contextlib.chdir(path), Repo(".") as repo:
        repo.reproduce()
    return (path / "dvc.lock").read_text()


def test_splice_writes_what_dvc_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Lockfile, "dump_stages", Lockfile.dump_stages)  # undone after the test: install() patches it
    first = _workspace(tmp_path / "dvc")
    before = _repro(first)  # DVC's writer creates the lock (the splice never does)
    assert "long-name-with" in before and "\n      " in before  # a wrapped command line: the dumper's width applies
    ours = tmp_path / "ours"
    shutil.copytree(first, ours)
    for path in (first, ours):  # a changed input, a changed param, a new stage
        (path / "in.txt").write_text("changed\n")
        (path / "params.yaml").write_text(yaml.safe_dump({"scale": {"factor": 3, "name": "two: quoted?"}}))
        (path / "dvc.yaml").write_text(yaml.safe_dump(_pipeline(extra_stage=True), sort_keys=False))
    theirs = _repro(first)
    dvc_writes = []
    dvc_dump_stages = Lockfile.dump_stages
    monkeypatch.setattr(Lockfile, "dump_stages", lambda *a, **k: dvc_writes.append(1) or dvc_dump_stages(*a, **k))
    lockfile.install()
    assert getattr(Lockfile.dump_stages, "humanvid_splice", False)
    assert _repro(ours) == theirs
    assert not dvc_writes  # every entry was spliced, none went through DVC's writer
    assert theirs != before and "added:" in theirs and "factor: 3" in theirs


def test_every_entry_of_the_project_lock_splices_back_unchanged() -> None:
    text = (REPO / "dvc.lock").read_text()
    stages = parse_yaml(text, "dvc.lock")["stages"]
    entries = [lockfile.stage_entry(name, data) for name, data in stages.items()]
    assert lockfile.splice(text, entries) == (text, False)
    name = next(iter(stages))
    changed = dict(stages[name], cmd="python -m tasks.other")
    new_text, was_changed = lockfile.splice(text, [lockfile.stage_entry(name, changed)])
    assert was_changed and parse_yaml(new_text, "dvc.lock")["stages"] == dict(stages, **{name: changed})


def test_a_layout_it_does_not_know_goes_through_dvc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert lockfile.split_stage_entries("schema: '2.0'\nstages: {make: {cmd: x}}\n") is None
    assert lockfile.split_stage_entries("schema: '2.0'\n") is None
    assert lockfile.split_stage_entries("stages:\n    make:\n      cmd: x\n") is None  # wider indentation
    monkeypatch.setattr(Lockfile, "dump_stages", Lockfile.dump_stages)
    path = _workspace(tmp_path / "ws")
    _repro(path)
    data = parse_yaml((path / "dvc.lock").read_text(), "dvc.lock")
    (path / "dvc.lock").write_text(yaml.safe_dump(data, default_flow_style=True))  # valid YAML, flow style
    (path / "in.txt").write_text("changed\n")
    lockfile.install()
    _repro(path)
    after = parse_yaml((path / "dvc.lock").read_text(), "dvc.lock")["stages"]
    assert after["make"]["deps"][0]["md5"] != data["stages"]["make"]["deps"][0]["md5"]
    assert set(after) == set(data["stages"])


def test_reading_a_stages_entries_gives_what_the_whole_lock_holds() -> None:
    path = REPO / "dvc.lock"
    stages = parse_yaml(path.read_text(), "dvc.lock")["stages"]
    for name, entry in stages.items():
        assert lockfile.read_entries(path, [name])["stages"] == {name: entry}, name
    some = list(stages)[::40]
    assert lockfile.read_entries(path, [*some, "never@run"])["stages"] == {n: stages[n] for n in some}
    assert lockfile.read_entries(path, ["never@run"]) == {"schema": "2.0", "stages": {}}
    assert lockfile.key_name("  \"odd: name\":\n") == "odd: name" and lockfile.key_name("  train@x.y:\n") == "train@x.y"


def test_stage_status_from_its_own_entries_matches_dvcs_status(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.workspace import stage_status
    from humanvid.validate import load_config

    path = _workspace(tmp_path / "ws")
    _repro(path)
    names = ["make", "scale@x", "long-name-with-a-command-longer-than-the-dumper-width"]
    (path / "in.txt").write_text("changed\n")  # make: its input changed; scale@x: its param
    (path / "params.yaml").write_text(yaml.safe_dump({"scale": {"factor": 3, "name": "two: quoted?"}}))
    with contextlib.chdir(path), Repo(".") as repo:
        theirs = {k.rpartition(":")[2] for k in repo.status(targets=names)}
    ours = stage_status(path, names, load_config(REPO / "params.yaml"))  # the project's config: no evaluate stage here
    assert set(ours) == theirs == {"make", "scale@x"}
    assert any("in.txt" in r for r in ours["make"]) and any("scale.factor" in r for r in ours["scale@x"])
    monkeypatch.setattr(lockfile, "read_entries", lambda path, names: None)  # a layout it declines: DVC's whole-lock load
    assert stage_status(path, names, load_config(REPO / "params.yaml")) == ours
