"""The integer hyper-decoder: h_s computed exactly, identically on every machine.

The hyper-decoder's μ and σ pick the rANS tables (and a fixed grid's anchors), so
they must come out bit for bit the same wherever a file is decoded. Floating-point
convolutions do not: their summation order follows the CPU's instruction set,
the thread count, the library and the device. Ballé, Johnston and Minnen
("Integer networks for data compression with latent-variable models", ICLR 2019)
answer with integer arithmetic; this module is that answer for CompressAI's h_s.

Each layer is converted, deterministically, from its float weights:

* ẑ and the hidden activations are integers times ``2**-ACTIVATION_BITS``, the
  outputs μ and σ integers times ``2**-FRACTION_BITS`` (:mod:`licq.fixed_point`);
* weights are integers times ``2**-b``, ``b`` chosen per layer so that the largest
  is below ``2**WEIGHT_BITS``; biases are integers at the accumulator's scale;
* the convolution runs in float64 on integer values. Every product and every
  partial sum is an integer below ``2**53`` (inputs are clamped to the bound that
  guarantees it), so each is exact and the summation order cannot matter: the
  same integers come out of any BLAS, thread count or device;
* the accumulator is brought back to its output scale by a power-of-two
  division rounded half up (exact in float64), LeakyReLU's slope of 0.01 by an
  integer division, also rounded.

The conversion reads only the weights (elementwise, exact operations), so a
CompressAI weight file converts the same way on every machine. The integer h_s
follows the float one to within the output's resolution (2**-12) in μ and σ; its
rate-distortion cost is measured by ``benchmarks/integer_hyper.py``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import LicqError
from ..fixed_point import FRACTION_BITS, MAX_FIXED
from .tiling import tiled

#: weights are integers of magnitude below 2**WEIGHT_BITS
WEIGHT_BITS = 21
#: ẑ and the hidden activations are integers times 2**-ACTIVATION_BITS (μ and σ: 2**-FRACTION_BITS)
ACTIVATION_BITS = 16
#: the conversion refuses weights whose exactness bound would clamp a layer's inputs below this (real units)
MIN_INPUT_RANGE = 64.0
#: accumulations stay below 2**EXACT_BITS: float64 holds every such integer exactly (2**53), with a bit spare
EXACT_BITS = 52
#: LeakyReLU's negative slope is 1/LEAKY_DIVISOR (CompressAI's 0.01), applied by exact integer division
LEAKY_DIVISOR = 100
#: the hyper-decoder runs on tiles of this many hyper-latent positions (memory; results are exact anyway)
TILE, HALO = 32, 4


@dataclass(frozen=True)
class IntegerLayer:
    """One convolution of the integer hyper-decoder with its activation."""

    transposed: bool
    weight: Tensor  #: float64 holding integers (weight·2**b)
    bias: Tensor  #: float64 holding integers at the accumulator's scale 2**-(ACTIVATION_BITS + b)
    shift: int  #: the accumulator is divided by 2**shift and rounded
    stride: int
    padding: int
    output_padding: int
    clamp: float  #: inputs are clamped to ±clamp (integers), which keeps every accumulation exact
    activation: str | None  #: "leaky_relu", "relu" or None

    def __call__(self, x: Tensor) -> Tensor:
        """The layer on ``x``, which it clamps in place (:func:`run_exact` owns every input it passes)."""
        x = x.clamp_(-self.clamp, self.clamp)
        if self.transposed:
            acc = F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, self.output_padding)
        else:
            acc = F.conv2d(x, self.weight, self.bias, self.stride, self.padding)
        out = acc.mul_(2.0 ** -self.shift).add_(0.5).floor_()  # in place: the accumulator is not needed again
        if self.activation == "relu":
            out.clamp_min_(0)
        elif self.activation == "leaky_relu":
            # floor((x + 50) / 100), rounded half up (unbiased): a floor division of integers held in
            # float64, exact on every device (PyTorch rounds the quotient of x − fmod(x, 100) to nearest)
            scaled = torch.div(out + LEAKY_DIVISOR // 2, LEAKY_DIVISOR, rounding_mode="floor")
            out = torch.where(out < 0, scaled, out)
        return out

    def to(self, device: torch.device) -> "IntegerLayer":
        return IntegerLayer(self.transposed, self.weight.to(device), self.bias.to(device), self.shift, self.stride,
                            self.padding, self.output_padding, self.clamp, self.activation)


def _weight_exponent(w: Tensor) -> int:
    """``b`` with ``max|w|·2**b < 2**WEIGHT_BITS`` and as large as that allows (exact: frexp)."""
    peak = float(w.detach().abs().max())
    if peak == 0:
        return WEIGHT_BITS
    _, e = torch.frexp(torch.tensor(peak, dtype=torch.float64))  # peak = m·2**e, 0.5 ≤ m < 1
    return WEIGHT_BITS - int(e)


def convert_layer(conv: nn.Module, activation: str | None, out_bits: int = ACTIVATION_BITS,
                  in_bits: int = ACTIVATION_BITS) -> IntegerLayer:
    """The integer image of one ``Conv2d`` / ``ConvTranspose2d`` (square kernel, equal strides): inputs at
    ``2**-in_bits``, outputs at ``2**-out_bits``."""
    transposed = isinstance(conv, nn.ConvTranspose2d)
    w = conv.weight.detach().to(torch.float64).cpu()
    b = _weight_exponent(w)
    weight = torch.round(w * 2.0 ** b)
    bias = conv.bias.detach().to(torch.float64).cpu() if conv.bias is not None else torch.zeros(
        weight.shape[1] if transposed else weight.shape[0], dtype=torch.float64)
    bias = torch.round(bias * 2.0 ** (b + in_bits))
    # Σ|w| over everything that feeds one output channel bounds every partial sum of that channel
    per_output = weight.abs().sum(dim=(0, 2, 3) if transposed else (1, 2, 3))
    room = 2.0 ** EXACT_BITS - float(bias.abs().max())
    clamp = float(torch.floor(torch.tensor(room, dtype=torch.float64) / per_output.max().clamp_min(1)))
    if clamp < MIN_INPUT_RANGE * 2 ** in_bits:
        raise LicqError("network weights too large for exact integer arithmetic "
                        f"(inputs would be clamped at {clamp * 2.0 ** -in_bits:.3g})")
    return IntegerLayer(transposed, weight, bias, b + in_bits - out_bits, conv.stride[0], conv.padding[0],
                        conv.output_padding[0] if transposed else 0, clamp, activation)


_ACTIVATIONS = {nn.LeakyReLU: "leaky_relu", nn.ReLU: "relu"}


def convert(h_s: nn.Sequential, bits: int = ACTIVATION_BITS) -> tuple[IntegerLayer, ...]:
    """The integer layers of a CompressAI hyper-decoder (convolutions, each optionally followed by
    LeakyReLU(0.01) or ReLU); anything else is refused. Input and hidden activations are integers
    times ``2**-bits``."""
    layers, modules = [], list(h_s)
    i = 0
    while i < len(modules):
        conv = modules[i]
        if not isinstance(conv, (nn.Conv2d, nn.ConvTranspose2d)):
            raise LicqError(f"integer hyper-decoder: unsupported layer {type(conv).__name__}")
        act = None
        if i + 1 < len(modules) and type(modules[i + 1]) in _ACTIVATIONS:
            act = _ACTIVATIONS[type(modules[i + 1])]
            if act == "leaky_relu" and modules[i + 1].negative_slope != 0.01:
                raise LicqError("integer hyper-decoder: LeakyReLU slope other than 0.01")
            i += 1
        i += 1
        layers.append(convert_layer(conv, act, bits if i < len(modules) else FRACTION_BITS, bits))
    return tuple(layers)


def _run(layers: tuple[IntegerLayer, ...], z_fixed: Tensor) -> Tensor:
    x = z_fixed
    for layer in layers:
        x = layer(x)
    return x


def run_exact(layers: tuple[IntegerLayer, ...], z_hat: Tensor, up: int = 4, bits: int = ACTIVATION_BITS) -> Tensor:
    """μ/σ planes of the integer hyper-decoder for ``ẑ``, as float32 multiples of 2**-FRACTION_BITS.

    ``ẑ`` is rounded to fixed point (exactly: it is an integer plus a float32 median). ``up`` is the
    network's upsampling factor (h_s: 4; the channel-context networks of :mod:`.channel`: 1), ``bits``
    the fraction bits of its input and hidden activations (those of :func:`convert`); any float32
    input works, since rounding one float to fixed point is the same on every machine.
    Runs outside autocast, tile by tile (with a halo wider than the receptive field, so
    the tiling changes nothing), and without cuDNN, whose algorithms (FFT, Winograd) are
    not exact.
    """
    device = z_hat.device
    layers = _layers_on(layers, device)
    x = torch.round(z_hat.detach().to(torch.float64) * (1 << bits))
    with torch.autocast(device.type, enabled=False), torch.backends.cudnn.flags(enabled=False):
        out = tiled(functools.partial(_run, layers), x, TILE, HALO, up, 1)
    return out.clamp_(-MAX_FIXED, MAX_FIXED).mul_(2.0 ** -FRACTION_BITS).to(torch.float32)


def _layers_on(layers: tuple[IntegerLayer, ...], device: torch.device) -> tuple[IntegerLayer, ...]:
    if all(layer.weight.device == device for layer in layers):
        return layers
    return tuple(layer.to(device) for layer in layers)


class ExactHyperDecoder:
    """The integer conversion of a network (``h_s``, a context network), redone whenever its parameters change.

    Training and finetuning see the same exact values as the codec: with gradients
    enabled, the float h_s supplies the gradient (straight-through), the integer
    one the value.
    """

    def __init__(self, up: int = 4, bits: int = ACTIVATION_BITS) -> None:
        self.up, self.bits = up, bits
        self._key: tuple | None = None
        self._layers: tuple[IntegerLayer, ...] = ()

    def layers(self, h_s: nn.Sequential) -> tuple[IntegerLayer, ...]:
        key = tuple((id(p), p._version, p.dtype, p.device) for p in h_s.parameters())
        if key != self._key:
            self._layers, self._key = convert(h_s, self.bits), key
        return self._layers

    def __call__(self, h_s: nn.Sequential, z_hat: Tensor) -> Tensor:
        exact = run_exact(self.layers(h_s), z_hat, self.up, self.bits)
        if torch.is_grad_enabled() and (z_hat.requires_grad or any(p.requires_grad for p in h_s.parameters())):
            approx = h_s(z_hat).float()
            return approx + (exact - approx).detach()
        return exact
