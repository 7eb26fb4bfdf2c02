"""The encoder side of the hyperprior, shared by the codec and quantization-aware finetuning.

Finetuning trains the decoder on the latents the codec really writes, so both
must compute them with the same functions on the same tensors: the analysis
transform, the hyper-analysis, the hyper-latent entropy-coded and decoded as the
decoder will see it, and the hyper-decoder's (μ, σ). Anything computed twice in
two places would drift apart; here it is computed once (tests check that the
levels finetuning trains on are the ones ``encode_full`` writes, bit for bit).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from .errors import LicqError


@dataclass(frozen=True)
class EncoderSide:
    """What the encoder knows before quantizing ``y``; ``z_hat``, μ and σ are the decoder's own."""

    y: Tensor  #: latents
    z_strings: list[bytes]  #: the entropy-coded hyper-latent, one string per batch item
    z_hat: Tensor  #: the hyper-latent as decoded from ``z_strings``
    means: Tensor  #: μ of each latent
    scales: Tensor  #: σ of each latent


def decode_hyper(net: nn.Module, strings: list[bytes], shape: tuple[int, int]) -> Tensor:
    """The hyper-latent ``ẑ`` decoded from its strings: the one rounding rule of ``z``, encoder and decoder.

    CompressAI's entropy bottleneck rounds ``z`` around its medians in ``compress``
    and adds them back in ``decompress``; going through the coder (cheap: ``z`` is
    64x smaller than the image) makes the encoder see exactly what the decoder sees.
    """
    try:
        return net.entropy_bottleneck.decompress(strings, shape)
    except Exception as exc:  # noqa: BLE001 - coder errors mean a corrupt stream
        raise LicqError(f"entropy decoding of the hyper-latent failed: {exc}") from None


def encoder_side(net: nn.Module, x: Tensor, gain: Tensor | None = None) -> EncoderSide:
    """Image batch (N, 3, H, W) in [0, 1], H and W multiples of 64, to y, coded ẑ, μ and σ.

    Gradients flow only where the caller enables them and the parameters require
    them (finetuning h_s): the coded ``ẑ`` itself is never differentiable. A variable-rate
    model's latents are multiplied by the ``gain`` of their quality first.
    """
    y = net.analysis(x)
    if gain is not None:
        y = y * gain
    del x  # big images: the float image is no longer needed
    return side_of_latents(net, y, net.h_a(y))


def side_of_latents(net: nn.Module, y: Tensor, z: Tensor) -> EncoderSide:
    """:class:`EncoderSide` of given latents ``y`` and hyper-latents ``z``: ``z`` coded and decoded, then μ, σ.

    :func:`encoder_side` passes ``z = h_a(y)``; the encoder's latent refinement
    (:mod:`licq.refine`) passes the ``y`` and ``z`` it searched for.
    """
    strings = net.entropy_bottleneck.compress(z)
    z_hat = decode_hyper(net, strings, tuple(z.shape[-2:]))
    means, scales = net.hyper(z_hat)
    return EncoderSide(y, strings, z_hat, means, scales)
