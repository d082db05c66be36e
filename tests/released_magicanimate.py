"""A MagicAnimate release in its published layout at debug size, written the way the release is laid out
(hf zcxu-eric/MagicAnimate + SD1.5 + sd-vae-ft-mse), so the real loading code can be tested without the
real weights. The temporal-attention tensor names follow AnimateDiff v1's modules (motion_module.py of the
MagicAnimate inference code), built here from the rules, not from humanvid's mapping."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel
from safetensors.torch import save_file
from transformers import CLIPTextConfig, CLIPTextModel

CHANNELS, LAYERS, MAX_LEN = (32, 64), 1, 24


def debug_unet() -> UNet2DConditionModel:
    return UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=LAYERS,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        block_out_channels=CHANNELS, cross_attention_dim=32, attention_head_dim=8, norm_num_groups=8,
    )  # fmt: skip


def sinusoid(dim: int) -> torch.Tensor:
    position = torch.arange(MAX_LEN).unsqueeze(1)
    div = torch.exp(torch.arange(0, dim, 2) * (-math.log(10000.0) / dim))
    pe = torch.zeros(1, MAX_LEN, dim)
    pe[0, :, 0::2], pe[0, :, 1::2] = torch.sin(position * div), torch.cos(position * div)
    return pe


def animatediff_v1_state(gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Motion modules of AnimateDiff v1 (Vanilla, 1 transformer block, Temporal_Self × 2, positional
    encoding), one per resnet in the down blocks and layers + 1 per up block, none in the mid block."""
    state = {}
    places = [(f"down_blocks.{i}", c, LAYERS) for i, c in enumerate(CHANNELS)]
    places += [(f"up_blocks.{i}", c, LAYERS + 1) for i, c in enumerate(reversed(CHANNELS))]
    for block, c, count in places:
        for j in range(count):
            p = f"{block}.motion_modules.{j}.temporal_transformer."
            r = lambda *shape: torch.randn(*shape, generator=gen) * 0.02  # noqa: E731
            state.update({p + "norm.weight": 1 + r(c), p + "norm.bias": r(c), p + "proj_in.weight": r(c, c), p + "proj_in.bias": r(c),
                          p + "proj_out.weight": r(c, c), p + "proj_out.bias": r(c)})  # fmt: skip
            t = p + "transformer_blocks.0."
            for a in (0, 1):
                for name in ("to_q", "to_k", "to_v"):
                    state[f"{t}attention_blocks.{a}.{name}.weight"] = r(c, c)
                state[f"{t}attention_blocks.{a}.to_out.0.weight"] = r(c, c)
                state[f"{t}attention_blocks.{a}.to_out.0.bias"] = r(c)
                state[f"{t}attention_blocks.{a}.pos_encoder.pe"] = sinusoid(c)
                state[f"{t}norms.{a}.weight"], state[f"{t}norms.{a}.bias"] = 1 + r(c), r(c)
            state.update({t + "ff.net.0.proj.weight": r(8 * c, c), t + "ff.net.0.proj.bias": r(8 * c),
                          t + "ff.net.2.weight": r(c, 4 * c), t + "ff.net.2.bias": r(c),
                          t + "ff_norm.weight": 1 + r(c), t + "ff_norm.bias": r(c)})  # fmt: skip
    return state


def write_release(root: Path, seed: int = 0, wrap: str = "plain") -> dict:
    """sd15/{unet,text_encoder}, vae/, MagicAnimate/{appearance_encoder,densepose_controlnet,temporal_attention}.
    `wrap`: how the temporal checkpoint stores its tensors — plain, or `state_dict` + `module.` prefixes +
    global_step (a training checkpoint). Returns the paths and the tensors written."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    unet = debug_unet()
    unet.save_pretrained(root / "sd15" / "unet")
    CLIPTextModel(CLIPTextConfig(vocab_size=49408, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                                 max_position_embeddings=77)).save_pretrained(root / "sd15" / "text_encoder")  # fmt: skip
    AutoencoderKL(block_out_channels=(16, 32, 32), down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3,
                  layers_per_block=1, norm_num_groups=8, latent_channels=4).save_pretrained(root / "vae")  # fmt: skip
    release = root / "MagicAnimate"
    # The appearance encoder: its own class name in config.json, UNet2DConditionModel's keys in the weights.
    appearance = debug_unet()
    appearance_state = {k: torch.randn(v.shape, generator=gen) * 0.02 for k, v in appearance.state_dict().items()}
    (release / "appearance_encoder").mkdir(parents=True)
    config = {**dict(appearance.config), "_class_name": "AppearanceEncoderModel", "_diffusers_version": "0.21.4"}
    (release / "appearance_encoder" / "config.json").write_text(json.dumps(config, default=list))
    save_file(appearance_state, str(release / "appearance_encoder" / "diffusion_pytorch_model.safetensors"))
    controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(16, 32, 64))
    controlnet.save_pretrained(release / "densepose_controlnet", safe_serialization=True)
    motion = animatediff_v1_state(gen)
    (release / "temporal_attention").mkdir()
    if wrap == "plain":
        ckpt = dict(motion)
    else:
        ckpt = {"state_dict": {f"module.{k}": v for k, v in motion.items()}, "global_step": 1234}
    torch.save(ckpt, release / "temporal_attention" / "temporal_attention.ckpt")
    return {"sd15": root / "sd15", "vae": root / "vae", "release": release, "motion": motion, "appearance": appearance_state,
            "controlnet": controlnet.state_dict()}  # fmt: skip
