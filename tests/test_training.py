"""The training loop as a GPU run needs it, checked on CPU: mixed precision keeps trained weights in float32,
data-parallel processes equal one process accumulating, gradient checkpointing changes no gradient, a
killed stage resumes to the uninterrupted weights, mixed datasets, schedules and EMA, progress."""

from __future__ import annotations

import io
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import REPO, TINY_PARAMS, stage_workspace, train_model
from safetensors.torch import load_file
from test_loader import SIZE, _build

from humanvid.models.baseline.model import Baseline
from humanvid.models.magicanimate.model import MagicAnimate
from humanvid.training.run import placement, stage_stream

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return _build(tmp_path_factory.mktemp("training") / "shards", n_ids=3, per_id=2)[0]


def _stage(recipe: dict, **kw) -> dict:
    return {"data": "synth", "recipe": recipe, "steps": 1, "batch_size": 2, "lr": 1e-3, "log_every": 1, **kw}


def _baseline(run: dict | None = None, **stages) -> dict:
    frames = {"kind": "reference_clip"}
    default = {"vae": _stage(frames), "pretrain": _stage(frames), "finetune": _stage({"kind": "reference_clip", "frames": 3}, batch_size=1)}
    return {"arch": {"method": "baseline", "flavor": "debug", "resolution": SIZE}, "run": {"seed": 0, "device": "cpu", **(run or {})},
            "stages": {**default, **stages}}  # fmt: skip


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return {f"{f.parent.name}.{k}": v for f in sorted(folder.glob("*/*.safetensors")) for k, v in load_file(str(f)).items()}


# -- mixed precision -----------------------------------------------------------------------------------------


def test_bf16_autocast_moves_every_trained_weight_that_pure_bf16_leaves_where_it_was(shards, tmp_path):
    """At lr 1e-5 an AdamW step is ~1e-5 per weight: below bf16's resolution for weights of ~0.02, so a model
    whose trained weights are bf16 (what `dtype: auto` did on CUDA) keeps them; float32 master weights under
    bf16 autocast move them."""
    run = {"weight_dtype": "bfloat16", "mixed_precision": "bf16"}
    cfg, layout = stage_workspace(tmp_path, {"synth": shards.dir}, {"m": _baseline(run, pretrain=_stage({"kind": "reference_clip"}, lr=1e-5))})
    where = placement(cfg.models["m"].run)
    assert (where.weight_dtype, where.mixed_precision) == (torch.bfloat16, "bf16")
    train_model(cfg, layout, "m")
    before, after = _weights(layout.checkpoint("m", "vae")), _weights(layout.checkpoint("m", "pretrain"))
    trained = sorted(k for k in after if k.startswith(("unet.", "controlnet.")))
    assert all(after[k].dtype == torch.float32 for k in trained)  # the trained weights were kept (and saved) in float32
    assert before["unet.conv_in.weight"].dtype == torch.bfloat16  # the frozen start was bf16

    # The pure-bf16 step on the same batch and noise: the old behaviour.
    model = Baseline.from_checkpoint(layout.checkpoint("m", "vae"), device=CPU, weight_dtype=torch.bfloat16)
    model.prepare("pretrain", seed=0)
    params = model.trainable_parameters("pretrain")
    assert all(p.dtype == torch.bfloat16 for p in params)
    batch = model.batch(next(stage_stream(cfg, layout, "m", "pretrain", model.conditions(), where, 0).batches(2)), "pretrain")
    optimizer = torch.optim.AdamW(params, lr=1e-5, weight_decay=1e-2)
    model.loss(batch, "pretrain", torch.Generator().manual_seed(0))["loss"].backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    optimizer.step()
    pure = {f"{c}.{k}": v for c, m in model.modules().items() for k, v in m.state_dict().items()}
    # Element by element, over every trained weight that is not exactly zero (a zero with no gradient stays zero):
    nonzero = {k: before[k] != 0 for k in trained}
    stuck = {k: (pure[k] == before[k]) & nonzero[k] for k in trained}  # what pure bf16 left where it was
    moved = {k: (after[k] != before[k].float()) & stuck[k] for k in trained}  # ... and float32 master weights moved
    n_nonzero, n_stuck, n_moved = (sum(int(m[k].sum()) for k in trained) for m in (nonzero, stuck, moved))
    assert n_stuck > 0.5 * n_nonzero, f"pure bf16 should leave most weights unchanged at lr 1e-5 ({n_stuck} of {n_nonzero})"
    assert n_moved == n_stuck, f"{n_stuck - n_moved} of the {n_stuck} weights pure bf16 left did not move under float32 master weights"
    whole = [k for k in trained if bool(nonzero[k].any()) and bool(stuck[k][nonzero[k]].all())]
    assert len(whole) > 50 and all(not torch.equal(after[k], before[k].float()) for k in whole)  # whole tensors, too


