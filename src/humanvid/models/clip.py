"""CLIP as the methods use it: the image preprocessing of reference frames already on the device (what
`CLIPImageProcessor` does to a square frame: bicubic, antialiased resize to the encoder's size, then CLIP's mean
and standard deviation), and the text encoder's embedding of the empty prompt — the only text MagicAnimate feeds
its cross-attention, Make-Your-Anchor's unconditional context — stored beside a checkpoint's components."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from transformers import CLIPTextConfig, CLIPTextModel

NULL_TEXT_FILE = "null_text.safetensors"
EMPTY_PROMPT_IDS = [49406] + [49407] * 76
"""SD1.5's tokenizer on "" padded to 77: <|startoftext|> then <|endoftext|> (its pad token) 76 times."""

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def clip_pixels(images: torch.Tensor, size: int, dtype: torch.dtype) -> torch.Tensor:
    """Frames (B, 3, S, S) in [-1, 1] -> CLIP pixel values (B, 3, size, size) in `dtype`."""
    x = (images.to(dtype) + 1) / 2
    x = F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False, antialias=True)
    mean = torch.tensor(CLIP_MEAN, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - mean) / std


def null_text_embedding(text_encoder: CLIPTextModel) -> torch.Tensor:
    """The text encoder's last hidden state for the empty prompt: (1, 77, D), float32 on the CPU."""
    ids = torch.tensor([EMPTY_PROMPT_IDS], device=text_encoder.device)
    with torch.no_grad():
        return text_encoder(input_ids=ids).last_hidden_state.detach().float().cpu()


def debug_text_encoder(hidden: int) -> CLIPTextModel:
    """A one-layer random CLIP text encoder of width `hidden` with SD1.5's vocabulary and length (debug flavors:
    only its empty-prompt embedding is used)."""
    return CLIPTextModel(CLIPTextConfig(vocab_size=49408, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=1,
                                        num_attention_heads=2, max_position_embeddings=77))  # fmt: skip


def save_null_text(out_dir: Path, null_text: torch.Tensor) -> None:
    save_file({"null_text": null_text.detach().float().cpu().contiguous()}, str(Path(out_dir) / NULL_TEXT_FILE))


def load_null_text(ckpt_dir: Path) -> torch.Tensor:
    return load_file(str(Path(ckpt_dir) / NULL_TEXT_FILE))["null_text"]
