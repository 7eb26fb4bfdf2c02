"""Encoder-side latent refinement (--effort): any decoder reads its files, plain encoding is untouched."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import licq
from licq.codec import image_to_tensor, refine_settings
from licq.errors import LicqError
from licq.models import resolve
from licq.quantizers import make_quantizer
from licq.quantizers.defaults import quantizer_defaults
from licq.refine import EFFORT_ITERATIONS, EFFORTS, _distortion_grad, sga_round

from .conftest import smooth_image


def test_sga_round_stays_between_neighbours_and_hardens():
    torch.manual_seed(0)
    t = torch.randn(10_000) * 3
    soft = sga_round(t, 0.5)
    assert torch.all(soft >= torch.floor(t)) and torch.all(soft <= torch.floor(t) + 1)
    assert not torch.equal(soft, torch.round(soft))  # relaxed: not integers yet
    hard = sga_round(t, 1e-3)
    clear = (t - torch.floor(t) - 0.5).abs() > 0.01  # not a near tie, which stays a coin toss
    assert (hard - torch.round(t))[clear].abs().max() < 1e-3  # annealed onto the nearest integer


def test_distortion_gradient_is_the_same_in_tiles(tiny_model):
    m = resolve(tiny_model, arch="mbt2018-mean")
    x = image_to_tensor(smooth_image(120, 190))
    torch.manual_seed(1)
    y = m.net.analysis(x).detach() + 0.3 * torch.randn(1, 12, 8, 12)
    whole_err, whole = _distortion_grad(m.net, y, x, 120, 190)
    m.net.tile_pixels = 64  # 4x4 latents per tile, halo 4 latents: many tiles
    try:
        tiled_err, tiled = _distortion_grad(m.net, y, x, 120, 190)
    finally:
        m.net.tile_pixels = type(m.net).tile_pixels
    assert tiled_err == pytest.approx(whole_err, rel=1e-5)
    torch.testing.assert_close(tiled, whole, rtol=1e-4, atol=1e-6 * whole.abs().max().item())
    x[..., 120:, :] = 0  # the padding rows (120 -> 128) are not part of the image: no effect
    torch.testing.assert_close(_distortion_grad(m.net, y, x, 120, 190)[1], whole)


def _rd_objective(img: np.ndarray, quantizer: str, effort: int) -> float:
    """The objective refinement minimises, bpp + λ·255²·MSE on this image's real file and decoded
    pixels: licq-q3's training λ, over Δ² for TCQ at the zoo's step for licq-q3 (the manifest's)."""
    r = licq.encode_full(img, "licq-q3", quantizer=quantizer, effort=effort)
    mse = np.mean((np.asarray(r.reconstruction, dtype=np.float64) - img) ** 2) / 255 ** 2
    step = quantizer_defaults("licq-q3", quantizer, None, None, None)["step"]
    return r.bpp + licq.zoo.model_lambda("licq-q3") / step ** 2 * 255 ** 2 * mse


def test_refinement_lowers_the_real_objective():
    """Real file size and decoded image: effort 2 finds latents of lower rate + λ·distortion than g_a.

    (A random tiny model codes everything as level 0 whatever the latents; the zoo model is real.)
    """
    img = smooth_image(96, 128, seed=3)
    losses = [_rd_objective(img, "sq", effort) for effort in (0, 2)]
    assert losses[1] < 0.99 * losses[0]
    m = resolve("licq-q3")
    assert all(p.grad is None for p in m.net.parameters())  # the model's own parameters are never trained


@pytest.mark.parametrize("quantizer", ["sq", "tcq"])
def test_refinement_lowers_the_real_objective_of_each_quantizer(quantizer):
    """With TCQ (its finetuned decoder, zoo Δ and λ) too: effort 1 codes this image at lower rate + λ·distortion."""
    img = smooth_image(96, 128, seed=5)
    assert _rd_objective(img, quantizer, 1) < _rd_objective(img, quantizer, 0)


def test_tcq_refines_on_the_union_grid():
    """TCQ anneals onto Δ·k around μ (Q0 ∪ Q1), the levels its trellis and its decoders know; SQ on its Δ."""
    m = resolve("licq-q3")
    s = refine_settings(m, make_quantizer("tcq", step=0.5, states=8, tcq_lambda=0.01), 1, None)
    assert (s.step, s.fixed_grid) == (0.5, False)
    assert refine_settings(m, make_quantizer("sq", step=0.75), 1, None).step == 0.75


def test_refinement_lambda_follows_the_step():
    """λ is the training λ at the model's own Δ = 1 (SQ, RDOQ, sq-grid: unchanged) and λ/Δ² on a finer grid."""
    m = resolve("licq-q3")
    lam = licq.zoo.model_lambda("licq-q3")
    assert refine_settings(m, make_quantizer("sq"), 1, None).lmbda == lam
    assert refine_settings(m, make_quantizer("sq-grid"), 2, None).lmbda == lam
    assert refine_settings(m, make_quantizer("tcq", step=0.5, states=8, tcq_lambda=0.01), 1, None).lmbda == pytest.approx(4 * lam)
    assert refine_settings(m, make_quantizer("sq", step=0.5), 1, 0.001).lmbda == pytest.approx(0.004)


@pytest.mark.parametrize("quantizer", ["sq", "tcq", "rdoq", "sq-grid"])
def test_refined_files_decode_exactly_with_any_decoder(quantizer):
    img = smooth_image(72, 100)
    plain = licq.encode_full(img, "licq-q3", quantizer=quantizer)
    r = licq.encode_full(img, "licq-q3", quantizer=quantizer, effort=1)
    assert r.data != plain.data  # the refinement changed the latents ...
    out = licq.decode(r.data)  # ... and the plain decoder reads them, bit-exact with the encoder
    assert np.array_equal(np.asarray(out), np.asarray(r.reconstruction))


def test_effort_zero_is_plain_encoding(tiny_model, image):
    plain = licq.encode(image, tiny_model, arch="mbt2018-mean")
    assert licq.encode(image, tiny_model, arch="mbt2018-mean", effort=0) == plain


def test_progress_is_reported_per_iteration(tiny_model, image):
    ticks = []
    licq.encode_full(image, tiny_model, arch="mbt2018-mean", effort=1, refine_lambda=0.01,
                     progress=ticks.append)
    assert len(ticks) == EFFORT_ITERATIONS[1] and set(ticks) == {1}


def test_user_model_needs_a_lambda_and_effort_is_checked(tiny_model, image):
    with pytest.raises(LicqError, match="refine-lambda"):
        licq.encode(image, tiny_model, arch="mbt2018-mean", effort=1)
    with pytest.raises(LicqError, match="effort"):
        licq.encode(image, tiny_model, arch="mbt2018-mean", effort=4, refine_lambda=0.01)


def test_cli_effort_choices_match_the_library():
    from licq.cli import EFFORTS as CLI_EFFORTS

    assert CLI_EFFORTS == EFFORTS



def test_refined_encoding_is_deterministic(tiny_model, image):
    """SGA draws from its own seeded generator: the same image gives the same file, whatever the global RNG."""
    a = licq.encode(image, tiny_model, arch="mbt2018-mean", effort=1, refine_lambda=0.01)
    torch.manual_seed(123)
    assert licq.encode(image, tiny_model, arch="mbt2018-mean", effort=1, refine_lambda=0.01) == a
