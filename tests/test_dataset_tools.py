import subprocess
import sys

import numpy as np
from conftest import make_workspace

from humanvid.datasets import write_clip_table
from humanvid.datasets.contract import check_dataset
from humanvid.datasets.scaffold import scaffold_plugin
from tasks import download


def test_contract_passes_on_synthdance_and_names_each_breach(tmp_path, tiny_params):
    ws = make_workspace(tmp_path / "ws", tiny_params)
    download.main(["synthdance", "--workspace", str(ws)])
    raw = ws / "data" / "raw" / "synthdance"
    out = subprocess.run([sys.executable, "-m", "flows.cli", "--workspace", str(ws), "datasets", "check", "synthdance"],
                         capture_output=True, text=True)  # fmt: skip
    assert out.returncode == 0 and "4 clips checked, 0 failed at ingest, 0 problems" in out.stdout

    from humanvid.datasets import read_clip_table

    clips = read_clip_table(raw / "clips.parquet")
    from dataclasses import replace

    broken = [replace(clips[0], num_frames=99), replace(clips[1], split="val"), clips[2], replace(clips[2], split="test"),
              replace(clips[3], status="failed", error="")]  # fmt: skip
    test_clip = next(c for c in clips if c.split == "test")
    broken.append(replace(test_clip, clip_id=f"{test_clip.clip_id}_flip"))  # augmentation reaching a test split
    write_clip_table(raw / "clips.parquet", broken)
    (raw / clips[2].source).write_bytes(b"garbage")
    report = check_dataset(raw)
    text = "\n".join(report.problems)
    assert "12 frames in id000_clip000.mp4, the table says 99" in text
    assert "split 'val' is neither" in text
    assert f"clip id '{clips[2].clip_id}' appears 2 times" in text
    assert f"{clips[2].source} is in both train and test" in text
    assert "does not decode" in text and "without an error" in text
    assert f"clip {test_clip.clip_id}_flip: a mirrored copy in split 'test'" in text


def test_scaffolded_plugin_installs_nothing_and_passes_its_own_test(tmp_path):
    files = scaffold_plugin("studio_dance", tmp_path)
    root = tmp_path / "humanvid-studio_dance"
    assert (root / "pyproject.toml").read_text().count('studio_dance = "humanvid_studio_dance:StudioDance"') == 1
    # Its own test, run against the generated package (on the path, not installed).
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests")],
                          cwd=root, capture_output=True, text=True, env={**__import__("os").environ, "PYTHONPATH": str(root)})  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout
    import pytest

    with pytest.raises(FileExistsError):
        scaffold_plugin("studio_dance", tmp_path)
    with pytest.raises(ValueError, match="Python identifier"):
        scaffold_plugin("Bad-Name", tmp_path)
    assert len(files) == 3 and np.all([f.is_file() for f in files])


def test_an_external_package_adds_a_dataset_through_its_entry_point(tmp_path, tiny_params):
    """Discovery as an installed package gets it: a .dist-info with entry_points.txt on sys.path."""
    scaffold_plugin("studio_dance", tmp_path)
    site = tmp_path / "site"
    info = site / "humanvid_studio_dance-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: humanvid-studio-dance\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[humanvid.datasets]\nstudio_dance = humanvid_studio_dance:StudioDance\n")
    params = dict(tiny_params, datasets={"studio": {"plugin": "studio_dance", "options": {"path": "/data/studio"}, "shard": {}}},
                  estimators={}, models={}, samplers={}, tables={})  # fmt: skip
    import yaml

    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    code = (
        "from humanvid.validate import load_config; from humanvid.datasets import DATASETS; "
        f"cfg = load_config({str(tmp_path / 'params.yaml')!r}); "
        "print(DATASETS.get(cfg.datasets['studio'].plugin).__name__)"
    )
    import os

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(tmp_path / "humanvid-studio_dance")])}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "StudioDance"
    # Without the package the same params are a config error naming the key.
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode != 0 and "datasets.studio.plugin: unknown dataset plugin 'studio_dance'" in proc.stderr
