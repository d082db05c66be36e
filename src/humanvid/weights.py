"""The weight registry: every released weight by name — its public source, checksum where published,
licence, and what uses it — plus where it is found on this machine.

Lookup order for a name: an explicit override path (`params.yaml: weights.overrides.NAME`), the humanvid
weight cache (`$HUMANVID_WEIGHTS_DIR`, default `~/.cache/humanvid/weights`, as `<cache>/<name>/…`), then
for hub entries the Hugging Face cache (never contacting the hub). Nothing downloads at run time: a
missing weight raises `MissingWeightsError` naming `humanvid weights fetch NAME`. Offline mode
(`HUMANVID_OFFLINE=1` or `HF_HUB_OFFLINE=1`) makes `fetch` refuse too.

Every file of a weight is pinned in `weights.lock` (`humanvid.weights_lock`): recorded on its first fetch (or by
`verify` once a file placed by hand loads), checked on every later `resolve` — the one door every loader goes
through.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


class MissingWeightsError(FileNotFoundError):
    """A released weight that is not on this machine."""


@dataclass(frozen=True)
class WeightSource:
    name: str
    used_by: str
    licence: str
    repo: str | None = None
    """Hugging Face hub repository id."""
    filename: str | None = None
    """A file inside `repo` (None: the whole repository, a diffusers/transformers folder), or the file
    name of a `manual` weight."""
    url: str | None = None
    """A direct download URL (used when there is no hub repository)."""
    sha256: str | None = None
    """Checksum of the file as published; None where the publisher gives none (then `weights.lock` pins it)."""
    sha256_prefix: str | None = None
    """The leading hex digits of the file's sha256 that its publisher put in the file name (torch.hub's
    `name-<hash>.pth` convention), checked on download as torch.hub does."""
    size: int | None = None
    manual: str | None = None
    """Where to get a file that has no direct download (the user fetches it by hand)."""
    package: str | None = None
    """`package:relative/path` — a file an installed Python package ships (found without importing it); the URL
    stays as the public source of the same file."""

    @property
    def source(self) -> str:
        if self.manual:
            return self.manual
        if self.url:
            return self.url
        return f"hf://{self.repo}" + (f"/{self.filename}" if self.filename else "")

    @property
    def local_name(self) -> str | None:
        """The file name inside `<cache>/<name>/` for single-file weights; None for whole repositories."""
        if self.url:
            return self.url.split("?")[0].rsplit("/", 1)[-1]
        return self.filename


WEIGHTS: dict[str, WeightSource] = {
    w.name: w
    for w in [
        WeightSource("sd15", "baseline/sd15: VAE, UNet", "CreativeML OpenRAIL-M", repo="stable-diffusion-v1-5/stable-diffusion-v1-5"),
        WeightSource("animatediff-v1-5-2", "baseline/sd15: motion modules", "Apache-2.0", repo="guoyww/animatediff-motion-adapter-v1-5-2"),
        WeightSource("controlnet-openpose", "baseline/sd15: pose ControlNet", "CreativeML OpenRAIL-M", repo="lllyasviel/control_v11p_sd15_openpose"),
        WeightSource("clip-vit-large-patch14", "baseline/sd15: reference image tokens", "MIT", repo="openai/clip-vit-large-patch14"),
        WeightSource("clip-vit-base-patch32", "make_your_anchor/sd15: reference image tokens (last_hidden_state, unprojected)", "MIT",
                     repo="openai/clip-vit-base-patch32"),  # fmt: skip
        WeightSource("make-your-anchor-seth", "make_your_anchor/released: the `seth` body SGDM and Face SGDM (diffusers folders body/{unet,controlnet}, "
                     "head/{unet,controlnet})", "see ICTMCG/Make-Your-Anchor",
                     manual="Google Drive / OneDrive links in the README of https://github.com/ICTMCG/Make-Your-Anchor: download "
                            "inference/checkpoints/seth and place its body/ and head/ folders as shown, or set weights.overrides."
                            "make-your-anchor-seth to that folder"),  # fmt: skip
        WeightSource("bisenet-face-parsing", "make_your_anchor (face_mask: bisenet): BiSeNet face parsing, the facial mask the release "
                     "inpaints (19 CelebAMask-HQ classes)", "MIT (zllrunning/face-parsing.PyTorch)",
                     url="https://github.com/ICTMCG/Make-Your-Anchor/raw/main/inference/res/cp/79999_iter.pth", filename="79999_iter.pth"),  # fmt: skip
        WeightSource("ldm3d", "ldm3d/ldm3d: LDM3D's RGBD VAE (6 channels: RGB and the depth's 16 bits) and UNet, the paper's model",
                     "CreativeML OpenRAIL-M", repo="Intel/ldm3d"),  # fmt: skip
        WeightSource("ldm3d-4c", "ldm3d/ldm3d_4c: LDM3D's RGBD VAE (4 channels: RGB and one depth channel) and UNet",
                     "CreativeML OpenRAIL-M", repo="Intel/ldm3d-4c"),  # fmt: skip
        WeightSource("sd15-inpainting", "make_your_anchor/sd15: the Face SGDM's inpainting UNet (9 input channels: latent, mask, masked latent)",
                     "CreativeML OpenRAIL-M", repo="stable-diffusion-v1-5/stable-diffusion-inpainting"),  # fmt: skip
        WeightSource("sd-image-variations", "disco/sd_image_variations, released: SD fine-tuned on CLIP image embeddings (VAE, UNet, "
                     "CLIPVisionModelWithProjection image_encoder), DisCo's base", "CreativeML OpenRAIL-M",
                     repo="lambdalabs/sd-image-variations-diffusers"),  # fmt: skip
        WeightSource("disco-hap", "disco/released_hap: DisCo's human-attribute pre-training checkpoint (a DeepSpeed "
                     "`mp_rank_00_model_states.pt`: UNet, background ControlNet as `controlnet.*`, `refer_clip_proj`)", "Apache-2.0 (Wangt-CN/DisCo)",
                     manual="the 'Pre-trained Model Checkpoint' OneDrive link in the README of https://github.com/Wangt-CN/DisCo: "
                            "convert it once with `python -m humanvid.models.disco.released <checkpoint.pt> <folder>` (safetensors) "
                            "and place the folder, or set weights.overrides.disco-hap to it"),  # fmt: skip
        WeightSource("disco-tiktok", "disco/released: DisCo fine-tuned on TikTok without CFG (a DeepSpeed `mp_rank_00_model_states.pt`: "
                     "its Net's state dict under `module`)", "Apache-2.0 (Wangt-CN/DisCo)",
                     manual="the 'w/o Classifier-Free Guidance' checkpoint link (TikTok training data) in the README of "
                            "https://github.com/Wangt-CN/DisCo: convert it once with `python -m humanvid.models.disco.released "
                            "<checkpoint.pt> <folder>` (safetensors) and place the folder, or set weights.overrides.disco-tiktok to it"),  # fmt: skip
        WeightSource("disco-tiktok-cfg", "disco/released_cfg: DisCo fine-tuned on TikTok with reference drop 0.05 (sampled at guidance 1.5; "
                     "the same layout)", "Apache-2.0 (Wangt-CN/DisCo)",
                     manual="the 'w/ Classifier-Free Guidance' checkpoint link in the README of https://github.com/Wangt-CN/DisCo "
                            "(or GCS checkpoint_ft/tiktok_cfg/, issue #25): convert it once with `python -m "
                            "humanvid.models.disco.released <checkpoint.pt> <folder>` and place the folder, or set "
                            "weights.overrides.disco-tiktok-cfg to it"),  # fmt: skip
        WeightSource("disco-tiktok-temporal", "disco/released_temporal: DisCo with its temporal layers, fine-tuned on TikTok (the "
                     "same DeepSpeed layout; `tem_` keys in the UNet and both ControlNets)", "Apache-2.0 (Wangt-CN/DisCo)",
                     manual="the OneDrive link under 'Temporal module fine-tuning' in the README of https://github.com/Wangt-CN/DisCo "
                            "('TikTok training data (w/ CFG)'): convert it once with `python -m humanvid.models.disco.released "
                            "<checkpoint.pt> <folder>` and place the folder, or set weights.overrides.disco-tiktok-temporal to it"),  # fmt: skip
        WeightSource("sd-vae-ft-mse", "magicanimate/sd15, released: the fine-tuned SD VAE MagicAnimate decodes with", "MIT",
                     repo="stabilityai/sd-vae-ft-mse"),  # fmt: skip
        WeightSource("animatediff-v1-5", "magicanimate/sd15: AnimateDiff v1 motion modules (temporal attention init)", "Apache-2.0",
                     repo="guoyww/animatediff-motion-adapter-v1-5"),  # fmt: skip
        WeightSource("magicanimate", "magicanimate/released: appearance encoder, DensePose ControlNet, temporal attention", "BSD-3-Clause",
                     repo="zcxu-eric/MagicAnimate"),  # fmt: skip
        WeightSource("dpt-hybrid-midas", "estimator dpt_hybrid: MiDaS v3 DPT-Hybrid relative depth", "Apache-2.0", repo="Intel/dpt-hybrid-midas"),
        WeightSource("depth-anything-v2-small", "estimator depth_anything_v2_small: Depth Anything V2 ViT-S", "Apache-2.0",
                     repo="depth-anything/Depth-Anything-V2-Small-hf"),  # fmt: skip
        WeightSource("depth-anything-v2-base", "estimator depth_anything_v2_base: Depth Anything V2 ViT-B", "CC-BY-NC-4.0",
                     repo="depth-anything/Depth-Anything-V2-Base-hf"),  # fmt: skip
        WeightSource("smplx", "body: the SMPL-X model (fitting, mesh conditions; docs/body.md)", "SMPL-X licence (registration; non-commercial research)",
                     filename="SMPLX_NEUTRAL.npz",
                     manual="licence-gated: register at https://smpl-x.is.tue.mpg.de, download models_smplx_v1_1.zip and place "
                            "SMPLX_NEUTRAL.npz as shown, or set weights.overrides.smplx to the file or its folder"),  # fmt: skip
        WeightSource("dwpose-yolox-l", "estimator dwpose: person detector", "Apache-2.0", repo="yzd-v/DWPose", filename="yolox_l.onnx"),
        WeightSource("dwpose-ll-ucoco-384", "estimator dwpose: whole-body pose", "Apache-2.0", repo="yzd-v/DWPose", filename="dw-ll_ucoco_384.onnx"),
        WeightSource("openpose-body", "estimators openpose, openpose_wholebody: CMU body model (PyTorch port)", "CMU OpenPose academic licence",
                     repo="lllyasviel/Annotators", filename="body_pose_model.pth"),  # fmt: skip
        WeightSource("openpose-hand", "estimator openpose_wholebody: CMU hand model (PyTorch port)", "CMU OpenPose academic licence",
                     repo="lllyasviel/Annotators", filename="hand_pose_model.pth"),  # fmt: skip
        WeightSource("openpose-face", "estimator openpose_wholebody: CMU face model (PyTorch port)", "CMU OpenPose academic licence",
                     repo="lllyasviel/Annotators", filename="facenet.pth"),  # fmt: skip
        WeightSource("rvm-mobilenetv3", "estimator matting: Robust Video Matting (TorchScript)", "GPL-3.0",
                     url="https://github.com/PeterL1n/RobustVideoMatting/releases/download/v1.0.0/rvm_mobilenetv3_fp32.torchscript"),  # fmt: skip
        WeightSource("densepose-r50-fpn-s1x", "estimator densepose: detectron2 DensePose R_50_FPN_s1x", "Apache-2.0",
                     url="https://dl.fbaipublicfiles.com/densepose/densepose_rcnn_R_50_FPN_s1x/165712039/model_final_162be9.pkl"),  # fmt: skip
        # Evaluation networks (docs/metrics.md).
        WeightSource("fid-inception", "metrics fid, depth_fid: InceptionV3 pool3 (pytorch-fid's port of TF 2015-12-05)", "Apache-2.0",
                     url="https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
                     sha256_prefix="6726825d"),  # fmt: skip
        WeightSource("vgg16-imagenet", "metric lpips: VGG16 backbone (torchvision ImageNet weights)", "BSD-3-Clause",
                     url="https://download.pytorch.org/models/vgg16-397923af.pth", sha256_prefix="397923af"),  # fmt: skip
        WeightSource("lpips-vgg-v0.1", "metric lpips: linear heads of LPIPS v0.1 (VGG), shipped in the lpips wheel", "BSD-2-Clause",
                     url="https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/vgg.pth",
                     package="lpips:weights/v0.1/vgg.pth"),  # fmt: skip
        WeightSource("r3d50-kinetics", "metric fid_vid: 3D ResNet-50 Kinetics-400 (Hara et al., resnet-50-kinetics.pth)", "MIT", filename="resnet-50-kinetics.pth",
                     manual="published on Google Drive by kenshohara/3D-ResNets-PyTorch (file resnet-50-kinetics.pth); "
                            "download it there and place it as shown, or set weights.overrides.r3d50-kinetics"),  # fmt: skip
        WeightSource("i3d-kinetics400", "metric fvd: I3D Kinetics-400, PyTorch port (i3d_pretrained_400.pt, as DisCo loads it)", "Apache-2.0", filename="i3d_pretrained_400.pt",
                     manual="shared on OneDrive by the TATS/VideoGPT FVD code (file i3d_pretrained_400.pt); "
                            "download it there and place it as shown, or set weights.overrides.i3d-kinetics400"),  # fmt: skip
        WeightSource("i3d-torchscript-styleganv", "metric fvd: I3D Kinetics-400, StyleGAN-V's TorchScript export", "Apache-2.0",
                     url="https://www.dropbox.com/s/ge9e5ujwgetktms/i3d_torchscript.pt?dl=1"),  # fmt: skip
    ]
}


def cache_dir() -> Path:
    return Path(os.environ.get("HUMANVID_WEIGHTS_DIR") or Path.home() / ".cache" / "humanvid" / "weights")


def offline() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in ("HUMANVID_OFFLINE", "HF_HUB_OFFLINE"))


def source(name: str) -> WeightSource:
    if name not in WEIGHTS:
        raise KeyError(f"unknown weight {name!r}; known: {', '.join(sorted(WEIGHTS))}")
    return WEIGHTS[name]


def cached_path(name: str) -> Path:
    """Where `fetch` puts a weight: `<cache>/<name>/<file>` or, for a whole repository, `<cache>/<name>/`."""
    src = source(name)
    base = cache_dir() / name
    return base / src.local_name if src.local_name else base


def _hub_cache_holds(repo: str) -> bool:
    """Whether the Hugging Face cache has a folder for `repo` (checked before importing huggingface_hub,
    which costs a tenth of a second: `humanvid reproduce` asks about every weight on its no-op path)."""
    hub = os.environ.get("HF_HUB_CACHE") or os.path.join(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface", "hub")
    return (Path(hub) / ("models--" + repo.replace("/", "--"))).is_dir()


def package_file(spec: str) -> Path | None:
    """The file `package:relative/path` names inside an installed package, or None (the package is not found by
    `importlib.util.find_spec`, which does not run it — `lpips` imports torchvision at import)."""
    import importlib.util

    package, _, rel = spec.partition(":")
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        return None
    path = Path(next(iter(found.submodule_search_locations))) / rel
    return path if path.is_file() else None


def find(name: str, overrides: dict[str, str] | None = None) -> Path | None:
    """The local path of a weight, or None."""
    src = source(name)
    if overrides and name in overrides:
        path = Path(overrides[name]).expanduser()
        if not path.exists():
            raise MissingWeightsError(f"weights.overrides.{name}: {path} does not exist")
        return path
    path = cached_path(name)
    if path.exists():
        return path
    if src.package and (shipped := package_file(src.package)) is not None:
        return shipped
    if src.repo and _hub_cache_holds(src.repo):
        try:
            from huggingface_hub import hf_hub_download, snapshot_download

            if src.filename:
                return Path(hf_hub_download(src.repo, src.filename, local_files_only=True))
            return Path(snapshot_download(src.repo, local_files_only=True))
        except Exception:  # not in the Hugging Face cache
            return None
    return None


def missing(names: tuple[str, ...] | list[str], overrides: dict[str, str] | None = None) -> list[str]:
    """The names among `names` that are not on this machine (an override pointing nowhere counts as
    missing). Looks only; downloads nothing."""
    out = []
    for name in names:
        try:
            found = find(name, overrides)
        except MissingWeightsError:
            found = None
        if found is None:
            out.append(name)
    return out


def named(name: str, overrides: dict[str, str] | None = None) -> str:
    """How a message names a weight: the params.yaml key when the user overrode it, else the registry name."""
    return f"weights.overrides.{name}" if overrides and name in overrides else f"weight {name!r}"


def loadable(name: str, overrides: dict[str, str] | None = None) -> str | None:
    """None if the weight is here and its loader accepts it — for a metric network, the network built from
    it with every expected key; for another file, a tensors-only state dict — else what is wrong. Needs the
    other weights of a network to be here too (else only this file is read)."""
    from humanvid.state_dicts import WeightFileError, read_state_dict
    from humanvid.weights_lock import WeightDigestError

    path = find(name, overrides)
    if path is None:
        return "missing"
    try:
        from humanvid.metrics.network_metrics import NETWORK_WEIGHTS, build_network, network_of

        net = network_of(name)
        if net is not None and not missing(NETWORK_WEIGHTS[net], overrides):
            build_network(net, overrides)
        elif path.is_file() and path.suffix in (".pth", ".pt", ".ckpt", ".bin", ".safetensors"):
            read_state_dict(path)
        elif path.is_dir():
            for f in sorted([*path.rglob("*.safetensors"), *path.rglob("*.bin")]):
                read_state_dict(f)
    except (WeightFileError, MissingWeightsError, WeightDigestError) as exc:
        return str(exc)
    return None


def fetch_hint(names: list[str]) -> str:
    """'weights a, b (humanvid weights fetch a b)': how reports and metrics say what a result needs."""
    return "weights " + ", ".join(names) + " (humanvid weights fetch " + " ".join(names) + ")"


def digest_cache():
    from humanvid.weights_lock import DigestCache

    return DigestCache(cache_dir() / ".digests.json")


def pinned(name: str, path: Path, revision: str | None = None, record: bool = False) -> Path:
    """`path` after checking its bytes against `weights.lock`; with `record` (a fetch, a verified file) they are
    recorded there when the lock has no entry yet. Raises `WeightDigestError` naming the file and both digests.
    (A published checksum is checked when the file is fetched, and by `verify`.)"""
    from humanvid.weights_lock import check_or_record

    check_or_record(name, path, source(name).source, digest_cache(), revision, record=record)
    return path


def locked_digest(name: str) -> str | None:
    """The digest `weights.lock` holds for a whole weight (what a report's provenance cites), or None."""
    from humanvid.weights_lock import lock_path, read_lock, tree_digest

    entry = read_lock(lock_path()).get(name)
    return tree_digest(entry["files"]) if entry else None


def resolve(name: str, overrides: dict[str, str] | None = None) -> str:
    """A path `from_pretrained`/a loader can open — its bytes checked (`pinned`) — or MissingWeightsError saying
    how to get it."""
    path = find(name, overrides)
    if path is not None:
        return str(pinned(name, path))
    src = source(name)
    raise MissingWeightsError(
        f"weight {name!r} ({src.used_by}) is not on this machine. Run `humanvid weights fetch {name}` "
        f"(source: {src.source}; licence: {src.licence}), or place it at {cached_path(name)}, "
        f"or point `weights.overrides.{name}` in params.yaml at a local copy."
    )


def fetch(name: str, progress: Callable[[str], None] = print) -> Path:
    """Download a weight into the cache (resumable, verified where a checksum is published)."""
    from humanvid.datasets.fetch import fetch as fetch_url
    from humanvid.datasets.fetch import sha256_of

    src = source(name)
    if offline():
        raise MissingWeightsError(f"offline mode (HUMANVID_OFFLINE/HF_HUB_OFFLINE): not fetching {name!r} from {src.source}")
    dest = cached_path(name)
    if src.manual:
        raise MissingWeightsError(f"weight {name!r} has no direct download: it is {src.manual} (expected at {dest})")
    if src.url:
        path = fetch_url(src.url, dest, src.sha256, src.size, progress=progress)
        if src.sha256_prefix and not (digest := sha256_of(path)).startswith(src.sha256_prefix):
            path.unlink()
            raise MissingWeightsError(f"weight {name!r} fetched from {src.url} but its sha256 is {digest}; its published name says "
                                      f"it starts with {src.sha256_prefix} (the download was removed)")  # fmt: skip
        return pinned(name, path, record=True)
    from huggingface_hub import HfApi, hf_hub_download, snapshot_download

    revision = HfApi().model_info(src.repo).sha  # the hub commit, recorded beside the digests
    if src.filename:
        path = Path(hf_hub_download(src.repo, src.filename, revision=revision, local_dir=dest.parent))
    else:
        path = Path(snapshot_download(src.repo, revision=revision, local_dir=dest))
    return pinned(name, path, revision, record=True)


def verify_path(src: WeightSource, path: Path) -> str | None:
    """None if the file matches what is published (checksum/size where known), else what is wrong."""
    from humanvid.datasets.fetch import sha256_of

    if not path.exists():
        return f"{path} is missing"
    if path.is_file():
        if src.size is not None and path.stat().st_size != src.size:
            return f"{path}: {path.stat().st_size} bytes, expected {src.size}"
        if src.sha256 is not None and (digest := sha256_of(path)) != src.sha256:
            return f"{path}: sha256 {digest}, expected {src.sha256}"
        if path.stat().st_size == 0:
            return f"{path} is empty"
    return None


def verify(name: str, overrides: dict[str, str] | None = None) -> tuple[str, str]:
    """('ok' | 'missing' | 'bad', detail) for one weight: published checksum/size where known, and that its
    loader accepts it (`loadable`)."""
    src = source(name)
    try:
        path = find(name, overrides)
    except MissingWeightsError as exc:
        return "missing", str(exc)
    if path is None:
        return "missing", f"not found (expected at {cached_path(name)})"
    from humanvid.weights_lock import WeightDigestError, lock_path

    try:
        pinned(name, path)
    except WeightDigestError as exc:
        return "bad", str(exc)
    problem = verify_path(src, path) or loadable(name, overrides)
    if problem:
        return "bad", problem if problem.startswith(named(name, overrides)) else f"{named(name, overrides)}: {problem}"
    pinned(name, path, record=True)  # a file placed by hand is pinned once it is shown to load
    return "ok", f"{path} (loads; its files pinned in {lock_path()}" + (", published checksum matches" if src.sha256 or src.sha256_prefix else "") + ")"
