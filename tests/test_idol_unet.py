"""IDOL's unified UNet parts at a tiny size: the modality label switches the target with the same weights, the
cross-modal attention reduces to the plain block when the other stream is zero, and both survive a save/load."""

from __future__ import annotations

import pytest
import torch
from diffusers import UNet2DConditionModel

from humanvid.models.idol.unet import Streams, add_cross_modal_attention, add_modality_label, modality_labels


def _unet() -> UNet2DConditionModel:
    torch.manual_seed(0)
    return UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, block_out_channels=(32, 64), layers_per_block=1,
                                down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
                                cross_attention_dim=32, attention_head_dim=8, norm_num_groups=8)  # fmt: skip


def _inputs(n: int = 2, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 4, 8, 8, generator=g), torch.tensor([10, 700] * n)[:n], torch.randn(n, 5, 32, generator=g)


def test_the_modality_label_switches_the_target_with_the_same_weights(tmp_path):
    unet = _unet()
    x, t, context = _inputs()
    with torch.no_grad():
        plain = unet(x, t, encoder_hidden_states=context).sample
        add_modality_label(unet)
        video = unet(x, t, encoder_hidden_states=context, class_labels=modality_labels("video")).sample
        torch.testing.assert_close(video, plain, rtol=0, atol=1e-6)  # the label's last layer starts at zero
        unet.class_embedding.linear_2.weight.normal_(0, 0.1)
        video = unet(x, t, encoder_hidden_states=context, class_labels=modality_labels(["video", "video"])).sample
        depth = unet(x, t, encoder_hidden_states=context, class_labels=modality_labels(["depth", "depth"])).sample
    assert (video - depth).abs().max() > 1e-3
    unet.save_pretrained(tmp_path / "unet")
    again = UNet2DConditionModel.from_pretrained(tmp_path / "unet")
    with torch.no_grad():
        torch.testing.assert_close(again(x, t, encoder_hidden_states=context, class_labels=modality_labels(["depth"] * 2)).sample, depth)
    with pytest.raises(ValueError, match="unknown modality \\['rgb'\\]"):
        modality_labels("rgb")


def test_cross_modal_attention_with_the_other_stream_zeroed_is_the_plain_block():
    from diffusers.models.attention import BasicTransformerBlock

    torch.manual_seed(0)
    net = torch.nn.ModuleDict({"block": BasicTransformerBlock(16, 2, 8, cross_attention_dim=32)})
    block = net["block"]
    x, context = torch.randn(2, 6, 16), torch.randn(2, 5, 32)
    with torch.no_grad():
        plain = block(x, encoder_hidden_states=context)
        streams = Streams(joint=True)
        add_cross_modal_attention(net, streams)
        block.cross_modal_attn.to_out[0].weight.normal_(0, 0.3)
        zeroed = block(torch.cat([x, torch.zeros_like(x)]), encoder_hidden_states=context.repeat(2, 1, 1))
        other = block(torch.cat([x, torch.randn_like(x)]), encoder_hidden_states=context.repeat(2, 1, 1))
    torch.testing.assert_close(zeroed[:2], plain, rtol=0, atol=1e-6)  # the video rows: the plain block, exactly
    assert (other[:2] - plain).abs().max() > 1e-3  # a depth stream that is there is heard


def test_the_unets_streams_mix_only_in_a_joint_pass():
    unet = _unet()
    video, t, context = _inputs(2)
    with torch.no_grad():
        plain = unet(video, t, encoder_hidden_states=context).sample
        streams = Streams(joint=True)
        names = add_cross_modal_attention(unet, streams)
        assert names and all("transformer_blocks" in n for n in names)
        for name, p in unet.named_parameters():
            if "cross_modal_attn" in name:
                p.normal_(0, 0.2)  # trained weights, not the zero start
        depth = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(5))
        mixed = unet(torch.cat([video, depth]), t.repeat(2), encoder_hidden_states=context.repeat(2, 1, 1)).sample
        other = unet(torch.cat([video, depth * 2]), t.repeat(2), encoder_hidden_states=context.repeat(2, 1, 1)).sample
        streams.joint = False
        alone = unet(video, t, encoder_hidden_states=context).sample
    torch.testing.assert_close(alone, plain, rtol=0, atol=1e-6)  # a single-stream pass is the plain UNet
    assert (mixed[:2] - other[:2]).abs().max() > 1e-3  # the video rows hear the depth stream
    with pytest.raises(ValueError, match="video and depth rows alike, got 3 rows"):
        streams.joint = True
        unet(torch.cat([video, depth[:1]]), t.repeat(2)[:3], encoder_hidden_states=context.repeat(2, 1, 1)[:3])
