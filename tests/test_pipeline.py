"""End to end through the real CLI, Prefect flow and DVC, in a throwaway workspace (never the checkout)."""

from __future__ import annotations

import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import yaml

from flows.workspace import table_state
from humanvid.validate import load_config


def humanvid(ws, *args) -> str:
    """The real command, in its own process, as a user runs it."""
    proc = subprocess.run([sys.executable, "-m", "flows.cli", "--workspace", str(ws), *args], capture_output=True, text=True,
                          env=os.environ.copy(), timeout=900)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr  # Prefect's log lines are on stderr


def prefect_task_runs(prefect_home) -> list[tuple[str, str, list[str]]]:
    """(name, state, tags) of the task runs of the latest flow run, from the ephemeral API's own database
    (Prefect 3.8's schema; the version is pinned)."""
    with sqlite3.connect(prefect_home / "prefect.db") as db:
        (flow_run,) = db.execute("SELECT id FROM flow_run ORDER BY created DESC LIMIT 1").fetchone()
        rows = db.execute("SELECT name, state_type, tags FROM task_run WHERE flow_run_id = ? ORDER BY expected_start_time", (flow_run,))
        return [(name, state, json.loads(tags)) for name, state, tags in rows]


def ran_stages(out: str) -> list[str]:
    line = next(l for l in out.splitlines() if " ran " in l and "stages:" in l)
    return line.split("stages:", 1)[1].strip().split(", ")


def _lock(ws):
    return yaml.safe_load((ws / "dvc.lock").read_text())["stages"]


