"""Write a stage's entry into dvc.lock without re-parsing the whole file.

DVC 3.67 updates dvc.lock by loading it with ruamel's round-trip loader (kept comments and layout), changing the
stage's entry and dumping the whole document again. On humanvid's lock (≈ 200 stages, 0.7 MB) that round trip took
3.6 s on this machine for every stage that ran — a quarter of the demo's per-stage overhead. Here the stage's entry is
dumped alone, with DVC's own serializer and YAML dumper, and spliced into the file's text in place of the old entry
(or appended): the same bytes DVC would write, measured byte-identical on the whole lock
(tests/test_lockfile.py). A lock whose layout this does not recognise (hand-edited flow style, no `stages:` block)
goes through DVC's own writer, unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

STAGES_KEY = "stages:"


def split_stage_entries(text: str) -> tuple[str, dict[str, str], str] | None:
    """dvc.lock's text -> (everything up to and including the `stages:` line, {key line: that stage's entry text},
    everything after the stages block), or None where the layout is not DVC's block style: top-level keys at column 0,
    each stage's key line indented by exactly two spaces, its body by more."""
    lines = text.splitlines(keepends=True)
    try:
        start = next(i for i, line in enumerate(lines) if line.rstrip("\n") == STAGES_KEY)
    except StopIteration:
        return None
    entries: dict[str, str] = {}
    key = None
    end = len(lines)
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if not line.startswith(" "):  # the next top-level key (DVC's `datasets:`, say)
            end = i
            break
        if line.startswith("  ") and not line.startswith("   "):
            if not line.rstrip("\n").endswith(":") or line[2] in "-#":
                return None
            key = line
            if key in entries:
                return None
            entries[key] = line
        elif key is None:
            return None
        else:
            entries[key] += line
    if any(not entry.endswith("\n") for entry in entries.values()):
        return None
    return "".join(lines[: start + 1]), entries, "".join(lines[end:])


def key_name(key: str) -> str:
    """A stage's key line inside `stages:` (`  train@x.y:`, or quoted where YAML needs it) -> the stage's name."""
    raw = key.strip()[:-1]
    if raw[:1] in "'\"":
        import yaml

        return yaml.safe_load(raw)
    return raw


def read_entries(path: Path, names: Iterable[str]) -> dict | None:
    """The lock at `path` as DVC loads it — its YAML loader, then its lock schema — but holding only the entries of
    the stages `names` (a stage the lock has no entry for is absent, as it would be from the whole file); None where the
    layout is not recognised (the caller loads the whole file through DVC). A stage's status reads its own entry only,
    and parsing the whole lock (0.8 MB here) for it took ≈ 0.5 s per stage (docs/benchmarks.md)."""
    from dvc.dvcfile import Lockfile
    from dvc.utils.serialize._yaml import parse_yaml

    text = path.read_text(encoding="utf-8")
    parts = split_stage_entries(text)
    if parts is None:
        return None
    head, entries, tail = parts
    wanted = set(names)
    chosen = head + "".join(entry for key, entry in entries.items() if key_name(key) in wanted) + tail
    data = parse_yaml(chosen, str(path), typ="safe") or {}
    if not isinstance(data, dict):
        return None
    if data.get("stages") is None:  # none of them has an entry: `stages:` alone parses as null
        data["stages"] = {}
    Lockfile.validate(data, str(path))
    return data


def stage_entry(name: str, data: dict) -> tuple[str, str]:
    """One stage's entry as DVC's YAML dumper writes it inside `stages:` -> (its key line, its whole text)."""
    from dvc.utils.serialize import dumps_yaml

    text = dumps_yaml({"stages": {name: data}})
    head, entry = text.split("\n", 1)
    if head != STAGES_KEY:  # not DVC's block style: the caller falls back
        raise ValueError(f"unexpected dump of stage {name}: {text[:80]!r}")
    return entry.splitlines(keepends=True)[0], entry


def splice(text: str, entries: list[tuple[str, str]]) -> tuple[str, bool] | None:
    """dvc.lock's text with each (key line, entry) put in place of the stage's old entry, or appended to the stages
    block -> (new text, whether anything changed); None where the layout is not recognised."""
    parts = split_stage_entries(text)
    if parts is None:
        return None
    head, stages, tail = parts
    changed = False
    for key, entry in entries:
        changed |= stages.get(key) != entry
        stages[key] = entry
    return head + "".join(stages.values()) + tail, changed


def write_entries(path: Path, entries: list[tuple[str, str]]) -> bool | None:
    """Splice (key line, entry) pairs into the lock at `path` and write it atomically if anything changed -> whether it
    changed; None (nothing written) where the layout is not recognised."""
    from humanvid.atomic import write_text

    spliced = splice(path.read_text(encoding="utf-8"), entries)
    if spliced is None:
        return None
    text, changed = spliced
    if changed:
        write_text(path, text)
    return changed


def install() -> None:
    """Make DVC's `Lockfile.dump_stages` splice (this process only: `flows.dvc_stage` calls it before DVC runs)."""
    from dvc.dvcfile import Lockfile
    from dvc.stage import serialize

    if getattr(Lockfile.dump_stages, "humanvid_splice", False):
        return
    dvc_dump_stages = Lockfile.dump_stages

    def dump_stages(self, stages, **kwargs):
        path = Path(self.path)
        if not stages or not path.is_file():  # DVC writes a new lock with its header
            return dvc_dump_stages(self, stages, **kwargs)
        try:
            entries = [stage_entry(stage.name, serialize.to_lockfile(stage, **kwargs)[stage.name]) for stage in stages]
        except ValueError:
            return dvc_dump_stages(self, stages, **kwargs)
        changed = write_entries(path, entries)
        if changed is None:
            return dvc_dump_stages(self, stages, **kwargs)
        if changed:
            self.repo.scm_context.track_file(self.relpath)
        return None

    dump_stages.humanvid_splice = True
    Lockfile.dump_stages = dump_stages
