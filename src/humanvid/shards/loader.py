"""The training data loader over Parquet shards: one reader for every paper's sampling.

- Epochs: every training clip once per epoch, in a seeded permutation across all shards.
- Ranks and workers: the permutation is padded by wrap-around to a multiple of world_size × block ×
  workers and dealt to the ranks in blocks of `block` (a batch), so every rank gets the same number of
  samples (a rank that ran out early would leave the others waiting in a collective forever), and rank r's
  k-th batch is batch k·world_size + r of the one-process stream: DDP over W ranks reads the batches one
  process would accumulate. With one rank nothing is padded.
- Resume: `state_dict()` = {epoch, consumed}; a loader restored from it continues with exactly the
  samples that had not been delivered (DataLoader hands out worker items round-robin, in order).
- Bad data: a frame that does not decode skips that sample — the next one of the same worker's share
  takes its place, so counts stay equal — and the skipped clip is listed in the sample (`skipped`).
- Decoding: only the frames and conditions a sample uses, with the fastest JPEG decoder present
  (`jpeg_decoder()`); resizing only when the shard resolution differs from the training resolution.

Samples hold uint8 frames (K, 3, S, S) (normalise on the device), keypoints mapped to the crop, SMPL-X
parameter vectors as stored (the source frame's camera), the image conditions asked for, and the frames' names
(`frame_keys`, `reference_key`: `humanvid.shards.samples.frame_key`, what a latent cache is keyed by). A
Make-Your-Anchor sampler with `perturb` perturbs the targets' SMPL-X parameters and renders their
`mesh_normals` again before the crop (`humanvid.body.perturb.MeshPerturbation`, passed in); flipping mirrors
a normal map's x component; SMPL-X parameters and DensePose refuse flips (sided).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from humanvid.conditions import crop_resize, crop_resize_camera, crop_resize_keypoints, crop_resize_plane
from humanvid.keypoints import flip_keypoints
from humanvid.recipes import ClipInfo, Pick, Recipe
from humanvid.shards.codec import DecodeError, decode_condition
from humanvid.shards.reader import ShardReader
from humanvid.shards.samples import frame_key
from humanvid.shards.schema import ARRAY_CONDITIONS, KEYPOINT_CONDITIONS

if TYPE_CHECKING:  # the SMPL-X model loads only when a sampler perturbs meshes
    from humanvid.body.perturb import MeshPerturbation

Allocator = Callable[[tuple[int, ...], "np.dtype | type"], np.ndarray]
"""(shape, dtype) -> an uninitialised array a sample's frames or image conditions are decoded into."""


def jpeg_decoder() -> tuple[str, Callable[..., np.ndarray]]:
    """(name, decode(bytes, out=None) -> uint8 RGB): simplejpeg (libjpeg-turbo, fastest here, decodes
    straight into `out`) > OpenCV > Pillow."""
    try:
        import simplejpeg

        def decode(data: bytes, out: np.ndarray | None = None) -> np.ndarray:
            if out is not None and simplejpeg.decode_jpeg_header(data)[:2] != out.shape[:2]:
                out = None  # another size: decode to a new array, the caller resizes
            return simplejpeg.decode_jpeg(data, colorspace="RGB", buffer=out)

        return "simplejpeg", decode
    except ImportError:
        pass

    def copy_into(img: np.ndarray, out: np.ndarray | None) -> np.ndarray:
        if out is None or out.shape != img.shape:
            return img
        out[...] = img
        return out

    try:
        import cv2

        def decode(data: bytes, out: np.ndarray | None = None) -> np.ndarray:
            img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            if img is None:
                raise ValueError("not a JPEG")
            return copy_into(cv2.cvtColor(img, cv2.COLOR_BGR2RGB), out)

        return "opencv", decode
    except ImportError:
        from humanvid.shards.codec import decode_jpeg

        return "pillow", lambda data, out=None: copy_into(decode_jpeg(data), out)


