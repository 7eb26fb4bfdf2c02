"""The RD loss that benchmarks and the adoption rule compare models by."""

import math

import pytest

from licq.evaluation.metrics import rd_loss


def test_rd_loss_is_bpp_plus_weighted_mse() -> None:
    # 20 dB is an MSE of 0.01 on [0, 1] pixels.
    assert rd_loss([0.5], [20.0], 0.01) == pytest.approx(0.5 + 0.01 * 255 ** 2 * 0.01)


def test_rd_loss_averages_mse_not_psnr() -> None:
    # 10 dB and 30 dB: mean MSE 0.0505, not the 0.01 of their mean PSNR.
    got = rd_loss([0.2, 0.4], [10.0, 30.0], 1.0 / 255 ** 2)
    assert got == pytest.approx(0.3 + 0.0505)
    assert got > 0.3 + 10 ** (-2.0)


def test_rd_loss_lossless_image_costs_only_rate() -> None:
    assert rd_loss([1.0], [math.inf], 0.013) == 1.0


def test_rd_loss_refuses_unpaired_lists() -> None:
    with pytest.raises(ValueError):
        rd_loss([0.1, 0.2], [30.0], 0.01)
    with pytest.raises(ValueError):
        rd_loss([], [], 0.01)
