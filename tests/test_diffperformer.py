"""DiffPerformer's parts on tiny real inputs: the implicit video representation fits a synthdance clip, Algorithm 1
refreshes V_p exactly at its steps, latent guidance noises in latent space, and the 3D-aware human flow matches the
analytic flow of a moving mesh (and drives L_flow)."""

import numpy as np
import pytest
import torch

from humanvid.datasets.synthdance import SynthDanceOptions, render_clip
from humanvid.models.diffperformer.flow import flow_loss, surface_flow, warp_back
from humanvid.models.diffperformer.ivr import ImplicitVideo, IvrConfig, MultiResolutionGrid
from humanvid.models.diffperformer.joint import guided_start, optimise_jointly, refresh_steps


def _clip(frames: int = 8, size: int = 32) -> torch.Tensor:
    d = render_clip(SynthDanceOptions(width=size, height=size, num_frames=frames), identity=0, clip=0)
    return torch.from_numpy(d["rgb"]).permute(0, 3, 1, 2).float() / 127.5 - 1


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(4 / (a - b).pow(2).mean()))  # both in [-1, 1]: peak-to-peak 2


def _fit(config: IvrConfig, video: torch.Tensor, steps: int) -> ImplicitVideo:
    torch.manual_seed(0)
    ivr = ImplicitVideo(config, *video.shape[:1], *video.shape[2:])
    opt = torch.optim.Adam(ivr.parameters(), lr=1e-2)
    for _ in range(steps):
        loss = (ivr.video() - video).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return ivr


@pytest.mark.parametrize("encoding, steps, floor", [("grid", 100, 35.0), ("frequency", 300, 30.0)])
def test_the_ivr_fits_a_small_known_video(encoding, steps, floor):
    """A synthdance clip (8 frames of 32²): the multi-resolution grid passes 35 dB in 100 Adam steps (40.7 dB measured),
    the frequency encoding 30 dB in 300 (32.5 dB)."""
    video = _clip()
    config = IvrConfig(encoding=encoding, levels=8 if encoding == "grid" else 6, max_resolution=32, log2_table_size=14)
    ivr = _fit(config, video, steps)
    with torch.no_grad():
        assert _psnr(ivr.video(), video) > floor
        assert ivr.video([3]).shape == (1, 3, 32, 32)
        torch.testing.assert_close(ivr.video([3]), ivr.video()[3:4])


def test_a_grid_level_larger_than_its_table_is_hashed_into_it():
    config = IvrConfig(levels=3, base_resolution=4, max_resolution=32, log2_table_size=8)
    grid = MultiResolutionGrid(config, frames=16)
    assert [len(t) for t in grid.tables] == [5 * 5 * 5, 256, 256]  # 4³ cells fit densely; 11² · 11 and 32² · 15 do not
    coords = torch.rand(500, 3, generator=torch.Generator().manual_seed(0))
    out = grid(coords)
    assert out.shape == (500, 3 * config.features)
    out.sum().backward()
    assert all(t.grad is not None and t.grad.abs().sum() > 0 for t in grid.tables)


def test_joint_optimisation_refreshes_v_p_exactly_at_the_stated_steps():
    """Algorithm 1: V_p before the loop and after every step that is a multiple of the interval; the output is the last
    V_p; V_s moves towards V_p."""
    assert refresh_steps(10000, 2000) == [0, 2000, 4000, 6000, 8000, 10000]
    assert refresh_steps(10, 4) == [0, 4, 8]
    video = _clip(frames=4, size=16)
    calls = []

    def refresh(v_s: torch.Tensor) -> torch.Tensor:  # a stand-in diffusion pass: the clip itself, logged
        calls.append(v_s.clone())
        return video

    torch.manual_seed(0)
    ivr = ImplicitVideo(IvrConfig(levels=6, max_resolution=16, log2_table_size=12), 4, 16, 16)
    seen = []
    result = optimise_jointly(ivr, refresh, steps=10, every=4, lr=1e-2, progress=lambda step, terms: seen.append(step))
    assert result.refreshed_at == [0, 4, 8] and len(calls) == 3 and seen == list(range(1, 11))
    assert result.video is video
    assert result.losses[-1]["rec"] < result.losses[0]["rec"]
    assert not torch.equal(calls[1], calls[2])  # each refresh reads the V_s of its step


