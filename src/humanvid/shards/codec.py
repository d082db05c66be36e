"""Encoding of frames and image conditions to bytes and back: JPEG for frames; image conditions (maps,
masks, IUV, normals, 16-bit depth) as raw arrays behind a small header, zstd-compressed."""

from __future__ import annotations

import io
import math
import struct

import numpy as np
import pyarrow as pa
from PIL import Image

from humanvid.shards.schema import DEPTH_SCALE


class DecodeError(ValueError):
    """Bytes in a shard that do not decode."""


def encode_jpeg(frame: np.ndarray, quality: int) -> bytes:
    buf = io.BytesIO()
    # 4:4:4 chroma keeps thin limbs and pose colours sharp at small sizes.
    Image.fromarray(frame).save(buf, format="JPEG", quality=quality, subsampling=0)
    return buf.getvalue()


def decode_jpeg(data: bytes) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as img:
            return np.asarray(img.convert("RGB"))
    except Exception as exc:  # PIL raises several types for corrupt data
        raise DecodeError(f"JPEG does not decode: {exc}") from exc


_PLANE_MAGIC = b"HVP2"
_PLANE_HEADER = struct.Struct("<4sBBII")  # magic, dtype code, channels (0: a single plane), height, width
_DTYPES = {1: np.dtype(np.uint8), 2: np.dtype(np.uint16)}
_CODES = {v: k for k, v in _DTYPES.items()}
_ZSTD = pa.Codec("zstd", compression_level=3)


def encode_plane(image: np.ndarray) -> bytes:
    """An image condition (H, W) or (H, W, C), uint8 or uint16 -> a 14-byte header + its zstd-compressed
    bytes. Lossless like PNG, of about the same size, and 10-40x faster to decode (docs/shards.md)."""
    image = np.ascontiguousarray(image)
    if image.dtype not in _CODES or image.ndim not in (2, 3):
        raise ValueError(f"an image condition must be uint8/uint16 (H, W[, C]), got {image.dtype} {image.shape}")
    channels = image.shape[2] if image.ndim == 3 else 0
    header = _PLANE_HEADER.pack(_PLANE_MAGIC, _CODES[image.dtype], channels, image.shape[0], image.shape[1])
    return header + _ZSTD.compress(image.data, asbytes=True)


def decode_plane(data: bytes) -> np.ndarray:
    """The inverse of `encode_plane`; DecodeError for anything else."""
    try:
        magic, code, channels, h, w = _PLANE_HEADER.unpack_from(data)
        if magic != _PLANE_MAGIC or code not in _DTYPES:
            raise ValueError("not an image-condition record (bad header)")
        dtype, shape = _DTYPES[code], (h, w, channels) if channels else (h, w)
        size = math.prod(shape) * dtype.itemsize
        raw = _ZSTD.decompress(memoryview(data)[_PLANE_HEADER.size :], decompressed_size=size)  # Arrow pool memory, reused
        return np.frombuffer(raw, dtype).reshape(shape)
    except Exception as exc:  # struct.error, ArrowException, ValueError
        raise DecodeError(f"image condition does not decode: {exc}") from exc


def depth_to_plane(depth: np.ndarray) -> bytes:
    """float metres (H, W) -> 16-bit plane in DEPTH_SCALE units (0 stays 0 = no depth)."""
    return encode_plane(np.clip(np.round(depth / DEPTH_SCALE), 0, 65535).astype(np.uint16))


def plane_to_depth(data: bytes) -> np.ndarray:
    return decode_plane(data).astype(np.float32) * DEPTH_SCALE


def decode_condition(name: str, data: bytes) -> np.ndarray:
    """One stored image condition as its estimator layout: depth in metres, the rest as stored."""
    return plane_to_depth(data) if name == "depth" else decode_plane(data)