def jpeg_size(data: bytes) -> tuple[int, int]:
    """(height, width) of a JPEG from its header, without decoding it."""
    try:
        import simplejpeg

        return tuple(simplejpeg.decode_jpeg_header(data)[:2])
    except ImportError:
        import io

        from PIL import Image

        with Image.open(io.BytesIO(data)) as img:
            return img.height, img.width


def decode_on_device(batch: dict, device: torch.device, size: int) -> dict:
    """A collated batch of `keep_jpeg` samples with its JPEGs decoded on `device` — torchvision's `decode_jpeg`, on
    CUDA nvJPEG over the whole batch in one call, on a CPU libjpeg — then centre-cropped and resized to `size` as
    `crop_resize` does (bicubic, antialiased; no resize when the shard already has that size) and mirrored where the
    sample was flipped: `frames` (B, K, 3, S, S) and `reference` (B, 3, S, S), uint8 on `device` (a list per sample
    where K differs)."""
    from torchvision.io import ImageReadMode, decode_jpeg

    out = {k: v for k, v in batch.items() if k not in ("frames_jpeg", "reference_jpeg")}
    groups = {"frames": batch["frames_jpeg"]}
    if "reference_jpeg" in batch:
        groups["reference"] = [[j] for j in batch["reference_jpeg"]]
    flat = [torch.frombuffer(bytearray(j), dtype=torch.uint8) for g in groups.values() for js in g for j in js]
    images = iter(decode_jpeg(flat, mode=ImageReadMode.RGB, device=device))
    for name, jpegs in groups.items():
        per_sample = []
        for js, flip in zip(jpegs, batch["flip"], strict=True):
            x = torch.stack([device_crop_resize(next(images), size) for _ in js])
            per_sample.append(x.flip(-1) if flip else x)
        if name == "reference":
            out[name] = torch.cat(per_sample)
        else:
            out[name] = torch.stack(per_sample) if len({x.shape for x in per_sample}) == 1 else per_sample
    return out


def device_crop_resize(image: torch.Tensor, size: int) -> torch.Tensor:
    """`crop_resize` for a uint8 image tensor (3, H, W) on any device: the same centre crop, then bicubic with
    antialiasing (PIL's filter) to (3, size, size)."""
    from humanvid.conditions import crop_box

    top, left, side = crop_box(*image.shape[1:])
    crop = image[:, top : top + side, left : left + side]
    if side == size:
        return crop
    resized = torch.nn.functional.interpolate(crop[None].float(), (size, size), mode="bicubic", antialias=True, align_corners=False)
    return resized[0].round_().clamp_(0, 255).to(torch.uint8)


@dataclass(frozen=True)
class ClipRows:
    """Where a clip's frames live: its index entries (windows) in frame order."""

    info: ClipInfo
    entries: list[dict]

    def locate(self, frame: int) -> tuple[dict, int]:
        for e in self.entries:
            if e["frame_start"] <= frame < e["frame_start"] + e["num_frames"]:
                return e, frame - e["frame_start"]
        raise IndexError(f"clip {self.info.clip_id}: no frame {frame}")


def clip_rows(reader: ShardReader, split: str) -> dict[str, ClipRows]:
    by_clip: dict[str, list[dict]] = {}
    for e in reader.rows(split):
        by_clip.setdefault(e["clip_id"], []).append(e)
    out = {}
    for cid, entries in by_clip.items():
        entries.sort(key=lambda e: e["frame_start"])
        n = entries[-1]["frame_start"] + entries[-1]["num_frames"]
        out[cid] = ClipRows(ClipInfo(cid, entries[0]["identity"], n), entries)
    return out