def test_latent_guidance_noises_the_latents_and_the_image_level_variant_differs():
    from diffusers import AutoencoderKL, DDPMScheduler

    torch.manual_seed(0)
    vae = AutoencoderKL(block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                        latent_channels=4, norm_num_groups=8, layers_per_block=1, sample_size=16)  # fmt: skip

    def encode(x):
        return vae.encode(x).latent_dist.mean * 0.18215

    scheduler = DDPMScheduler(num_train_timesteps=1000)
    video = _clip(frames=2, size=16)
    g = torch.Generator().manual_seed(1)
    latent_noise, image_noise = torch.randn(2, 4, 8, 8, generator=g), torch.randn(2, 3, 16, 16, generator=g)
    t = torch.tensor(500)
    with torch.no_grad():
        guided = guided_start(encode, video, latent_noise, t, scheduler)
        torch.testing.assert_close(guided, scheduler.add_noise(encode(video), latent_noise, t.expand(2)))
        image_level = guided_start(encode, video, image_noise, t, scheduler, level="image")
        torch.testing.assert_close(image_level, encode(scheduler.add_noise(video, image_noise, t.expand(2))))
    assert (guided - image_level).abs().mean() > 0.05
    with pytest.raises(ValueError, match="latent guidance: noise"):
        guided_start(encode, video, image_noise, t, scheduler)


