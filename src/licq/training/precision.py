"""Mixed precision for training: bf16 transforms, fp32 entropy models.

The four convolutional transforms (g_a, h_a, h_s, g_s) hold nearly all the
arithmetic and tolerate bf16 well; the entropy models do not: likelihoods of
a few 1e-9, the bottleneck's quantiles and the rate sum need fp32. So only the
transforms run under autocast, each output is cast back to fp32 before it
meets an entropy model or the loss, and the optimizers keep fp32 weights.
With channels-last memory, oneDNN's bf16 kernels make a training step about
2.2x faster than fp32 on this project's AVX512-BF16 CPU (benchmarks/train_speed.py).
"""

from __future__ import annotations

from typing import Any, Callable, Literal

import torch
from torch import Tensor, nn

from ..hardware import cpu_has_bf16

Precision = Literal["fp32", "bf16"]
PRECISIONS: tuple[str, ...] = ("fp32", "bf16")


def default_precision(device: torch.device) -> Precision:
    """bf16 where the hardware does it natively (CUDA with bf16, or such a CPU), else fp32."""
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_bf16() else "fp32"


def resolve_precision(precision: str | None, device: torch.device) -> Precision:
    """``None``/``"auto"`` picks :func:`default_precision`; anything else must be in PRECISIONS."""
    if precision in (None, "auto"):
        return default_precision(device)
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r} (expected one of {', '.join(PRECISIONS)})")
    return precision  # type: ignore[return-value]


def prepare_for_training(model: nn.Module, device: torch.device, precision: Precision) -> None:
    """Channels-last weights for bf16 training (fp32 runs keep the layout they were measured with)."""
    if precision == "bf16":
        model.to(memory_format=torch.channels_last)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def transform_runner(x: Tensor, precision: Precision) -> Callable[[Callable, Tensor], Any]:
    """A function ``run(transform, t)`` applying a transform in ``precision``.

    The result (a tensor or a tuple of tensors, as ``model.hyper`` returns) is fp32.
    """
    if precision == "fp32":
        return lambda f, t: f(t)
    device_type = x.device.type

    def run(f: Callable, t: Tensor) -> Any:
        with torch.autocast(device_type, dtype=torch.bfloat16):
            out = f(t.contiguous(memory_format=torch.channels_last))
        return tuple(o.float() for o in out) if isinstance(out, tuple) else out.float()
    return run

