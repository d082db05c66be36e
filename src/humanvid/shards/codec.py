"""Encoding of frames and image conditions to bytes and back (JPEG for frames, PNG for conditions)."""

from __future__ import annotations

import io

import numpy as np
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


def encode_png(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def decode_png(data: bytes) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as img:
            return np.asarray(img)
    except Exception as exc:
        raise DecodeError(f"PNG does not decode: {exc}") from exc


def depth_to_png(depth: np.ndarray) -> bytes:
    """float metres (H, W) -> 16-bit PNG in DEPTH_SCALE units (0 stays 0 = no depth)."""
    units = np.clip(np.round(depth / DEPTH_SCALE), 0, 65535).astype(np.uint16)
    return encode_png(units)


def png_to_depth(data: bytes) -> np.ndarray:
    return decode_png(data).astype(np.float32) * DEPTH_SCALE
