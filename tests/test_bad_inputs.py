"""Bad input gets a clear error naming the key or clip, and nothing half-written is left looking done."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
import yaml

from tasks import download, estimate, report, shard


def test_bad_params_stop_before_any_work(workspace, tiny_params):
    tiny_params["samplers"]["tiny_w4"]["model"] = "ghost"
    (workspace / "params.yaml").write_text(yaml.safe_dump(tiny_params))
    proc = subprocess.run([sys.executable, "-m", "flows.cli", "--workspace", str(workspace), "reproduce"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "samplers.tiny_w4.model: unknown model 'ghost'" in proc.stderr
    assert not (workspace / "data").exists() and not (workspace / "dvc.lock").exists()


def test_not_a_workspace(tmp_path, tiny_params):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(tiny_params))
    proc = subprocess.run([sys.executable, "-m", "flows.cli", "--workspace", str(tmp_path), "status"], capture_output=True, text=True)
    assert proc.returncode == 2 and "no dvc.yaml" in proc.stderr


def test_corrupted_clip_is_recorded_and_the_rest_completes(workspace):
    ws = ["--workspace", str(workspace)]
    download.main(["synthdance", *ws])
    raw = workspace / "data" / "raw" / "synthdance"
    victim = raw / "clips" / "id000_clip001.mp4"
    victim.write_bytes(victim.read_bytes()[:200])  # truncated mid-file

    estimate.main(["synthdance", *ws])
    status = {r["clip_id"]: r for r in pq.read_table(workspace / "data/conditions/synthdance/groundtruth/status.parquet").to_pylist()}
    assert status["id000_clip001"]["status"] == "failed"
    assert "id000_clip001.mp4" in status["id000_clip001"]["error"]
    assert all(r["status"] == "ok" for cid, r in status.items() if cid != "id000_clip001")

    shard.main(["synthdance", *ws])
    manifest = json.loads((workspace / "data/shards/synthdance/manifest.json").read_text())
    assert manifest["clips"] == 3
    (failure,) = manifest["failed"]
    assert failure["clip_id"] == "id000_clip001" and failure["stage"] == "estimate" and "id000_clip001.mp4" in failure["error"]

    # The report stage shows it (metrics as evaluate would write them, without running the model stages).
    overall = {"l1": 0.1, "psnr": 20.0, "ssim": 0.5}
    metrics = {"protocol": "corrected", "overall": overall, "protocols": {"corrected": {"overall": overall}},
               "needs": {"fid": {"corrected": "weights fid-inception (humanvid weights fetch fid-inception)"}},
               "frames": 8, "clips": {"a": {}}, "failed": manifest["failed"], "conditions": manifest["conditions"], "data": "synthdance"}  # fmt: skip
    (workspace / "reports/metrics").mkdir(parents=True, exist_ok=True)
    (workspace / "reports/metrics/tiny_w4.json").write_text(json.dumps(metrics))
    report.main(["demo", *ws])
    md = (workspace / "reports/demo.md").read_text()
    assert "| tiny | id000_clip001 | estimate |" in md
    assert "| tiny | 0.1 | 20.00 | 0.500 | needs weights fid-inception | 1 | 8 | 1 |" in md
    assert "id000_clip001" in (workspace / "reports/demo.html").read_text()


def test_killed_stage_leaves_nothing_that_looks_done(workspace, tiny_params):
    tiny_params["datasets"]["synthdance"]["options"].update(identities=4, clips_per_identity=3, num_frames=48, width=96, height=96)
    (workspace / "params.yaml").write_text(yaml.safe_dump(tiny_params))
    proc = subprocess.Popen([sys.executable, "-u", "-m", "tasks.download", "synthdance"], cwd=workspace,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 120
    for line in proc.stderr:  # wait until it is demonstrably halfway
        if "clip 2/12" in line or time.monotonic() > deadline:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    raw = workspace / "data" / "raw"
    assert not (raw / "synthdance").exists()
    assert not list(raw.rglob("clips.parquet"))
    # A rerun completes and clears the scratch the killed run left.
    tiny_params["datasets"]["synthdance"]["options"].update(identities=1, clips_per_identity=1, num_frames=4, width=32, height=32)
    (workspace / "params.yaml").write_text(yaml.safe_dump(tiny_params))
    download.main(["synthdance", "--workspace", str(workspace)])
    assert [p.name for p in raw.iterdir()] == ["synthdance"]