def test_frozen_bf16_without_autocast_is_a_config_error(tiny_params):
    from humanvid.config import ConfigError
    from humanvid.validate import parse_config

    tiny_params["models"]["tiny"]["run"] = {"weight_dtype": "bfloat16", "mixed_precision": "no"}
    with pytest.raises(ConfigError, match="models.tiny.run.mixed_precision: frozen modules in bfloat16 beside float32 trained ones need autocast"):
        parse_config(tiny_params, root=REPO)


# -- data parallel ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["cycle", "shard"])
def test_each_rank_reads_its_equal_share_in_the_order_one_process_accumulates(shards, kind):
    """Rank r's k-th batch is batch k·W + r of the one-process stream: what W processes read in one step is what
    one process reads over W accumulated micro-batches (up to the epoch's padded end, where the ranks wrap
    around and one process moves on); every rank gets the same number of batches."""
    from humanvid.recipes import MagicAnimateVideo, ReferenceClip

    recipe = ReferenceClip() if kind == "cycle" else MagicAnimateVideo(frames=2, stride=2, reduce_p=0.0, flip_p=0.0)

    def stream(rank: int, world: int):
        return recipe.stream(shards, resolution=SIZE, split="train", seed=0, stream_seed=5, conditions=("openpose18",), rank=rank,
                             world_size=world, block=2)  # fmt: skip

    n = stream(0, 1).epoch_size()
    rounds = n // 4  # whole rounds of W · batch before the padded end of the epoch
    assert rounds >= 1 and stream(0, 2).epoch_size() == stream(1, 2).epoch_size() == -(-n // 4) * 2
    one = list(itertools.islice(stream(0, 1).batches(2), 2 * rounds))
    ranks = [list(itertools.islice(stream(r, 2).batches(2), rounds)) for r in range(2)]
    for k in range(rounds):
        for r in range(2):
            a, b = ranks[r][k], one[k * 2 + r]
            assert torch.equal(a["frames"], b["frames"]) and a["clip_id"] == b["clip_id"]
    seen = [c for r in ranks for b in r for c in b["clip_id"]]
    assert len(seen) == 4 * rounds and len(set(seen)) > 1


def _workspace(root: Path, shards: Path, models: dict) -> Path:
    """A workspace folder the stage entry (`python -m tasks.train`) runs in: params.yaml and the shards."""
    params = json.loads(json.dumps(TINY_PARAMS))
    params["datasets"] = {"synth": params["datasets"]["synthdance"]}
    params["estimators"] = {"synth": ["groundtruth"]}
    params["models"], params["samplers"], params["tables"] = models, {}, {}
    root.mkdir(parents=True, exist_ok=True)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (root / "data" / "shards").mkdir(parents=True, exist_ok=True)
    (root / "data" / "shards" / "synth").symlink_to(Path(shards).resolve())
    return root


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE", "PYTHONPATH": str(REPO)}


def test_two_processes_equal_one_process_with_twice_the_batch(shards, tmp_path):
    vae = {"kind": "reference_clip"}
    ws = _workspace(tmp_path, shards.dir, {
        "ddp": _baseline({"gpus": 2}, vae=_stage(vae, steps=3, batch_size=2)),
        "one": _baseline({}, vae=_stage(vae, steps=3, batch_size=2, grad_accum=2)),
    })  # fmt: skip
    from humanvid.pipeline import launch_command
    from humanvid.validate import load_config

    cmd = launch_command(load_config(ws / "params.yaml"), "ddp", "ddp.vae")
    assert cmd.startswith("accelerate launch --multi_gpu --num_processes 2 ")
    launcher = Path(sys.executable).parent / "accelerate"
    proc = subprocess.run([str(launcher), *cmd.split()[1:], "--workspace", str(ws)], cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = subprocess.run([sys.executable, "-m", "tasks.train", "one.vae", "--workspace", str(ws)], cwd=REPO, env=_env(), capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    ddp, one = (ws / "data" / "models" / m / "vae" for m in ("ddp", "one"))
    log = json.loads((ddp / "train_log.json").read_text())
    assert log["processes"] == 2 and log["steps"] == 3
    a, b = _weights(ddp), _weights(one)
    assert a.keys() == b.keys()
    init = _weights_of_fresh_vae()
    assert any(not torch.equal(a[k], init[k]) for k in init)  # it trained
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=2e-6, msg=k)
    np.testing.assert_allclose(log["losses"], json.loads((one / "train_log.json").read_text())["losses"], rtol=1e-5)


def _weights_of_fresh_vae() -> dict[str, torch.Tensor]:
    m = Baseline.create("debug", None, resolution=SIZE, seed=0, device=CPU, weight_dtype=torch.float32)
    return {f"vae.{k}": v for k, v in m.vae.state_dict().items()}


# -- gradient checkpointing --------------------------------------------------------------------------------------


@pytest.mark.parametrize("method, stage", [("magicanimate", "pretrain"), ("magicanimate", "finetune"), ("baseline", "pretrain")])
def test_gradient_checkpointing_gives_the_same_gradients(shards, method, stage):
    """Hybrid attention included: the appearance a block reads travels with its call, so re-running the block in the
    backward pass reads exactly what the forward read."""
    from humanvid.recipes import MagicAnimatePair, MagicAnimateVideo, ReferenceClip

    recipe = {"pretrain": MagicAnimatePair(flip_p=0.0), "finetune": MagicAnimateVideo(frames=3, stride=2, reduce_p=0.0, flip_p=0.0)}[stage]
    if method == "baseline":
        recipe = ReferenceClip()
    cls = {"magicanimate": MagicAnimate, "baseline": Baseline}[method]

    def gradients(checkpointing: bool):
        model = cls.create("debug", None, resolution=SIZE, seed=1, device=CPU, weight_dtype=torch.float32)
        if hasattr(model, "hyper"):
            model.hyper = type(model.hyper)(appearance_dropout=0.0)
        model.prepare(stage, seed=2)
        for p in model.unet.parameters():  # fresh zero-initialised outputs pass no gradient through: give them weight
            p.data += 0.01 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel()))
        params = model.trainable_parameters(stage)
        for module in model.modules().values():
            module.train()
        calls = []
        block = next(m for n, m in model.unet.named_modules() if n.endswith("transformer_blocks.0") and n.startswith("up_blocks") and ".attentions." in n)
        block.register_forward_pre_hook(lambda *_: calls.append(1))  # a pre-hook: a re-computation may stop before the block's end
        if checkpointing:
            model.enable_gradient_checkpointing()
        stream = recipe.stream(shards, resolution=SIZE, split="train", seed=0, stream_seed=3, conditions=model.conditions())
        batch = model.batch(next(stream.batches(2 if stage == "pretrain" else 1)), stage)
        loss = model.loss(batch, stage, torch.Generator().manual_seed(4))["loss"]
        loss.backward()
        return float(loss), [p.grad.clone() if p.grad is not None else None for p in params], len(calls)

    plain_loss, plain, plain_calls = gradients(False)
    ckpt_loss, ckpt, ckpt_calls = gradients(True)
    assert ckpt_calls == 2 * plain_calls  # the block really was re-run in the backward pass
    assert plain_loss == ckpt_loss
    assert sum(g is not None for g in plain) > 0
    for a, b in zip(plain, ckpt, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


# -- resume ------------------------------------------------------------------------------------------------------


def test_a_killed_stage_resumes_to_the_uninterrupted_weights(shards, tmp_path):
    vae = _stage({"kind": "reference_clip"}, steps=150, batch_size=2, checkpoint_every=10, lr_schedule="cosine", warmup_steps=5, ema_decay=0.9)
    ws = _workspace(tmp_path, shards.dir, {"a": _baseline({}, vae=vae), "b": _baseline({}, vae=vae)})
    run = lambda m: subprocess.Popen([sys.executable, "-m", "tasks.train", f"{m}.vae", "--workspace", str(ws)], cwd=REPO, env=_env(),  # noqa: E731
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)  # fmt: skip
    a = run("a")
    out_a = a.communicate(timeout=600)[0]
    assert a.returncode == 0, out_a[-2000:]
    b = run("b")
    resume = ws / "data" / "models" / "b" / "vae.resume"
    deadline = time.time() + 300
    while not any((p / "complete").is_file() for p in resume.glob("step-*")) and b.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(b.pid, signal.SIGKILL)
    b.wait()
    assert b.returncode == -signal.SIGKILL, "the stage finished before it could be killed: give it more steps"
    assert not (ws / "data" / "models" / "b" / "vae").exists()  # nothing that looks done
    saved = max(int(p.name.split("-")[1]) for p in resume.glob("step-*") if (p / "complete").is_file())
    b = run("b")
    out_b = b.communicate(timeout=600)[0]
    assert b.returncode == 0, out_b[-2000:]
    assert f"resumed at step {saved}/150" in out_b
    wa, wb = _weights(ws / "data/models/a/vae"), _weights(ws / "data/models/b/vae")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa), "resumed weights differ from the uninterrupted run"
    la, lb = (json.loads((ws / f"data/models/{m}/vae/train_log.json").read_text()) for m in "ab")
    assert la["losses"] == lb["losses"] and lb["resumed_from"] == saved
    assert (ws / "reports/training/b.vae/plots/metrics/train/loss.tsv").read_text().count("\n") == 151  # header + every step, resumed or not


