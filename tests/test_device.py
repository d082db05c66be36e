"""Device, dtype and float32 precision are chosen at a stage's entry."""

import pytest
import torch

from humanvid.device import pin_float32_precision, resolve_device, resolve_dtype


@pytest.fixture
def precision_restored():
    saved = torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision
    yield
    torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision = saved


def test_float32_stages_pin_ieee_matmuls_and_convolutions(precision_restored):
    torch.backends.cudnn.conv.fp32_precision = "tf32"  # torch's default for convolutions
    pin_float32_precision(torch.bfloat16)
    assert torch.backends.cudnn.conv.fp32_precision == "tf32"  # a reduced-precision stage is left alone
    pin_float32_precision(torch.float32)
    assert torch.backends.cudnn.conv.fp32_precision == "ieee" and torch.backends.cuda.matmul.fp32_precision == "ieee"


def test_device_and_dtype_names():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32 and resolve_dtype("auto", torch.device("cuda")) == torch.bfloat16
    with pytest.raises(ValueError, match="unknown dtype 'float8'"):
        resolve_dtype("float8", torch.device("cpu"))
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda:0")
