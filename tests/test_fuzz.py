"""Fuzzing what users and disks hand us: params.yaml (mutations of the typed config and of its text) and the
shard reader (random byte flips). Each either works or fails with the project's own error naming the key or
file — never another exception. Derandomized so that CI is reproducible."""

import copy
import shutil

import pytest
import yaml
from conftest import REPO
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from humanvid.config import ConfigError

FUZZ = settings(derandomize=True, max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(allow_nan=True), st.text(max_size=12),
    st.sampled_from(["..", "../x", "/abs", "a/../../b", "cuda:x", "auto", "", " ", "a b", "x@y", "é"]),
    st.lists(st.integers(-3, 3), max_size=3), st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)  # fmt: skip


def _leaves(data, prefix=()):
    if isinstance(data, dict):
        for k, v in data.items():
            yield prefix + (k,)
            yield from _leaves(v, prefix + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield prefix + (i,)
            yield from _leaves(v, prefix + (i,))


def _set(data, path, value):
    for key in path[:-1]:
        data = data[key]
    data[path[-1]] = value


@pytest.fixture(scope="module")
def project_params():
    return yaml.safe_load((REPO / "params.yaml").read_text())


@FUZZ
@given(st.data())
def test_any_mutation_of_params_is_accepted_or_a_config_error_naming_the_key(project_params, data):
    from humanvid.validate import parse_config

    params = copy.deepcopy(project_params)
    paths = list(_leaves(params))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths))
        try:
            _set(params, path, data.draw(VALUES))
        except (TypeError, KeyError, IndexError):  # an earlier mutation replaced a parent
            pass
    try:
        parse_config(params, source="params.yaml", root=REPO)
    except ConfigError as exc:
        assert all(line.startswith("params.yaml: ") for line in str(exc).splitlines()), str(exc)


@FUZZ
@given(st.data())
def test_any_edit_of_the_params_text_is_accepted_or_one_config_error(tmp_path, data):
    from humanvid.validate import load_config

    text = (REPO / "params.yaml").read_text()
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(text) - 1))
        j = data.draw(st.integers(i, min(len(text), i + 40)))
        text = text[:i] + data.draw(st.sampled_from(["", ":", " ", "\n", "- ", "{", "]", "&a", "*a", "!!python/object:os.system", "\t", "'", "yes", "1e9"])) + text[j:]  # fmt: skip
    path = tmp_path / "params.yaml"
    path.write_text(text)
    (tmp_path / "reports").mkdir(exist_ok=True)
    shutil.copytree(REPO / "reports" / "papers", tmp_path / "reports" / "papers", dirs_exist_ok=True)
    try:
        load_config(path)
    except ConfigError as exc:
        assert all(line.startswith(f"{path}: ") for line in str(exc).splitlines()), str(exc)


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    from test_shards import CONDITIONS, _clips, _conditions

    from humanvid.config import ShardConfig
    from humanvid.shards import write_shards

    out = tmp_path_factory.mktemp("fuzz_shards")
    clips, data = _clips(n=2, frames=6)
    write_shards(out, clips, lambda c: data[c.clip_id]["rgb"], lambda c: _conditions(data[c.clip_id]), CONDITIONS,
                 ShardConfig(window_frames=4, rows_per_group=2, rows_per_file=2), lambda m: None)  # fmt: skip
    return out


@settings(derandomize=True, max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_byte_flips_in_shards_read_or_fail_with_a_shard_error_naming_the_file(shards, tmp_path, data):
    from humanvid.shards import ShardError, ShardReader

    work = tmp_path / "shards"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(shards, work)
    victim = work / data.draw(st.sampled_from(sorted(p.name for p in work.iterdir())))
    raw = bytearray(victim.read_bytes())
    for _ in range(data.draw(st.integers(1, 8))):
        raw[data.draw(st.integers(0, len(raw) - 1))] ^= 1 << data.draw(st.integers(0, 7))
    if data.draw(st.booleans()):
        raw = raw[: data.draw(st.integers(0, len(raw)))]  # and perhaps truncated
    victim.write_bytes(bytes(raw))
    try:
        reader = ShardReader(work)
        for clip_id in reader.clip_ids():
            reader.read_clip(clip_id)
            reader.clip_meta(clip_id)
    except ShardError as exc:
        assert str(work) in str(exc), str(exc)