def test_a_checkpoint_of_another_configuration_is_not_resumed(tmp_path):
    from humanvid.training.resume import COMPLETE, ResumeStore

    (tmp_path / "step-4").mkdir()
    torch.save({"step": 4, "fingerprint": "old"}, tmp_path / "step-4" / "state.pt")
    (tmp_path / "step-4" / COMPLETE).write_text("4\n")
    (tmp_path / "step-8").mkdir()  # being written when the stage died: no `complete`
    said = []
    assert ResumeStore(tmp_path, "new", said.append).load(0) is None
    assert "another configuration or other inputs (step 4)" in said[0]
    torch.save({"step": 4, "fingerprint": "new"}, tmp_path / "step-4" / "state.pt")
    assert ResumeStore(tmp_path, "new", said.append).load(0) is None and "no state for process 0" in said[1]


# -- a stage shared by several models ----------------------------------------------------------------------------


def test_a_model_starts_from_another_models_checkpoint_with_its_own_options(shards, tmp_path):
    shared = _baseline({}, vae=_stage({"kind": "reference_clip"}, steps=2))
    branch = {**_baseline({}), "starts_from": {"model": "shared", "stage": "vae"}}
    branch["arch"] = {**branch["arch"], "options": {"l1_weight": 0.5}}
    branch["stages"] = {k: v for k, v in branch["stages"].items() if k != "vae"}
    cfg, layout = stage_workspace(tmp_path / "ws", {"synth": shards.dir}, {"shared": shared, "branch": branch})
    where = placement(cfg.models["shared"].run)
    from humanvid.training.run import run_stage, stage_inputs

    out = layout.checkpoint("shared", "vae")
    out.mkdir(parents=True)
    run_stage(cfg, layout, "shared", "vae", out, where, lambda m: None)
    assert layout.checkpoint("shared", "vae") in stage_inputs(cfg, layout, "branch", "pretrain")
    last = train_model(cfg, layout, "branch")
    vae = {k: v for k, v in _weights(out).items() if k.startswith("vae.")}
    assert vae and all(torch.equal(v, _weights(last)[k]) for k, v in vae.items())  # the shared VAE, frozen after its stage
    assert Baseline.from_checkpoint(last, device=CPU, weight_dtype=torch.float32).options.l1_weight == 0.5  # the branch's own options
    assert json.loads((layout.checkpoint("shared", "vae") / "humanvid.json").read_text())["options"]["l1_weight"] != 0.5