def _plane(z: float, half: float = 1.0, n: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    """A square mesh facing the camera at depth z, n × n quads."""
    s = torch.linspace(-half, half, n + 1)
    y, x = torch.meshgrid(s, s, indexing="ij")
    vertices = torch.stack([x, y, torch.full_like(x, z)], -1).reshape(-1, 3)
    idx = torch.arange((n + 1) ** 2).reshape(n + 1, n + 1)
    a, b, c, d = idx[:-1, :-1], idx[:-1, 1:], idx[1:, :-1], idx[1:, 1:]
    faces = torch.cat([torch.stack([a, b, c], -1).reshape(-1, 3), torch.stack([b, d, c], -1).reshape(-1, 3)])
    return vertices, faces


def test_3dhf_is_zero_for_a_static_body_and_the_analytic_flow_of_a_translated_one():
    """A body that does not move has no flow; one translated by (Δx, Δy) at depth Z moves every pixel it covers by
    f·(Δx, Δy)/Z; one moving towards the camera expands about the principal point by Z/(Z − Δz)."""
    focal, size = 40.0, 32
    plane, faces = _plane(4.0)
    static, mask = surface_flow(torch.stack([plane, plane]), faces, focal, size, size)
    assert mask.sum() > 100 and static.abs().max() < 1e-4  # float32 re-projection of the same points
    shift = torch.tensor([0.2, -0.1, 0.0])
    flow, mask = surface_flow(torch.stack([plane, plane + shift]), faces, focal, size, size)
    expected = torch.tensor([focal * 0.2 / 4.0, focal * -0.1 / 4.0])
    torch.testing.assert_close(flow[0][mask[0]], expected.expand(int(mask.sum()), 2), atol=1e-4, rtol=0)
    assert (flow[0][~mask[0]] == 0).all()
    closer, mask = surface_flow(torch.stack([plane, plane - torch.tensor([0.0, 0.0, 1.0])]), faces, focal, size, size)
    ys, xs = torch.meshgrid(torch.arange(size) + 0.5 - size / 2, torch.arange(size) + 0.5 - size / 2, indexing="ij")
    radial = torch.stack([xs, ys], -1) * (4.0 / 3.0 - 1)
    torch.testing.assert_close(closer[0][mask[0]], radial[mask[0]], atol=1e-4, rtol=0)


def test_l_flow_is_zero_for_a_video_that_moves_along_the_flow():
    """A texture carried 2 pixels right by the body's motion scores ~0 inside the body; the same texture standing still
    does not."""
    focal, size = 40.0, 32
    plane, faces = _plane(4.0, half=1.6)
    flow, mask = surface_flow(torch.stack([plane, plane + torch.tensor([0.2, 0.0, 0.0])]), faces, focal, size, size)
    assert torch.allclose(flow[0][mask[0]], torch.tensor([2.0, 0.0]).expand(int(mask.sum()), 2), atol=1e-4)
    texture = torch.rand(1, 3, size, size + 2, generator=torch.Generator().manual_seed(0)) * 2 - 1
    first, moved = texture[..., 2:], texture[..., :-2]  # frame n+1 shows frame n's content 2 pixels to the right
    inner = mask.clone()
    inner[..., -3:] = False  # the last columns sample beyond the frame
    moving = torch.cat([first, moved])
    assert float(flow_loss(moving, flow, inner)) < 1e-5
    torch.testing.assert_close(warp_back(moved, flow)[0][:, inner[0]], first[0][:, inner[0]], atol=1e-5, rtol=0)
    assert float(flow_loss(torch.cat([first, first]), flow, inner)) > 0.1
    with pytest.raises(ValueError, match="does not pair"):
        flow_loss(moving[:1], flow, inner)


def test_surface_coordinate_flow_follows_the_body_surface():
    """3DHF from IUV maps: a body whose surface coordinates move 2 px right and 1 px down between frames flows by (2, 1)
    on every pixel whose surface point is still seen; a still body has none; synthdance's exact IUV of a dancing body
    gives a flow L_flow prefers the real next frame with."""
    from humanvid.models.diffperformer.flow import surface_coordinate_flow

    first = torch.zeros(20, 20, 3, dtype=torch.uint8)
    first[4:14, 5:12, 0] = 3  # one part, every pixel its own (U, V)
    yy, xx = torch.meshgrid(torch.arange(10), torch.arange(7), indexing="ij")
    first[4:14, 5:12, 1], first[4:14, 5:12, 2] = (xx * 30).to(torch.uint8), (yy * 20).to(torch.uint8)
    second = torch.roll(first, shifts=(1, 2), dims=(0, 1))
    flow, mask = surface_coordinate_flow(torch.stack([first, second, second]))
    assert mask[0].sum() == 70 and torch.equal(flow[0][mask[0]], torch.tensor([2.0, 1.0]).expand(70, 2))
    assert mask[1].sum() == 70 and flow[1].abs().max() == 0  # still
    assert not mask[0][first[..., 0] == 0].any()
    with pytest.raises(ValueError, match="IUV maps"):
        surface_coordinate_flow(first[None])
    clip = render_clip(SynthDanceOptions(width=64, height=64, num_frames=4), identity=1, clip=0)
    iuv, video = torch.from_numpy(clip["iuv"]), torch.from_numpy(clip["rgb"]).permute(0, 3, 1, 2).float() / 127.5 - 1
    flow, mask = surface_coordinate_flow(iuv)
    assert mask.sum() > 100 and flow[mask].abs().max() > 0.5  # the dancer moves
    # the next frame warped back along the flow matches the frame better than the next frame left in place
    assert float(flow_loss(video, flow, mask)) < 0.6 * float(flow_loss(video, torch.zeros_like(flow), mask))  # 6 frames measured: 0.053 vs 0.112


@pytest.fixture(scope="module")
def performer(tmp_path_factory):
    """A debug DiffPerformer at its video stage (motion modules in) and synthdance shards with DensePose IUV."""
    from test_loader import _build

    from humanvid.models.diffperformer.model import DiffPerformer
    from humanvid.shards import ShardReader

    shards = _build(tmp_path_factory.mktemp("performer") / "shards", n_ids=1, per_id=1, frames=8)[0]
    model = DiffPerformer.create("debug_pixel", DiffPerformer.spec.parse_options({"prediction": "residual"}), resolution=32, seed=0,
                                 device=torch.device("cpu"), weight_dtype=torch.float32)  # fmt: skip
    model.prepare("performer", seed=0)
    torch.nn.init.normal_(model.unet.conv_out.weight, std=0.02, generator=torch.Generator().manual_seed(1))  # a D_p that acts
    return model, ShardReader(shards.dir)


def test_each_ablation_row_samples_its_own_way(performer):
    """The four Table 2 rows as samplers: w/o Opt. is D_p's pass; Image Opt. re-reads D_p's own result; Noisy-Image
    and IVR Opt. fit the IVR with 3DHF from the clip's IUV and differ by where the guidance noise goes; each output
    is a whole clip in range, and only the IVR rows read the flow condition."""
    from humanvid.config import SamplerConfig
    from humanvid.sampling.clips import sample_clip

    model, reader = performer
    clip = reader.clip_ids()[0]
    ivr = {"levels": 4, "max_resolution": 16, "log2_table_size": 10, "width": 16, "depth": 1}

    def sampler(mode: str | None):
        joint = None if mode is None else {"mode": mode, "steps": 4, "every": 2, "strength": 0.5, "ivr": ivr}
        return SamplerConfig(model="m", data="synth", split="train", window=4, overlap=2, steps=4, max_frames=6, joint=joint)

    spec = model.spec
    assert spec.sampling_conditions(model.options, sampler("ivr")) == ("densepose",)
    assert spec.sampling_conditions(model.options, sampler("image")) == spec.sampling_conditions(model.options, sampler(None)) == ()
    out = {mode: sample_clip(model, reader, clip, sampler(mode), 1)["rgb"] for mode in (None, "none", "image", "noisy_image", "ivr")}
    assert torch.equal(out[None], out["none"])
    for mode in ("image", "noisy_image", "ivr"):
        assert out[mode].shape == (6, 3, 32, 32) and out[mode].abs().max() <= 1
        assert (out[mode] - out[None]).abs().max() > 1e-3, mode
    assert (out["ivr"] - out["noisy_image"]).abs().max() > 1e-3
    again = sample_clip(model, reader, clip, sampler("ivr"), 1)["rgb"]
    torch.testing.assert_close(again, out["ivr"])  # seeded: the same clip samples the same


def test_a_joint_section_is_diffperformers_alone(tiny_params):
    from conftest import config_errors

    tiny_params["samplers"]["tiny_w4"]["joint"] = {"mode": "ivr"}
    assert "samplers.tiny_w4.joint: joint optimisation is DiffPerformer's: method 'baseline' does not read it" in config_errors(tiny_params)
    tiny_params["samplers"]["tiny_w4"]["joint"] = {"mode": "ivr", "steps": 10, "every": 20}
    assert "exceeds the 10 steps" in config_errors(tiny_params)


def test_the_committed_debug_table_shows_every_row_above_the_floor_and_ivr_opt_steadier_than_no_opt():
    """The bar of issue 23 on the committed evidence (`humanvid reproduce diffperformer_debug`): every DiffPerformer
    row beats "copy reference" on L1, PSNR and SSIM by more than the seed spread, and IVR Opt. is below w/o Opt. on the
    temporal metric tL1. By about 1e-4 in each of the table's runs (4cf0cd9: 0.02803 vs 0.02815; c01b49a: 0.02894 vs
    0.02904); beyond the two noise seeds' spread in the first, within it in the second, whose w/o Opt. seeds spread
    twice as far — so only the side is asserted (docs/diffperformer.md, "Run to run")."""
    from conftest import assert_rows_beat_the_floor, committed_spread

    assert len(assert_rows_beat_the_floor("diffperformer_debug", "diffperformer", "copy_reference_performer")) == 4
    ivr, plain = (committed_spread("diffperformer_debug", s, "tl1") for s in ("diffperformer_debug", "diffperformer_debug_no_opt"))
    assert ivr.mean < plain.mean, (ivr, plain)


def test_3dhf_from_fitted_smplx_meshes_at_sampling(tmp_path):
    """`flow_source: smplx`: the shard's SMPL-X camera (frame pixels of a 48×80 frame) is mapped through the centre crop
    to the model's 32² (a vertex projects where the crop maps its frame projection), the body model is loaded by name at
    `prepare_sampling`, and a body translated by Δx flows by f'·Δx/Z on every pixel it covers (Z: that pixel's depth)."""
    from smplx_synthetic import write_smplx_npz

    from humanvid.body.model import load_smplx
    from humanvid.body.params import pack, pose_vertices, unpack
    from humanvid.body.render import rasterize
    from humanvid.conditions import crop_resize_camera, crop_resize_keypoints
    from humanvid.config import SamplerConfig
    from humanvid.models.diffperformer.model import DiffPerformer
    from humanvid.shards.samples import crop_conditions

    path = write_smplx_npz(tmp_path / "SMPLX_NEUTRAL.npz")
    body = load_smplx(path, 1, torch.device("cpu"), torch.float32)
    still = {"betas": np.zeros((1, 10)), "global_orient": np.array([[np.pi, 0, 0]]), "body_pose": np.zeros((1, 63)),
             "left_hand_pose": np.zeros((1, 12)), "right_hand_pose": np.zeros((1, 12)), "jaw_pose": np.zeros((1, 3)),
             "expression": np.zeros((1, 10)), "transl": np.array([[0.0, -1.0, 3.0]])}  # fmt: skip
    dx = 0.05
    moved = {**still, "transl": still["transl"] + [dx, 0, 0]}
    frames = {k: np.concatenate([still[k], still[k], moved[k]]) for k in still}  # still, still, moved
    height, width, focal, center = 48, 80, 450.0, (41.0, 23.0)  # close up: the synthetic mesh's triangles are small
    vectors = pack(frames, 3, focal, center)
    # The camera through the crop: projections agree with the keypoints' crop mapping.
    verts = pose_vertices(body, {k: v[:1] for k, v in unpack(vectors).items()})[0].numpy()
    project = lambda cam: np.stack([verts[:, 0] / verts[:, 2] * cam["focal"][0] + cam["center"][0, 0],  # noqa: E731
                                    verts[:, 1] / verts[:, 2] * cam["focal"][0] + cam["center"][0, 1], np.ones(len(verts))], -1)  # fmt: skip
    mapped = crop_resize_camera(vectors, height, width, 32)
    np.testing.assert_allclose(project(unpack(mapped))[:, :2], crop_resize_keypoints(project(unpack(vectors)), height, width, 32)[:, :2],
                               atol=1e-3)  # fmt: skip
    conditions = crop_conditions({"smplx": vectors}, height, width, 32)
    np.testing.assert_allclose(conditions["smplx"].numpy(), mapped)

    options = DiffPerformer.spec.parse_options({"prediction": "residual", "flow_source": "smplx"})
    assert DiffPerformer.spec.option_weights(options, "debug_pixel") == ("smplx",)
    model = DiffPerformer.create("debug_pixel", options, resolution=32, seed=0, device=torch.device("cpu"), weight_dtype=torch.float32)
    sampler = SamplerConfig(model="m", data="synth", split="test", window=4, overlap=2, steps=4, joint={"mode": "ivr", "steps": 4, "every": 2})
    assert model.spec.sampling_conditions(model.options, sampler) == ("smplx",)
    with pytest.raises(ValueError, match="call prepare_sampling"):
        model._human_flow(conditions, 3)
    model.prepare_sampling(sampler, overrides={"smplx": str(path)})
    flow, mask = model._human_flow(conditions, 3)
    assert flow.shape == (2, 32, 32, 2) and mask[1].sum() >= 8
    assert flow[0].abs().max() < 1e-3  # a still body: no flow
    cam = unpack(mapped)
    _, _, depth = rasterize(torch.as_tensor(verts), body.faces_tensor, float(cam["focal"][0]), 32, 32,
                            (float(cam["center"][0, 0]), float(cam["center"][0, 1])))  # fmt: skip
    expected = cam["focal"][0] * dx / depth[mask[1]]
    torch.testing.assert_close(flow[1][mask[1]][:, 0], expected, atol=2e-3, rtol=0)
    assert flow[1][mask[1]][:, 1].abs().max() < 2e-3