class ShardSamples(torch.utils.data.IterableDataset):
    """Samples of one split for one recipe; see the module docstring."""

    def __init__(self, reader: ShardReader, cfg: Recipe, resolution: int, split: str = "train", seed: int = 0,
                 conditions: tuple[str, ...] = ("openpose18",), rank: int = 0, world_size: int = 1, block: int = 1,
                 perturbation: MeshPerturbation | None = None, keep_jpeg: bool = False) -> None:  # fmt: skip
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world size {world_size}")
        if block < 1:
            raise ValueError(f"block must be >= 1, got {block}")
        missing = set(conditions) - set(reader.conditions)
        if missing:
            raise ValueError(f"{reader.dir}: shards have no conditions {sorted(missing)}; they have {sorted(reader.conditions)}")
        if "densepose" in conditions and cfg.flip_p > 0:
            raise ValueError("DensePose cannot be flipped (its parts are sided): set flip_p 0, or flip videos before estimating "
                             "DensePose, as MagicAnimate does")  # fmt: skip
        if "smplx" in conditions and cfg.flip_p > 0:
            raise ValueError("SMPL-X parameters cannot be flipped (left and right joints would swap sides): set flip_p 0")
        wanted = cfg.perturbation_name()
        if wanted and (perturbation is None or perturbation.name != wanted):
            raise ValueError(f"sampler {cfg.kind} perturbs SMPL-X with {wanted!r}: pass perturbation=MeshPerturbation({wanted!r}, ...)")
        if wanted and not {"smplx", "mesh_normals"} <= set(conditions):
            raise ValueError(f"SMPL-X perturbation {wanted!r} re-renders the mesh: load the conditions 'smplx' and 'mesh_normals'")
        by_reference = set(cfg.reference_conditions())
        if not by_reference <= set(conditions) or by_reference & (set(KEYPOINT_CONDITIONS) | set(ARRAY_CONDITIONS)):
            raise ValueError(f"recipe {cfg.kind}: reference conditions {sorted(by_reference)} must be loaded image conditions "
                             f"(loaded: {sorted(conditions)})")  # fmt: skip
        self.perturbation = perturbation if wanted else None
        self.reader, self.cfg, self.resolution, self.split, self.seed = reader, cfg, resolution, split, seed
        self.conditions, self.rank, self.world_size = tuple(conditions), rank, world_size
        self.block = block if world_size > 1 else 1  # blocks only matter across ranks
        self.all_clips = clip_rows(reader, split)  # references may come from clips too short to sample
        self.clips = {cid: c for cid, c in self.all_clips.items() if c.info.num_frames >= cfg.span()}
        if not self.clips:
            raise ValueError(f"{reader.dir}: no {split} clip holds the {cfg.span()} frames recipe {cfg.kind} needs")
        self.order = sorted(self.clips)
        self.by_identity: dict[str, list[ClipInfo]] = {}
        for c in self.clips.values():
            self.by_identity.setdefault(c.info.identity, []).append(c.info)
        self.epoch, self.consumed = 0, 0
        self.keep_jpeg = keep_jpeg  # frames left as JPEG bytes for `decode_on_device` (nvJPEG on a GPU)
        self.decoder_name, self._decode_jpeg = jpeg_decoder()
        self._positions, self._orders = self.share(0, 1), {}  # for `sample`: the rank's one stream

    # -- epochs, ranks, resume ---------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        self.epoch, self.consumed = epoch, 0

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "consumed": self.consumed, "seed": self.seed}

    def load_state_dict(self, state: dict) -> None:
        if state.get("seed", self.seed) != self.seed:
            raise ValueError(f"resume state was made with seed {state['seed']}, this loader has seed {self.seed}")
        self.epoch, self.consumed = int(state["epoch"]), int(state["consumed"])

    def _total(self, workers: int) -> int:
        unit = self.world_size * self.block * workers
        return math.ceil(len(self.order) / unit) * unit

    def per_rank(self, workers: int = 1) -> int:
        """Samples each rank gets per epoch (equal for all ranks)."""
        return self._total(workers) // self.world_size

    def share(self, worker: int = 0, workers: int = 1) -> list[int]:
        """Slots of this epoch for one rank's worker, in delivery order. Slot i samples clip
        `permutation()[i % clips]`: the padding wraps around to the start of the permutation. The rank's
        slots are its blocks j·W·b + r·b + [0, b); worker w of a rank takes every workers-th of them."""
        w, b = self.world_size, self.block
        rank_slots = [j * w * b + self.rank * b + i for j in range(self._total(workers) // (w * b)) for i in range(b)]
        return rank_slots[worker::workers]

    def permutation(self, epoch: int | None = None) -> list[str]:
        """Clip order of an epoch (default: the current one)."""
        perm = np.random.default_rng([self.seed, self.epoch if epoch is None else epoch]).permutation(len(self.order))
        return [self.order[i] for i in perm]

    def __len__(self) -> int:
        return self.per_rank()

    def sample(self, epoch: int, k: int, alloc: Allocator = np.empty) -> dict:
        """Sample k of this rank's epoch as one stream delivers it (`iterate`: in this process, threads or
        decoding processes). The epoch's clip order is kept for the last few epochs — a stream asks per
        sample, threads at once; one evicted is computed again."""
        order = self._orders.get(epoch)
        if order is None:
            order = self._orders[epoch] = self.permutation(epoch)
            for old in list(self._orders)[:-4]:
                self._orders.pop(old, None)
        return self.sample_at(order, self._positions, k, epoch, alloc)

    def __iter__(self) -> Iterator[dict]:
        info = torch.utils.data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        clips = self.permutation()
        positions = self.share(worker, workers)
        # Resume: of the rank's first `consumed` samples, worker w delivered those at w, w + W, ...
        done = max(0, math.ceil((self.consumed - worker) / workers))
        for k in range(done, len(positions)):
            sample = self.sample_at(clips, positions, k)
            if info is None:
                self.consumed += 1
            yield sample

    def sample_at(self, clips: list[str], positions: list[int], k: int, epoch: int | None = None, alloc: Allocator = np.empty) -> dict:
        """The k-th sample of a share of an epoch (default: the current one); one that fails to decode is
        replaced by the next slot of the share, and the sample lists what was skipped. `alloc(shape, dtype)`
        gives the arrays frames and image conditions are decoded into (decoding processes pass slots of
        shared memory)."""
        epoch = self.epoch if epoch is None else epoch
        skipped: list[dict] = []
        for attempt in range(len(positions)):
            slot = positions[(k + attempt) % len(positions)]
            cid = clips[slot % len(clips)]
            try:
                sample = self.load(cid, np.random.default_rng([self.seed, epoch, slot, attempt]), alloc)
                sample["skipped"] = skipped
                return sample
            except DecodeError as exc:
                skipped.append({"clip_id": cid, "error": f"{type(exc).__name__}: {exc}"})
        raise RuntimeError(f"{self.reader.dir}: every sample of this share failed to decode: {skipped[:3]}")

    # -- one sample ----------------------------------------------------------------------------------
    def load(self, clip_id: str, rng: np.random.Generator, alloc: Allocator = np.empty) -> dict:
        clip = self.clips[clip_id]
        p = self.cfg.pick(clip.info, rng, self.by_identity.get(clip.info.identity))
        decoded = self._decode(p)
        if self.perturbation is not None and "perturb_seed" in p.extras:
            self._perturb(p, decoded)
        return self._assemble(p, decoded, alloc)

    def _perturb(self, p: Pick, decoded: dict) -> None:
        """Make-Your-Anchor's augmentation: the targets' SMPL-X parameters perturbed and their mesh
        conditions rendered again, at the frame's own resolution (before the crop and resize)."""
        keys = [(p.clip_id, t) for t in p.targets]
        h, w = decoded[keys[0]]["mesh_normals"].shape[:2]
        vectors, normals = self.perturbation(np.stack([decoded[k]["smplx"] for k in keys]), h, w, p.extras["perturb_seed"])
        for k, v, n in zip(keys, vectors, normals, strict=True):
            decoded[k]["smplx"], decoded[k]["mesh_normals"] = v, n

    def _decode(self, p: Pick) -> dict[tuple[str, int], dict]:
        """(clip_id, frame) -> {"jpeg": bytes, "where": (entry, frame), condition: value} for every frame the
        pick uses (JPEGs are decoded in `_assemble`, straight into the sample's array)."""
        targets = {(p.clip_id, t) for t in p.targets}
        wanted: dict[tuple[str, int], None] = {}
        if p.reference is not None:
            wanted[p.reference] = None
        for t in p.targets:
            wanted[(p.clip_id, t)] = None
        by_row: dict[int, tuple[dict, list[tuple[tuple[str, int], int]]]] = {}
        for key in wanted:
            entry, offset = self.all_clips[key[0]].locate(key[1])
            by_row.setdefault(entry["row"], (entry, []))[1].append((key, offset))
        out = {}
        for entry, items in by_row.values():
            offsets = [offset for _, offset in items]
            raw = self.reader.read_items(entry, ("frames",) + self.conditions, offsets)
            for j, (key, _offset) in enumerate(items):
                item = {"jpeg": raw["frames"][j], "where": (entry, key[1])}
                # a reference-only frame needs only what the recipe reads of it
                conds = self.conditions if key in targets else self.cfg.reference_conditions()
                for name in conds:
                    value = raw[name][j]
                    if name in ARRAY_CONDITIONS:
                        item[name] = np.asarray(value, np.float32).reshape(ARRAY_CONDITIONS[name])
                    else:
                        item[name] = self._plane(value, entry, key[1], name)
                out[key] = item
        return out

    def _plane(self, data: bytes, entry: dict, frame: int, name: str) -> np.ndarray:
        """An image condition (`codec.decode_condition`: depth in metres)."""
        try:
            return decode_condition(name, data)
        except DecodeError as exc:
            raise DecodeError(f"{self.reader.dir / entry['shard']}: clip {entry['clip_id']} frame {frame}: {name}: {exc}") from exc

    def _jpeg(self, item: dict, out: np.ndarray | None = None) -> np.ndarray:
        entry, frame = item["where"]
        try:
            return self._decode_jpeg(item["jpeg"], out)
        except Exception as exc:
            raise DecodeError(f"{self.reader.dir / entry['shard']}: clip {entry['clip_id']} frame {frame}: JPEG does not decode ({exc})") from exc

    def _frame_into(self, item: dict, out: np.ndarray) -> tuple[int, int]:
        """Decode a frame into `out` (S, S, 3), cropping and resizing when the shard's size differs; the
        source frame's (height, width)."""
        img = self._jpeg(item, out)
        if img is not out and not np.shares_memory(img, out):
            out[...] = crop_resize(img, out.shape[0])
        return img.shape[:2]

    def _header(self, item: dict) -> tuple[int, int]:
        """A stored frame's (height, width) from its JPEG header alone."""
        entry, frame = item["where"]
        try:
            return jpeg_size(item["jpeg"])
        except Exception as exc:
            raise DecodeError(f"{self.reader.dir / entry['shard']}: clip {entry['clip_id']} frame {frame}: JPEG header does not parse ({exc})") from exc

    def _assemble(self, p: Pick, decoded: dict, alloc: Allocator = np.empty) -> dict:
        s = self.resolution
        keys = [(p.clip_id, t) for t in p.targets]
        sample: dict = {"clip_id": p.clip_id, "targets": torch.tensor(p.targets), "flip": p.flip, "image_joint": p.image_joint}
        dataset = self.reader.dir.name
        sample["frame_keys"] = [frame_key(dataset, p.clip_id, t, p.flip) for t in p.targets]
        if p.reference is not None:
            sample["reference_key"] = frame_key(dataset, *p.reference, p.flip)
        if self.keep_jpeg:  # decoded, cropped, resized and flipped on the training device (`decode_on_device`)
            h, w = self._header(decoded[keys[0]])
            sample["frames_jpeg"] = [decoded[k]["jpeg"] for k in keys]
            if p.reference is not None:
                self._header(decoded[p.reference])
                sample["reference_jpeg"] = decoded[p.reference]["jpeg"]
                sample["reference_clip"] = p.reference[0]
        else:
            frames = alloc((len(keys), s, s, 3), np.uint8)  # (K, S, S, 3): decoded in place when no resize is needed
            h = w = None
            for i, k in enumerate(keys):
                h, w = self._frame_into(decoded[k], frames[i])
            ref = None
            if p.reference is not None:  # before the flip below: the reference is flipped with the sample
                ref = alloc((s, s, 3), np.uint8)
                if p.reference in keys:
                    ref[...] = frames[keys.index(p.reference)]
                else:
                    self._frame_into(decoded[p.reference], ref)
            if p.flip:
                frames[...] = frames[:, :, ::-1].copy()
                if ref is not None:
                    ref[...] = ref[:, ::-1].copy()
            sample["frames"] = torch.from_numpy(frames).permute(0, 3, 1, 2)
            if ref is not None:
                sample["reference"] = torch.from_numpy(ref).permute(2, 0, 1)
                sample["reference_clip"] = p.reference[0]
        for name in self.conditions:
            values = [decoded[k][name] for k in keys]
            if name in KEYPOINT_CONDITIONS:
                kp = crop_resize_keypoints(np.stack(values), h, w, s)
                sample[name] = torch.from_numpy(flip_keypoints(kp, s) if p.flip else kp)
            elif name == "smplx":  # the camera mapped through the crop, as the frames and keypoints are
                sample[name] = torch.from_numpy(crop_resize_camera(np.stack(values), h, w, s))
            elif name in ARRAY_CONDITIONS:
                sample[name] = torch.from_numpy(np.stack(values))
            else:
                first = crop_resize_plane(values[0], s)
                planes = alloc((len(values),) + first.shape, first.dtype)
                for i, v in enumerate(values):
                    planes[i] = first if i == 0 else crop_resize_plane(v, s)
                if p.flip:
                    planes[...] = planes[:, :, ::-1].copy()
                    if name == "mesh_normals":  # a mirrored surface's normals point the other way in x
                        planes[..., 0] = np.where(planes[..., 2] > 0, 255 - planes[..., 0], 0)
                t = torch.from_numpy(planes)
                sample[name] = t.permute(0, 3, 1, 2) if t.ndim == 4 else t
        for name in self.cfg.reference_conditions():  # flipped with the sample, as the reference is
            plane = crop_resize_plane(decoded[p.reference][name], s)
            sample[f"reference_{name}"] = torch.from_numpy(plane[:, ::-1].copy() if p.flip else plane)
        sample.update(self.cfg.sample_extras(self.clips[p.clip_id].info))
        if p.extras:
            sample["extras"] = p.extras
        return sample


def collate(samples: list[dict]) -> dict:
    """Stack tensors of equal shape — in a worker, straight into shared memory, as torch's default collate
    does, so the batch crosses to the main process without another copy; a batch of one in the training
    process is a view of the sample (MagicAnimate's stage 2 trains one sample per process: the copy was a
    fifth of the loader's time); lists for the rest (clip ids, skipped records, mixed K)."""
    in_worker = torch.utils.data.get_worker_info() is not None
    out: dict = {}
    for key in samples[0]:
        values = [s.get(key) for s in samples]
        if all(isinstance(v, torch.Tensor) for v in values) and len({tuple(v.shape) for v in values}) == 1:
            if len(values) == 1 and not in_worker:  # a batch of one in this process: a view, not a 13 MB copy
                out[key] = values[0].unsqueeze(0)
                continue
            target = None
            if in_worker:
                storage = values[0]._typed_storage()._new_shared(sum(v.numel() for v in values), device=values[0].device)
                target = values[0].new(storage).resize_(len(values), *values[0].shape)
            out[key] = torch.stack(values, out=target)
        else:
            out[key] = values
    return out


def make_loader(dataset: ShardSamples, batch_size: int, workers: int = 0, pin_memory: bool = False, prefetch: int = 2) -> torch.utils.data.DataLoader:
    """A DataLoader over `dataset`: bounded memory (workers × prefetch batches in flight), pinned host
    memory when the caller trains on CUDA. Keep `dataset.consumed` in step with delivered samples by
    calling `dataset.consumed += len(batch)` (or use `iterate`)."""
    kwargs = {"prefetch_factor": prefetch, "persistent_workers": False} if workers else {}
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, num_workers=workers, collate_fn=collate,
                                       pin_memory=pin_memory, **kwargs)  # fmt: skip


def iterate(dataset: ShardSamples, batch_size: int, workers: int = 0, pin_memory: bool = False, threads: int = 0,
            processes: int = 0, epochs: int | None = 1) -> Iterator[dict]:  # fmt: skip
    """Batches from where the dataset's state says, for `epochs` epochs (None: without end), counting what
    is delivered (`dataset.state_dict()` is always the position of the next batch).

    Where the decoding runs — the same samples in the same order every way:
    - in this process (default);
    - `processes` > 0: that many decoding processes writing into reused shared-memory slots
      (`humanvid.shards.ring`; fastest here: no GIL shared, no copy, no new pages per sample);
    - `threads` > 0: that many threads of this process (JPEG and zstd decoding release the GIL; the Python
      glue beside them does not);
    - `workers` > 0: torch DataLoader worker processes (`make_loader`; a new shared segment per batch).
    All but DataLoader workers run on across epoch boundaries without draining (an epoch of a small
    dataset is a few samples)."""
    if sum(1 for n in (workers, threads, processes) if n) > 1:
        raise ValueError(f"decode in one way: workers={workers}, threads={threads}, processes={processes}")
    if epochs is not None and epochs < 1:
        raise ValueError(f"epochs must be >= 1 or None, got {epochs}")
    if workers:
        epoch, end = dataset.epoch, None if epochs is None else dataset.epoch + epochs
        while end is None or epoch < end:
            if epoch != dataset.epoch:
                dataset.set_epoch(epoch)
            for batch in make_loader(dataset, batch_size, workers, pin_memory):
                dataset.consumed += len(batch["clip_id"])  # in worker processes the count stayed there
                yield batch
            epoch += 1
        return
    jobs = _jobs(dataset, epochs)
    if processes:
        from humanvid.shards.ring import iterate_processes

        samples = iterate_processes(dataset, jobs, processes)
    elif threads:
        samples = _stream_threads(dataset, jobs, threads)
    else:
        samples = ((epoch, k, dataset.sample(epoch, k)) for epoch, k in jobs)
    batch: list[dict] = []
    for epoch, k, sample in samples:
        if epoch != dataset.epoch:  # the previous epoch's last batch went out with its last sample
            dataset.set_epoch(epoch)
        batch.append(sample)
        if len(batch) == batch_size or k + 1 == dataset.per_rank():
            out = collate(batch)
            if pin_memory:
                out = {key: v.pin_memory() if isinstance(v, torch.Tensor) else v for key, v in out.items()}
            dataset.consumed += len(batch)
            batch = []
            yield out


def _jobs(dataset: ShardSamples, epochs: int | None) -> Iterator[tuple[int, int]]:
    """(epoch, k) of every sample to deliver, from the dataset's state on."""
    first, k0 = dataset.epoch, dataset.consumed
    epoch = first
    while epochs is None or epoch < first + epochs:
        yield from ((epoch, k) for k in range(k0 if epoch == first else 0, dataset.per_rank()))
        epoch += 1


def _stream_threads(dataset: ShardSamples, jobs: Iterator[tuple[int, int]], threads: int, ahead: int = 2) -> Iterator[tuple[int, int, dict]]:
    from concurrent.futures import ThreadPoolExecutor

    pending: deque = deque()
    with ThreadPoolExecutor(threads, thread_name_prefix="humanvid-loader") as pool:
        while True:
            while len(pending) < threads * ahead and (job := next(jobs, None)) is not None:  # bounded: threads × ahead in flight
                pending.append((*job, pool.submit(dataset.sample, *job)))
            if not pending:
                return
            epoch, k, future = pending.popleft()
            yield epoch, k, future.result()