# -- data mixes, schedules, EMA, progress ------------------------------------------------------------------------


def test_stages_train_on_different_datasets_and_mixes(tmp_path):
    a, _ = _build(tmp_path / "a", n_ids=2, per_id=1, frames=24)
    b, _ = _build(tmp_path / "b", n_ids=2, per_id=1, frames=24, prefix="b")
    model = _baseline({}, vae=_stage({"kind": "reference_clip"}, data="a"),
                      pretrain=_stage({"kind": "reference_clip"}, steps=2, data=[{"dataset": "a", "weight": 1}, {"dataset": "b", "weight": 3}]),
                      finetune=_stage({"kind": "reference_clip", "frames": 3}, batch_size=1, data="b"))  # fmt: skip
    cfg, layout = stage_workspace(tmp_path / "ws", {"a": a.dir, "b": b.dir}, {"m": model})
    assert json.loads((train_model(cfg, layout, "m") / "train_log.json").read_text())["steps"] == 1
    where = placement(cfg.models["m"].run)
    mix = stage_stream(cfg, layout, "m", "pretrain", ("openpose18",), where, 0)
    taken = [batch["clip_id"][0] for batch in itertools.islice(mix.batches(1), 400)]
    share_b = sum(c in set(b.clip_ids("train")) for c in taken) / len(taken)
    assert 0.65 < share_b < 0.85  # weight 3 of 4
    state = mix.state_dict()
    rest = [x["clip_id"][0] for x in itertools.islice(mix.batches(1), 5)]
    again = stage_stream(cfg, layout, "m", "pretrain", ("openpose18",), where, 0)
    again.load_state_dict(state)
    assert [x["clip_id"][0] for x in itertools.islice(again.batches(1), 5)] == rest  # a mix resumes where it was