def test_demo_end_to_end_then_only_what_changed(workspace):
    prefect_home = workspace.parent / "prefect-home"  # the fixture points PREFECT_HOME here
    # 1. Everything is stale at first; status says why.
    out = humanvid(workspace, "status")
    assert "9 stages, 9 stale" in out and "never run" in out

    # 2. The main job writes the report and metrics.
    out = humanvid(workspace, "reproduce")
    assert ran_stages(out) == ["download@synthdance", "estimate@synthdance", "shard@synthdance", "train@tiny.vae", "train@tiny.pretrain",
                               "train@tiny.finetune", "sample@tiny_w4", "evaluate@tiny_w4", "report@demo"]  # fmt: skip
    runs = prefect_task_runs(prefect_home)
    assert [r[0] for r in runs] == ran_stages(out) and all(state == "COMPLETED" for _, state, _ in runs)
    # A quiet terminal: one line per stage with its place and the time so far, none of DVC's command-line hints.
    assert "stage 1 of 9, 0 s elapsed: download@synthdance" in out and "stage 9 of 9" in out
    assert "To track the changes with git" not in out and "dvc push" not in out and "Running stage" not in out
    # Each stage's own output is in Prefect's log of its task run; the finished table is an artifact of the flow run.
    with sqlite3.connect(prefect_home / "prefect.db") as db:
        logged = [m for (m,) in db.execute("SELECT log.message FROM log JOIN task_run ON log.task_run_id = task_run.id "
                                             "WHERE task_run.name = 'evaluate@tiny_w4'")]  # fmt: skip
        artifacts = db.execute("SELECT key, type, data FROM artifact").fetchall()
    assert any(m.startswith("clip 1/2 ") or "clip 1/2" in m for m in logged), logged[:20]
    assert [(k, t) for k, t, _ in artifacts] == [("table-demo", "markdown")] and "| tiny |" in artifacts[0][2]
    assert {name for name, _, tags in runs if "gpu" in tags} == {"train@tiny.vae", "train@tiny.pretrain", "train@tiny.finetune", "sample@tiny_w4"}
    report = (workspace / "reports" / "demo.md").read_text()
    metrics = json.loads((workspace / "reports" / "metrics" / "tiny_w4.json").read_text())
    assert set(metrics["overall"]) == {"l1", "psnr", "ssim"}  # the network metrics need weights this machine lacks
    assert all(math.isfinite(v) for v in metrics["overall"].values())
    assert set(metrics["protocols"]["disco"]["overall"]) == {"l1", "psnr", "ssim"}
    assert set(metrics["needs"]) == {"lpips", "fid", "fvd"} and "humanvid weights fetch fid-inception" in metrics["needs"]["fid"]["corrected"]
    assert metrics["frames"] == 2 * 8  # two test clips, max_frames 8
    assert "**ground truth**" in report and "| tiny |" in report and "needs weights fid-inception" in report
    assert "## Stage times" in report and "| sample@tiny_w4 |" in report
    assert (workspace / "reports" / "previews" / "tiny_w4" / "grid.png").is_file()
    assert (workspace / "reports" / "previews" / "tiny_w4" / "clip.webm").is_file()
    assert "previews/tiny_w4/clip.webm" in (workspace / "reports" / "demo.html").read_text()
    # DVC's own metrics and plots read what evaluate declared.
    dvc_metrics = json.loads(subprocess.run([sys.executable, "-m", "dvc", "metrics", "show", "--json"], cwd=workspace,
                                            capture_output=True, text=True, check=True).stdout)  # fmt: skip
    shown = next(iter(dvc_metrics.values()))["data"]["reports/metrics/tiny_w4.json"]["data"]
    assert shown["overall"]["psnr"] == metrics["overall"]["psnr"]
    plots = subprocess.run([sys.executable, "-m", "dvc", "plots", "show", "--json"], cwd=workspace, capture_output=True, text=True, check=True)
    assert "reports/metrics/frames/tiny_w4.json" in plots.stdout
    first = _lock(workspace)
    assert first["train@tiny.finetune"]["outs"][0]["md5"] in report  # provenance is DVC's own hash
    # Each training stage logged its loss terms through DVCLive (DVC plots) and drew its curves for the report.
    assert "reports/training/tiny.vae/plots/metrics/train/mse.tsv" in plots.stdout
    assert "training/tiny.finetune/loss.svg" in report and (workspace / "reports/training/tiny.finetune/loss.svg").is_file()

    # 3. Nothing stale: said at once, nothing runs; a worker's single-stage flow agrees.
    assert "nothing to do" in humanvid(workspace, "reproduce")
    assert "stage report@demo: up to date" in humanvid(workspace, "stage", "report@demo")

    # 4. Edit one sampler parameter: status names it; only sample, evaluate, report run again.
    params = yaml.safe_load((workspace / "params.yaml").read_text())
    params["samplers"]["tiny_w4"]["steps"] = 3
    (workspace / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    states = {s.name: s for s in table_state(workspace, load_config(workspace / "params.yaml"), "demo")}
    assert [n for n, s in states.items() if s.stale] == ["sample@tiny_w4"]
    assert states["sample@tiny_w4"].reasons == ["param samplers.tiny_w4.steps: 2 -> 3"]
    assert "param samplers.tiny_w4.steps: 2 -> 3" in humanvid(workspace, "status")
    assert states["evaluate@tiny_w4"].upstream == ["sample@tiny_w4"]

    out = humanvid(workspace, "reproduce")
    assert ran_stages(out) == ["sample@tiny_w4", "evaluate@tiny_w4", "report@demo"]
    assert [r[0] for r in prefect_task_runs(prefect_home)] == ["sample@tiny_w4", "evaluate@tiny_w4", "report@demo"]
    second = _lock(workspace)
    for stage in ("download@synthdance", "estimate@synthdance", "shard@synthdance", "train@tiny.vae", "train@tiny.pretrain", "train@tiny.finetune"):
        assert second[stage] == first[stage], f"{stage} changed in dvc.lock"
    assert second["sample@tiny_w4"] != first["sample@tiny_w4"]

    # 5. Editing code re-runs exactly the stages that run it: the metrics package -> evaluate (then report).
    metrics_code = workspace / "src" / "humanvid" / "metrics" / "image.py"
    metrics_code.write_text(metrics_code.read_text() + "\n# an edit\n")
    states = {s.name: s for s in table_state(workspace, load_config(workspace / "params.yaml"), "demo")}
    assert [n for n, s in states.items() if s.stale] == ["evaluate@tiny_w4"]
    assert states["evaluate@tiny_w4"].reasons == ["deps src/humanvid/metrics modified"]
    assert states["report@demo"].upstream == ["evaluate@tiny_w4"]
    metrics_code.write_text(metrics_code.read_text().removesuffix("\n# an edit\n"))
    # ... another method's package -> nothing (its stages are not in this table); the baseline's -> its stages.
    for package, expect_stale in (("idol", False), ("baseline", True)):
        code = workspace / "src" / "humanvid" / "models" / package / "model.py"
        code.write_text(code.read_text() + "\n# an edit\n")
        states = {s.name: s for s in table_state(workspace, load_config(workspace / "params.yaml"), "demo")}
        stale = [n for n, s in states.items() if s.stale]
        code.write_text(code.read_text().removesuffix("\n# an edit\n"))
        if expect_stale:
            assert stale[0] == "train@tiny.vae" and states["train@tiny.vae"].reasons == [f"deps src/humanvid/models/{package} modified"]
        else:
            assert stale == [], stale

    # 6. A training stage's parameter: that stage re-runs, the stages before it do not.
    params["models"]["tiny"]["stages"]["finetune"]["steps"] = 3
    (workspace / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = humanvid(workspace, "reproduce")
    assert ran_stages(out) == ["train@tiny.finetune", "sample@tiny_w4", "evaluate@tiny_w4", "report@demo"]
    assert _lock(workspace)["train@tiny.pretrain"] == first["train@tiny.pretrain"]

    # 7. Shared through a DVC remote (a local folder): a clone without the data and the cache pulls the table's
    #    results and is up to date without recomputing anything.
    proc = subprocess.run([sys.executable, "-m", "flows.cli", "--workspace", str(workspace), "pull"], capture_output=True, text=True)
    assert proc.returncode == 2 and "no default DVC remote" in proc.stderr and "dvc remote add -d" in proc.stderr
    remote = workspace.parent / "remote"
    subprocess.run([sys.executable, "-m", "dvc", "remote", "add", "-d", "store", str(remote)], cwd=workspace, check=True)
    assert "push the outputs of 9 stages" in humanvid(workspace, "push", "demo")
    clone = workspace.parent / "clone"
    shutil.copytree(workspace, clone, ignore=lambda d, names: [n for n in names if (Path(d) / n) in (workspace / "data", workspace / ".dvc" / "cache")])
    assert "9 stages, 0 stale" not in humanvid(clone, "status")
    assert "pull the outputs of 9 stages" in humanvid(clone, "pull", "demo")
    assert "9 stages, 0 stale" in humanvid(clone, "status")
    assert (clone / "data" / "models" / "tiny" / "finetune").is_dir()


def test_weights_that_arrive_later_re_run_exactly_the_evaluation(workspace, isolated_weights):
    import metric_weights
    import torch

    humanvid(workspace, "reproduce")
    assert "fid" in json.loads((workspace / "reports/metrics/tiny_w4.json").read_text())["needs"]
    # The FID network's weights appear in the weight cache (outside the workspace: DVC cannot see it).
    path = isolated_weights / "fid-inception" / "pt_inception-2015-12-05-6726825d.pth"
    path.parent.mkdir(parents=True)
    torch.save(metric_weights.fid_inception_state(), path)
    states = {s.name: s for s in table_state(workspace, load_config(workspace / "params.yaml"), "demo")}
    assert [n for n, s in states.items() if s.stale] == ["evaluate@tiny_w4"]
    assert states["evaluate@tiny_w4"].reasons == ["weights now on this machine, evaluated without them: fid-inception"]
    out = humanvid(workspace, "reproduce")
    assert ran_stages(out) == ["evaluate@tiny_w4", "report@demo"]
    metrics = json.loads((workspace / "reports/metrics/tiny_w4.json").read_text())
    assert "fid" not in metrics["needs"] and math.isfinite(metrics["protocols"]["disco"]["overall"]["fid"])
    assert "needs weights fid-inception" not in (workspace / "reports/demo.md").read_text()
    assert "nothing to do" in humanvid(workspace, "reproduce")


def test_magicanimate_table_through_the_pipeline(workspace, tiny_params):
    """MagicAnimate's stages through the real CLI, Prefect and DVC: its paper samplers, DensePose control,
    closed-loop windows, a report row; then a sampler edit re-runs only its sample, evaluate and report."""
    params = yaml.safe_load((workspace / "params.yaml").read_text())
    frames = {"data": "synthdance", "recipe": {"kind": "reference_clip"}, "steps": 2, "batch_size": 4, "log_every": 1}
    params["models"]["ma"] = {
        "arch": {"method": "magicanimate", "flavor": "debug", "resolution": 32, "options": {"control": "densepose"}},
        "run": {"seed": 0, "device": "cpu"},
        "stages": {"vae": frames, "base": frames,
                   "pretrain": {"data": "synthdance", "steps": 2, "batch_size": 2, "log_every": 1, "recipe": {"kind": "magicanimate_pair", "flip_p": 0.0}},
                   "finetune": {"data": "synthdance", "steps": 2, "batch_size": 1, "log_every": 1,
                                "recipe": {"kind": "magicanimate_video", "frames": 4, "stride": 2, "reduce_p": 0.5, "flip_p": 0.0}}},
    }  # fmt: skip
    params["samplers"]["ma_w8"] = {"model": "ma", "data": "synthdance", "window": 8, "overlap": 2, "schedule": "closed_loop", "window_batch": 2,
                                   "steps": 2, "guidance_scale": 7.5, "max_frames": 12, "device": "cpu"}  # fmt: skip
    params["tables"]["ma"] = {"title": "MagicAnimate debug", "rows": {"Ours": "ma_w8"}, "columns": ["l1", "psnr", "ssim"]}
    (workspace / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = humanvid(workspace, "reproduce", "ma")
    assert "pipeline.yaml updated from params.yaml (7 training stages)" in out  # the new model's stages reached dvc.yaml
    assert ran_stages(out) == ["download@synthdance", "estimate@synthdance", "shard@synthdance", "train@ma.vae", "train@ma.base",
                               "train@ma.pretrain", "train@ma.finetune", "sample@ma_w8", "evaluate@ma_w8", "report@ma"]  # fmt: skip
    for stage in ("vae", "base", "pretrain", "finetune"):
        assert json.loads((workspace / "data" / "models" / "ma" / stage / "train_log.json").read_text())["steps"] == 2
    manifest = json.loads((workspace / "data" / "samples" / "ma_w8" / "manifest.json").read_text())
    assert manifest["clips"] and all(c["status"] == "ok" and c["frames"] == 12 for c in manifest["clips"])
    metrics = json.loads((workspace / "reports" / "metrics" / "ma_w8.json").read_text())
    assert all(math.isfinite(metrics["overall"][m]) for m in ("l1", "psnr", "ssim"))
    assert "| Ours |" in (workspace / "reports" / "ma.md").read_text()

    params["samplers"]["ma_w8"]["overlap"] = 4
    (workspace / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert ran_stages(humanvid(workspace, "reproduce", "ma")) == ["sample@ma_w8", "evaluate@ma_w8", "report@ma"]


def test_make_your_anchor_table_through_the_pipeline(workspace, tiny_params):
    """Make-Your-Anchor's debug table through the real CLI, Prefect and DVC: an anchor dataset with per-person studios
    and mesh normals, pre-training on the other person, fine-tuning and evaluating on the anchor alone, the Face SGDM
    trained on the anchor's faces, truncated windows with shared noise and face enhancement, the copy floor beside it."""
    params = yaml.safe_load((workspace / "params.yaml").read_text())
    params["datasets"]["anchor"] = {
        "plugin": "synthdance",
        "options": {"seed": 1, "identities": 2, "clips_per_identity": 2, "test_clips_per_identity": 1, "num_frames": 12, "fps": 12,
                    "width": 32, "height": 32, "preset": "anchor", "background": "identity"},
        "shard": {"window_frames": 12, "rows_per_group": 2, "rows_per_file": 3},
    }  # fmt: skip
    params["estimators"]["anchor"] = ["groundtruth"]
    stage = {"recipe": {"kind": "make_your_anchor"}, "steps": 2, "batch_size": 2, "log_every": 1}
    params["models"]["mya"] = {
        "arch": {"method": "make_your_anchor", "flavor": "debug_pixel", "resolution": 32,
                 "options": {"prediction": "sample", "l1_weight": 1.0, "face_size": 16}},
        "run": {"seed": 0, "device": "cpu"},
        "stages": {"pretrain": {**stage, "data": [{"dataset": "anchor", "exclude_identities": ["id000"]}]},
                   "finetune": {**stage, "data": [{"dataset": "anchor", "identities": ["id000"]}]},
                   "face": {**stage, "data": [{"dataset": "anchor", "identities": ["id000"]}]}},
    }  # fmt: skip
    params["models"]["copy"] = {"arch": {"method": "trivial", "flavor": "copy_reference", "resolution": 32}, "run": {"seed": 0, "device": "cpu"},
                                "stages": {}}  # fmt: skip
    common = {"data": "anchor", "identities": ["id000"], "device": "cpu"}
    params["samplers"]["mya_w4"] = {**common, "model": "mya", "window": 4, "overlap": 1, "schedule": "truncated", "shared_noise": True,
                                    "condition_scale": 2.0, "steps": 2, "face": {"steps": 2, "guidance_scale": 1.0}}  # fmt: skip
    params["samplers"]["copy_anchor"] = {**common, "model": "copy", "window": 12, "overlap": 0, "steps": 1}
    params["evaluation"]["metrics"].append("tl1")
    params["tables"]["mya"] = {"title": "Make-Your-Anchor debug", "rows": {"copy": "copy_anchor", "Ours": "mya_w4"}, "columns": ["l1", "psnr", "tl1"]}
    (workspace / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = humanvid(workspace, "reproduce", "mya")
    assert set(ran_stages(out)) == {"download@anchor", "estimate@anchor", "shard@anchor", "train@mya.pretrain", "train@mya.finetune",
                                    "train@mya.face", "sample@mya_w4", "evaluate@mya_w4", "sample@copy_anchor", "evaluate@copy_anchor", "report@mya"}  # fmt: skip
    for name in ("mya_w4", "copy_anchor"):
        manifest = json.loads((workspace / "data" / "samples" / name / "manifest.json").read_text())
        assert [c["clip_id"] for c in manifest["clips"]] == ["id000_clip001"]  # the anchor's test clip only
        assert all(c["status"] == "ok" and c["frames"] == 12 for c in manifest["clips"])
        metrics = json.loads((workspace / "reports" / "metrics" / f"{name}.json").read_text())
        assert all(math.isfinite(metrics["overall"][m]) for m in ("l1", "psnr", "tl1"))
    report = (workspace / "reports" / "mya.md").read_text()
    assert "| copy |" in report and "| Ours |" in report and "tL1 ↓" in report


def test_two_commands_in_one_workspace_wait_or_refuse_in_one_line(workspace):
    """A second `humanvid reproduce` while one runs: with --no-wait it refuses at once in one line naming the
    running command; without, it waits, says for whom, and then finds nothing to do. DVC's own lock, held by a
    process that is not humanvid, is one line too — never DVC's traceback."""
    import time

    env = os.environ.copy()
    first = subprocess.Popen([sys.executable, "-m", "flows.cli", "--workspace", str(workspace), "reproduce"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    lock = workspace / ".humanvid" / "lock"
    deadline = time.time() + 120
    while not (lock.is_file() and str(first.pid) in lock.read_text()) and time.time() < deadline:
        time.sleep(0.1)
    assert str(first.pid) in lock.read_text()
    busy = subprocess.run([sys.executable, "-m", "flows.cli", "--workspace", str(workspace), "reproduce", "--no-wait"], env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert busy.returncode == 2 and first.poll() is None, busy.stdout + busy.stderr
    assert busy.stderr.count("\n") == 1 and f"pid {first.pid}" in busy.stderr and "humanvid --workspace" in busy.stderr, busy.stderr
    second = subprocess.run([sys.executable, "-m", "flows.cli", "--workspace", str(workspace), "reproduce"], env=env,
                            capture_output=True, text=True, timeout=900)  # fmt: skip
    out_first = first.communicate(timeout=900)[0]
    assert first.returncode == 0, out_first[-2000:]
    assert second.returncode == 0 and f"waiting for `humanvid --workspace {workspace} reproduce` (pid {first.pid}" in second.stderr
    assert "nothing to do" in second.stdout

    from dvc.repo import Repo

    repo = Repo(str(workspace))  # another DVC process holding the workspace
    with repo.lock:
        status = subprocess.run([sys.executable, "-m", "flows.cli", "--workspace", str(workspace), "status"], env=env,
                                capture_output=True, text=True, timeout=120)  # fmt: skip
    repo.close()
    assert status.returncode == 2 and "Traceback" not in status.stderr and status.stderr.count("\n") == 1, status.stderr
    assert "DVC's lock is held" in status.stderr and "Run again when it has finished" in status.stderr
