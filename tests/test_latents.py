"""One path from latents to bits: finetuning trains on exactly the latents the codec writes.

A zoo model on a 256x256 crop of kodim23 (a real photo, so the rate check means
something): the levels that quantization-aware finetuning computes must decode
from ``encode_full``'s file bit for bit, and the quantizer's own rate model
(:meth:`Quantizer.bits`, the rate finetuning trains on) must match the size of
the coded latent stream.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from licq import container
from licq.codec import encode_full, image_to_tensor
from licq.latents import decode_hyper, encoder_side
from licq.models import STRIDE
from licq.quantizers import make_quantizer
from licq.quantizers.defaults import quantizer_defaults
from licq.training.finetune import quantized_forward
from licq.models import resolve

ASSET = Path(__file__).resolve().parents[1] / "assets" / "kodim23.png"


@pytest.fixture(scope="module")
def crop() -> np.ndarray:
    with Image.open(ASSET) as im:
        return np.asarray(im.convert("RGB"))[128:384, 256:512].copy()


@pytest.mark.parametrize("quantizer", ["sq", "rdoq", "tcq", "sq-grid"])
def test_finetuning_latents_are_the_coded_ones_and_bits_match_the_stream(crop, quantizer):
    m = resolve()
    q = make_quantizer(quantizer, **quantizer_defaults(m.name, quantizer, None, None, None))
    data = encode_full(crop, quantizer=quantizer).data
    _, streams = container.unpack(data)
    side = (crop.shape[0] // STRIDE, crop.shape[1] // STRIDE)
    with torch.inference_mode():
        out = quantized_forward(m, q, image_to_tensor(crop), ("g_s",))
        means, scales = m.net.hyper(decode_hyper(m.net, [streams[0]], side))
        decoded = q.decode(streams[1], means, scales, m.entropy)
        bits = float(q.bits(out["levels"], out["qid"], scales, m.entropy).sum())
    assert torch.equal(out["y_hat"], decoded)
    coded = 8 * len(streams[1])
    assert abs(bits - coded) <= 0.01 * coded, (bits, coded)


def test_encoder_side_hyper_latent_is_compressai_rounding(crop):
    """ẑ through the coder equals CompressAI's own rounding around the medians (the training path)."""
    net = resolve().net
    with torch.inference_mode():
        s = encoder_side(net, image_to_tensor(crop))
        eb = net.entropy_bottleneck
        z = net.h_a(s.y)
        assert torch.equal(s.z_hat, eb.quantize(z, "dequantize", eb._get_medians()))