def test_warmup_schedule_and_ema_in_the_loop(shards, tmp_path):
    from humanvid.training.loop import Monitor

    class Lrs(Monitor):
        def __init__(self):
            self.lrs = []

        def on_step(self, step, terms, lr):
            self.lrs.append(lr)

    vae = _stage({"kind": "reference_clip"}, steps=6, lr=1e-3, lr_schedule="linear", warmup_steps=2)
    cfg, layout = stage_workspace(tmp_path, {"synth": shards.dir}, {"m": _baseline({}, vae=vae), "e": _baseline({}, vae={**vae, "ema_decay": 0.5})})
    from humanvid.training.run import run_stage

    seen = {}
    for m in ("m", "e"):
        monitor = Lrs()
        (out := layout.checkpoint(m, "vae")).mkdir(parents=True)
        run_stage(cfg, layout, m, "vae", out, placement(cfg.models[m].run), lambda s: None, monitor)
        seen[m] = monitor.lrs
    np.testing.assert_allclose(seen["m"], [0.0, 5e-4, 1e-3, 7.5e-4, 5e-4, 2.5e-4])  # linear warm-up over 2 steps, then linear decay
    raw, ema = _weights(layout.checkpoint("m", "vae")), _weights(layout.checkpoint("e", "vae"))
    assert any(not torch.equal(raw[k], ema[k]) for k in raw)  # the EMA of the weights was saved, not the last weights


def test_progress_is_a_bar_on_a_terminal_and_lines_otherwise(monkeypatch):
    from humanvid.training.loop import _Progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    bar = _Progress("m.stage", 4, 0, 2, print, enabled=True)
    for step in range(1, 5):
        bar.update(step, 0.5, 1e-4)
    bar.close()
    text = term.getvalue()
    assert "m.stage" in text and "4/4" in text and "loss=0.5000" in text and "lr=1.00e-04" in text and "step/s" in text
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    lines = []
    plain = _Progress("m.stage", 4, 0, 2, lines.append, enabled=True)
    for step in range(1, 5):
        plain.update(step, 0.5, 1e-4)
    assert len(lines) == 2 and lines[-1].startswith("m.stage: step 4/4 loss 0.5000 lr 0.0001") and "ETA" in lines[-1]
