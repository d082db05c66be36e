"""AnimateDiff's motion modules as IDOL's temporal layers (`temporal_layers: animatediff`): the generalisation the IDOL
paper shows beside DisCo's own temporal layers.

diffusers runs AnimateDiff's modules inside `UNetMotionModel`'s blocks: in every down and up block one module after
each ResNet (after its attention, where the block has attentions), in the mid block one after each attention. Here
the same modules are placed at the same points of a `UNet2DConditionModel` by forward hooks, so the image UNet keeps
its class, its IDOL layers (modality label, cross-modal attention) and its key names; the modules are held as each
block's `motion_modules`, which gives them `UNetMotionModel`'s and `MotionAdapter`'s key names
(`down_blocks.0.motion_modules.0.…`) — a released adapter's weights load into them as they are. The ControlNets stay
per frame (AnimateDiff has no ControlNet modules). A fresh module's output projection starts at zero (AnimateDiff's
`zero_initialize`), so the video UNet starts as the image UNet on every clip.
"""

from __future__ import annotations

import torch
from diffusers import MotionAdapter, UNet2DConditionModel

from humanvid.models.disco.temporal import MOTION_MODULES, FrameCount

ANIMATEDIFF_LAYOUT = {"heads": 8, "max_length": 32, "mid_block": True}
"""AnimateDiff v1.5-2's modules (guoyww/animatediff-motion-adapter-v1-5-2, the `animatediff-v1-5-2` weights): 8 heads,
positions up to 32 frames, one module in the mid block."""


def fresh_motion_adapter(unet: UNet2DConditionModel, heads: int = ANIMATEDIFF_LAYOUT["heads"]) -> MotionAdapter:
    """New motion modules in AnimateDiff v1.5-2's layout for a UNet of any size, each output projection at zero."""
    cfg = unet.config
    widths = tuple(cfg.block_out_channels)
    if any(w % heads for w in widths):
        raise ValueError(f"motion modules with {heads} heads need block widths divisible by it, got {widths}")
    adapter = MotionAdapter(block_out_channels=widths, motion_layers_per_block=cfg.layers_per_block, motion_num_attention_heads=heads,
                            motion_norm_num_groups=cfg.norm_num_groups, motion_max_seq_length=ANIMATEDIFF_LAYOUT["max_length"],
                            use_motion_mid_block=ANIMATEDIFF_LAYOUT["mid_block"])  # fmt: skip
    for name, module in adapter.named_modules():
        if name.endswith("proj_out"):
            torch.nn.init.zeros_(module.weight)
            torch.nn.init.zeros_(module.bias)
    return adapter


def attach_motion_modules(unet: UNet2DConditionModel, adapter: MotionAdapter, frames: FrameCount) -> None:
    """Give `unet` the adapter's modules where `UNetMotionModel` runs them (see the module docstring); `frames` says
    how many consecutive rows form a clip. Refuses an adapter whose blocks do not match the UNet's."""
    if has_motion_modules(unet):
        raise ValueError("the UNet already has motion modules")
    if len(adapter.down_blocks) != len(unet.down_blocks) or len(adapter.up_blocks) != len(unet.up_blocks):
        raise ValueError(f"a motion adapter of {len(adapter.down_blocks)} down / {len(adapter.up_blocks)} up blocks for a UNet of "
                         f"{len(unet.down_blocks)} / {len(unet.up_blocks)}")  # fmt: skip
    for where, blocks, modules in (("down", unet.down_blocks, adapter.down_blocks), ("up", unet.up_blocks, adapter.up_blocks)):
        for i, (block, held) in enumerate(zip(blocks, modules, strict=True)):
            hosts = block.attentions if getattr(block, "attentions", None) else block.resnets
            _attach(block, hosts, held.motion_modules, frames, f"{where}_blocks.{i}")
    if adapter.mid_block is not None:
        _attach(unet.mid_block, unet.mid_block.attentions, adapter.mid_block.motion_modules, frames, "mid_block")
    frames.attached = True


def _attach(block: torch.nn.Module, hosts: torch.nn.ModuleList, modules: torch.nn.ModuleList, frames: FrameCount, where: str) -> None:
    if len(hosts) != len(modules):
        raise ValueError(f"{where}: {len(modules)} motion modules for {len(hosts)} layers")
    for host, module in zip(hosts, modules, strict=True):
        width = host.in_channels if hasattr(host, "transformer_blocks") else host.out_channels  # an attention's or a ResNet's
        if module.in_channels != width:
            raise ValueError(f"{where}: a motion module of {module.in_channels} channels after a layer of {width}")
        host.register_forward_hook(lambda _m, _args, out, module=module: _after(module, out, frames))
    setattr(block, MOTION_MODULES, modules)  # `UNetMotionModel`'s attribute: its key names


def _after(module: torch.nn.Module, out, frames: FrameCount):
    """A host layer's output with the motion module applied to its hidden states (a tensor, or a block's tuple)."""
    if isinstance(out, torch.Tensor):
        return module(out, num_frames=frames.value)
    if isinstance(out, tuple):
        return (module(out[0], num_frames=frames.value), *out[1:])
    raise TypeError(f"a motion module cannot follow a layer returning {type(out).__name__}")


def has_motion_modules(network: torch.nn.Module) -> bool:
    return any(MOTION_MODULES in name.split(".") for name, _ in network.named_parameters())
