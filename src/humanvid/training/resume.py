"""A training stage's full state, every `checkpoint_every` steps, so a killed stage resumes where it was and
ends with exactly the weights an uninterrupted run gives.

Layout: `<resume dir>/step-<N>/` holds `state.pt` (the step, the trained weights by name, optimizer,
schedule, loss scaler, EMA, the losses so far, the fingerprint) and `rank<r>.pt` per process (its noise
generators and its loader position), and `complete` — written last, so a folder without it is a
checkpoint that was being written when the stage died and is ignored. Older checkpoints are removed once
a newer one is complete. Files are read with `torch.load(weights_only=True)`: tensors, numbers, strings.

A checkpoint belongs to one configuration: the fingerprint (the stage's config, the model's arch and run
settings, the number of processes, and the content of the stage's inputs) must match, or the stage starts
from zero and says why — DVC re-runs a stage whose params or inputs changed, and the persisted folder must
not carry the old run's state into it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import torch

from humanvid.disk import DiskFull, named_disk_full, require_free

COMPLETE = "complete"


def fingerprint(config: dict, inputs: list[Path]) -> str:
    """sha256 of the JSON config and of every file under `inputs` (path relative to its input and bytes)."""
    h = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode())
    for root in inputs:
        root = Path(root)
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for f in files:
            h.update(str(f.relative_to(root) if root.is_dir() else f.name).encode())
            with open(f, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
    return h.hexdigest()


def named_parameters(method, params: list[torch.nn.Parameter]) -> dict[str, torch.nn.Parameter]:
    """The trained parameters by `component.name` (the method's modules)."""
    wanted = {id(p) for p in params}
    out = {}
    for comp, module in method.modules().items():
        for n, p in module.named_parameters():
            if id(p) in wanted:
                out[f"{comp}.{n}"] = p
    if len(out) != len(wanted):
        raise ValueError("some trained parameters belong to none of the method's modules")
    return out


class ResumeStore:
    """One stage's resume folder (see the module docstring)."""

    def __init__(self, path: Path, fingerprint: str, log=print) -> None:
        self.path, self.fingerprint, self.log = Path(path), fingerprint, log

    def _latest(self) -> Path | None:
        done = [p for p in self.path.glob("step-*") if (p / COMPLETE).is_file()]
        return max(done, key=lambda p: int(p.name.split("-")[1])) if done else None

    def load(self, rank: int) -> dict | None:
        """The latest complete checkpoint's state for this rank, or None (nothing saved, or saved by another
        configuration: then the folder is cleared)."""
        latest = self._latest()
        if latest is None:
            return None
        shared = torch.load(latest / "state.pt", map_location="cpu", weights_only=True)
        if shared.get("fingerprint") != self.fingerprint:
            self.log(f"{self.path}: a checkpoint of another configuration or other inputs (step {shared.get('step')}): starting from step 0")
            return None
        own = latest / f"rank{rank}.pt"
        if not own.is_file():
            self.log(f"{self.path}: no state for process {rank} (saved with another number of processes): starting from step 0")
            return None
        return {**shared, **torch.load(own, map_location="cpu", weights_only=True)}

    def restore(self, state: dict, method, params, optimizer, scheduler, scaler, ema, generators, stream, result) -> int:
        """Put `state` into the live objects; returns the step it was saved at."""
        named = named_parameters(method, params)
        if set(named) != set(state["params"]):
            raise ValueError(f"{self.path}: the checkpoint trains other parameters than this stage")
        with torch.no_grad():
            for k, p in named.items():
                p.copy_(state["params"][k])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        if ema is not None:
            ema.load_state_dict(state["ema"])
        if len(state["generators"]) != len(generators):
            raise ValueError(f"{self.path}: {len(state['generators'])} noise generators saved, this stage has {len(generators)}")
        for g, st in zip(generators, state["generators"], strict=True):
            g.set_state(st)
        stream.load_state_dict(state["stream"])
        result.losses[:] = list(state["losses"])
        result.terms.clear()
        result.terms.update({k: list(v) for k, v in state["terms"].items()})
        return int(state["step"])

    def save(self, step, accelerator, method, params, optimizer, scheduler, scaler, ema, generators, stream, result) -> None:
        """Write checkpoint `step` (every process its own file; the main one the shared state), then drop older ones.
        A disk without room for it refuses before writing (`DiskFull`), and a write that fills the disk removes
        the incomplete checkpoint."""
        folder = self.path / f"step-{step}"
        trained = named_parameters(method, params)
        if accelerator.is_main_process:
            if folder.exists():
                shutil.rmtree(folder)
            # float32 weights, AdamW's two moments and the EMA copy: known before a byte is written
            require_free(self.path, 4 * sum(p.numel() for p in trained.values()) * (4 if ema is not None else 3), folder)
            folder.mkdir(parents=True)
        accelerator.wait_for_everyone()
        try:
            with named_disk_full(folder):
                torch.save({"generators": [g.get_state() for g in generators], "stream": stream.state_dict()},
                           folder / f"rank{accelerator.process_index}.pt")  # fmt: skip
                if accelerator.is_main_process:
                    shared = {
                        "step": step,
                        "fingerprint": self.fingerprint,
                        "params": {k: p.detach().cpu().clone() for k, p in trained.items()},
                        "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(),
                        "scaler": scaler.state_dict() if scaler is not None else {},
                        "ema": ema.state_dict() if ema is not None else {},
                        "losses": list(result.losses),
                        "terms": {k: list(v) for k, v in result.terms.items()},
                    }
                    torch.save(shared, folder / "state.pt")
        except DiskFull:
            shutil.rmtree(folder, ignore_errors=True)  # never resumed from without COMPLETE; give its space back
            raise
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            (folder / COMPLETE).write_text(f"{step}\n")
            for old in self.path.glob("step-*"):
                if old != folder:
                    shutil.rmtree(old, ignore_errors=True)
