"""Decoding processes that write samples straight into a ring of reused shared-memory slots.

Why not DataLoader workers: torch's worker transport puts every batch into a *new* shared-memory
segment — the worker copies the 13 MB of a MagicAnimate stage-2 sample into fresh pages and the training
process maps them again — which halved the rate here; decoding threads share one GIL, and the Python
glue beside two decoders costs a fifth of two cores (docs/benchmarks.md). Here each process decodes the
frames and image conditions of a sample into a slot of one shared buffer allocated once, and the training
process wraps the slot as tensors without a copy. A slot is reused when the last tensor viewing it is
gone (a `weakref.finalize` on the slot's array, which every tensor of the sample keeps alive through its
storage), so memory stays bounded at `slots` samples. If the consumer holds every slot, the next sample
travels by value instead of waiting forever.

Samples come in the same order and with the same contents as decoding in the training process: sample
k of an epoch depends only on (seed, epoch, k), not on which process decoded it.
"""

from __future__ import annotations

import math
import queue
import traceback
import weakref
from collections import deque
from collections.abc import Iterator

import numpy as np
import torch

_ALIGN = 64  # bytes: every array in a slot starts on a cache line (and any dtype's alignment)
_POLL_S = 1.0  # how often a waiting consumer checks that the decoding processes are alive


class SlotAllocator:
    """Bump allocation of a sample's arrays inside one slot; arrays that do not fit are ordinary memory
    (they travel by value)."""

    def __init__(self, slot: np.ndarray | None) -> None:
        self.slot, self.used = slot, 0

    def __call__(self, shape: tuple[int, ...], dtype) -> np.ndarray:
        dtype = np.dtype(dtype)
        nbytes = math.prod(shape) * dtype.itemsize
        start = -(-self.used // _ALIGN) * _ALIGN
        if self.slot is None or start + nbytes > len(self.slot):
            self.used = start + nbytes  # what the sample needed, for sizing slots
            return np.empty(shape, dtype)
        self.used = start + nbytes
        return np.ndarray(shape, dtype, buffer=self.slot, offset=start)


def pack(sample: dict, slot: np.ndarray | None) -> dict:
    """A sample for the queue: tensors inside the slot as (offset, dtype, shape, stride), other tensors as
    numpy arrays (pickled by value, not through torch's shared-memory reducer), the rest as it is."""
    lo = slot.ctypes.data if slot is not None else 0
    hi = lo + (len(slot) if slot is not None else 0)
    out = {}
    for key, value in sample.items():
        if isinstance(value, torch.Tensor):
            ptr = value.data_ptr()
            if slot is not None and lo <= ptr < hi and value.numel():
                out[key] = ("slot", ptr - lo, str(value.dtype).removeprefix("torch."), tuple(value.shape), value.stride())
            else:
                out[key] = ("array", value.numpy())
        else:
            out[key] = ("value", value)
    return out


def unpack(packed: dict, owner: torch.Tensor | None) -> dict:
    """The inverse of `pack` in the training process: slot tensors are views of `owner` (the slot)."""
    out = {}
    for key, (kind, *rest) in packed.items():
        if kind == "slot":
            offset, dtype, shape, stride = rest
            typed = owner.view(getattr(torch, dtype))
            out[key] = torch.as_strided(typed, shape, stride, offset // typed.element_size())
        elif kind == "array":
            out[key] = torch.from_numpy(rest[0])
        else:
            out[key] = rest[0]
    return out


def _work(dataset, ring: torch.Tensor, slot_bytes: int, tasks, results) -> None:
    """A decoding process: take (epoch, k, slot) tasks until None; put (epoch, k, slot, packed or error)."""
    torch.set_num_threads(1)
    reader = dataset.reader  # a forked copy: fresh locks and open files (another thread may have held them)
    reader.__setstate__(reader.__getstate__())
    ring_np = ring.numpy()
    while (task := tasks.get()) is not None:
        epoch, k, slot = task
        try:
            view = ring_np[slot * slot_bytes : (slot + 1) * slot_bytes] if slot is not None else None
            sample = dataset.sample(epoch, k, SlotAllocator(view))
            results.put((epoch, k, slot, pack(sample, view), None))
        except Exception as exc:  # reported in the training process, with this traceback
            results.put((epoch, k, slot, None, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
    results.cancel_join_thread()  # stopped early, the consumer no longer reads: exit without flushing


def iterate_processes(dataset, jobs: Iterator[tuple[int, int]], processes: int, ahead: int = 2,
                      extra_slots: int = 1) -> Iterator[tuple[int, int, dict]]:  # fmt: skip
    """(epoch, k, sample) for each (epoch, k) of `jobs`, in order, decoded by `processes` processes.

    Slots: processes × ahead in flight, plus `extra_slots` the consumer may hold (its batch). Their size is
    measured on the first sample, decoded here, scaled to the sampler's largest K."""
    jobs = iter(jobs)
    first = next(jobs, None)
    if first is None:
        return
    measure = SlotAllocator(None)
    sample = dataset.sample(*first, measure)
    yield *first, sample
    slot_bytes = _slot_bytes(measure.used, len(sample["targets"]), dataset.cfg.max_targets())
    n_slots = processes * ahead + extra_slots
    ring = torch.empty(n_slots * slot_bytes, dtype=torch.uint8).share_memory_()
    ctx = torch.multiprocessing.get_context("fork")
    tasks, results = ctx.SimpleQueue(), ctx.Queue()
    procs = [ctx.Process(target=_work, args=(dataset, ring, slot_bytes, tasks, results), daemon=True, name=f"humanvid-decode-{i}")
             for i in range(processes)]  # fmt: skip
    for p in procs:
        p.start()
    free: deque[int] = deque(range(n_slots))
    ring_np = ring.numpy()
    order: deque[tuple[int, int]] = deque()  # submitted, in delivery order
    done: dict[tuple[int, int], tuple] = {}
    try:
        while True:
            while len(order) < processes * ahead and (job := next(jobs, None)) is not None:
                # No free slot (the consumer holds them all): this sample travels by value rather than wait.
                tasks.put((*job, free.popleft() if free else None))
                order.append(job)
            if not order:
                return
            while order[0] not in done:
                try:
                    epoch, k, slot, packed, error = results.get(timeout=_POLL_S)
                except queue.Empty:
                    dead = [p for p in procs if not p.is_alive()]
                    if dead:
                        raise RuntimeError(f"{dataset.reader.dir}: decoding process {dead[0].name} exited with code {dead[0].exitcode}") from None
                    continue
                done[(epoch, k)] = (slot, packed, error)
            job = order.popleft()
            slot, packed, error = done.pop(job)
            if error is not None:
                raise RuntimeError(f"{dataset.reader.dir}: epoch {job[0]} sample {job[1]} failed in a decoding process: {error}")
            owner = view = None
            if slot is not None:
                view = ring_np[slot * slot_bytes : (slot + 1) * slot_bytes]  # a new array object per sample: its lifetime is the sample's
                owner = torch.from_numpy(view)
                weakref.finalize(view, free.append, slot)
            sample = unpack(packed, owner)
            del owner, view
            yield *job, sample
    finally:
        for _ in procs:
            tasks.put(None)
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()


def _slot_bytes(measured: int, targets: int, max_targets: int) -> int:
    """A slot for the largest sample: the measured sample scaled by K (an overestimate for the reference
    frame), plus a cache line per array, rounded up to whole pages."""
    need = measured * max(1, max_targets) // max(1, targets) + 16 * _ALIGN
    return -(-need // 4096) * 4096
