"""Loading SMPL-X with the `smplx` package, after checking the model file.

The SMPL-X model files are licence-gated (https://smpl-x.is.tue.mpg.de: register, accept the licence,
download `models_smplx_v1_1.zip`); nothing here downloads them. The `.npz` release is read — its arrays
are plain numbers, checked here with `allow_pickle=False` before `smplx` opens it; the `.pkl` release
needs Python's pickle (and chumpy) and is refused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

SOURCE = ("SMPL-X model files are licence-gated: register at https://smpl-x.is.tue.mpg.de, download models_smplx_v1_1.zip and "
          "point to the folder holding SMPLX_NEUTRAL.npz (or the file itself); humanvid downloads nothing")  # fmt: skip
NUM_JOINTS = 55
# Arrays smplx reads from an SMPL-X .npz, with their shapes (V vertices, F faces; -1: any length).
REQUIRED = {
    "v_template": ("V", 3), "f": ("F", 3), "J_regressor": (NUM_JOINTS, "V"), "kintree_table": (2, NUM_JOINTS),
    "weights": ("V", NUM_JOINTS), "posedirs": ("V", 3, (NUM_JOINTS - 1) * 9), "shapedirs": ("V", 3, -1),
    "hands_componentsl": (45, 45), "hands_componentsr": (45, 45), "hands_meanl": (45,), "hands_meanr": (45,),
    "lmk_faces_idx": (51,), "lmk_bary_coords": (51, 3),
}  # fmt: skip


class BodyModelError(ValueError):
    """A missing or malformed body-model file."""


def model_file(path: str | Path, gender: str = "neutral") -> Path:
    """The .npz file for `gender` given a folder or a file; a clear error when absent or not .npz."""
    path = Path(path)
    if path.is_dir():
        path = path / f"SMPLX_{gender.upper()}.npz"
    if path.suffix == ".pkl":
        raise BodyModelError(f"{path}: the .pkl SMPL-X release needs pickle (and chumpy); use the .npz files of the same download")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no SMPL-X model file. {SOURCE}")
    return path


def check_model_file(path: Path) -> dict[str, tuple[int, ...]]:
    """Every array smplx needs, with consistent shapes, and nothing pickled; returns the shapes."""
    try:
        with np.load(path, allow_pickle=False) as data:
            shapes = {k: data[k].shape for k in data.files}
    except ValueError as exc:  # an object array needs pickle
        raise BodyModelError(f"{path}: holds pickled objects ({exc}); an SMPL-X .npz holds plain arrays") from exc
    missing = [k for k in REQUIRED if k not in shapes]
    if missing:
        raise BodyModelError(f"{path}: not an SMPL-X model file, missing {', '.join(missing)}. {SOURCE}")
    sizes = {"V": shapes["v_template"][0], "F": shapes["f"][0]}
    for key, want in REQUIRED.items():
        expected = tuple(sizes.get(d, d) for d in want)
        got = shapes[key]
        if len(got) != len(expected) or any(e != -1 and g != e for g, e in zip(got, expected, strict=True)):
            raise BodyModelError(f"{path}: {key} has shape {got}, SMPL-X has {expected} (V = vertices, F = faces)")
    return shapes


def load_smplx(path: str | Path | None, batch_size: int, device: torch.device, dtype: torch.dtype, gender: str = "neutral",
               num_pca_comps: int = 12, num_betas: int = 10, num_expression: int = 10,
               overrides: dict[str, str] | None = None):  # fmt: skip
    """smplx.SMPLX for `batch_size` frames (hand pose as PCA coefficients, no face contour). `path` None: the
    weight registry's `smplx` entry (the weight cache or `weights.overrides.smplx`)."""
    import smplx

    if path is None:
        from humanvid import weights

        path = weights.resolve("smplx", overrides)
    path = model_file(path, gender)
    check_model_file(path)
    model = smplx.SMPLX(str(path), ext="npz", gender=gender, batch_size=batch_size, use_pca=True, num_pca_comps=num_pca_comps,
                        flat_hand_mean=False, use_face_contour=False, num_betas=num_betas, num_expression_coeffs=num_expression,
                        dtype=torch.float32)  # fmt: skip
    return model.to(device=device, dtype=dtype)
