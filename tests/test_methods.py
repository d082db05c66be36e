"""Every registered method at its debug flavor, through the method interface only: build, one step of each
training stage (the real stage runner), exactly the stage's trainable parameters change, save/load round
trip, a few sampling steps, every declared output decoded with the right shape. A new method registered
in METHODS is tested here without editing this file."""

from __future__ import annotations

import pytest
import torch
from conftest import stage_workspace
from test_loader import FRAMES, SIZE, _build

from humanvid.config import SamplerConfig
from humanvid.controls import control_sources
from humanvid.models import METHODS
from humanvid.recipes import RECIPES
from humanvid.sampling.clips import sample_clip
from humanvid.shards import ShardReader
from humanvid.training.resume import named_parameters
from humanvid.training.run import placement, run_stage

CPU = torch.device("cpu")
# Each method at its defaults, plus the option variants that declare more outputs.
VARIANTS = [(name, {}) for name in METHODS.names()] + [("baseline", {"depth": True})]


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return _build(tmp_path_factory.mktemp("methods") / "shards", n_ids=2, per_id=1)[0]


def _recipe(kind: str, max_span: int | None = None) -> dict:
    """The first recipe a stage accepts, small enough for a test: few frames (at most the stage's `max_span`), no
    flips (DensePose is sided)."""
    fields = RECIPES.get(kind).model_fields
    recipe = {"kind": kind, "flip_p": 0.0} if kind != "reference_clip" else {"kind": kind}
    if "frames" in fields and kind != "reference_clip":
        recipe["frames"] = min(3, max_span or 3)
    if "stride" in fields and kind != "reference_clip":
        recipe["stride"] = 2
    if "reduce_p" in fields:
        recipe["reduce_p"] = 0.0
    return recipe


def flavor_of(spec) -> str:
    """The flavor a method is tested at: `debug`, or for a method without one (the floors) its first trained flavor."""
    return "debug" if "debug" in spec.flavors else next(f for f, fs in spec.flavors.items() if not fs.released)


def _model_params(name: str, options: dict) -> dict:
    spec = METHODS.get(name)
    stages = {s.name: {"data": "synth", "recipe": _recipe(s.recipes[0], s.max_span), "steps": 1, "batch_size": 2 if s.recipes[0] == "reference_clip" else 1,
                       "lr": 1e-3, "log_every": 1} for s in spec.stages_for(flavor_of(spec))}  # fmt: skip
    return {"arch": {"method": name, "flavor": flavor_of(spec), "resolution": SIZE, "options": options},
            "run": {"seed": 0, "device": "cpu"}, "stages": stages}  # fmt: skip


def _state(model) -> dict[str, torch.Tensor]:
    return {f"{c}.{k}": v.detach().clone() for c, m in model.modules().items() for k, v in m.state_dict().items()}


@pytest.mark.parametrize("name, options", VARIANTS, ids=[f"{n}{'-' + '-'.join(o) if o else ''}" for n, o in VARIANTS])
def test_method_through_its_interface(shards, tmp_path, name, options):
    spec = METHODS.get(name)
    cls = spec.load()
    assert cls.spec is spec and not spec.flavors[flavor_of(spec)].released
    cfg, layout = stage_workspace(tmp_path, {"synth": shards.dir}, {"m": _model_params(name, options)})
    where = placement(cfg.models["m"].run)
    before = None
    for stage in cfg.models["m"].stages:
        # What the stage may change: the parameters its method marks trainable, named as the checkpoint names them.
        model = cls.create(flavor_of(spec), spec.parse_options(options), resolution=SIZE, seed=0, device=CPU, weight_dtype=torch.float32) \
            if before is None else cls.from_checkpoint(before, device=CPU, weight_dtype=torch.float32)  # fmt: skip
        model.prepare(stage, seed=0)
        start = _state(model)
        trainable = set(named_parameters(model, model.trainable_parameters(stage)))
        out = layout.checkpoint("m", stage)
        out.mkdir(parents=True)
        run_stage(cfg, layout, "m", stage, out, where, log=lambda m: None)
        after = _state(cls.from_checkpoint(out, device=CPU, weight_dtype=torch.float32))
        changed = {k for k in start if not torch.equal(start[k], after[k])}
        assert trainable and changed, f"{stage}: nothing trained"
        assert changed <= trainable, f"{stage}: changed outside its trainable parameters: {sorted(changed - trainable)[:5]}"
        assert len(changed) >= len(trainable) // 2, f"{stage}: only {len(changed)} of {len(trainable)} trainable tensors moved"
        before = out

    model = cls.from_checkpoint(before, device=CPU, weight_dtype=torch.float32)
    model.save(tmp_path / "again")
    again = cls.from_checkpoint(tmp_path / "again", device=CPU, weight_dtype=torch.float32)
    assert _state(again).keys() == _state(model).keys() and all(torch.equal(_state(again)[k], v) for k, v in _state(model).items())
    assert (again.control, again.outputs, type(again).__name__) == (model.control, model.outputs, type(model).__name__)

    reader = ShardReader(shards.dir)
    sampler = SamplerConfig(model="m", data="synth", split="train", window=4, overlap=1, steps=2, guidance_scale=2.0, max_frames=6)
    outputs = [sample_clip(m, reader, reader.clip_ids("train")[0], sampler, 1) for m in (model, again)]
    assert set(outputs[0]) == set(spec.outputs(spec.parse_options(options)))
    assert outputs[0]["rgb"].shape == (6, 3, SIZE, SIZE) and outputs[0]["rgb"].abs().max() <= 1
    if "depth" in outputs[0]:
        assert outputs[0]["depth"].shape == (6, SIZE, SIZE) and torch.isfinite(outputs[0]["depth"]).all()
    for k in outputs[0]:  # the reloaded model samples exactly what the saved one does
        assert torch.equal(outputs[0][k], outputs[1][k]), k


def test_the_shards_hold_what_every_debug_method_reads(shards):
    """The matrix above is only meaningful if its shards give every method its conditions."""
    for name, options in VARIANTS:
        spec = METHODS.get(name)
        opts = spec.parse_options(options)
        wanted = {c for kind in spec.controls(opts) for c in control_sources(kind)} | set(spec.conditions(opts))
        assert wanted <= set(shards.conditions), name
    assert FRAMES >= 16
