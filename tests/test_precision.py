"""Mixed precision: transforms in bf16, everything that touches probabilities in fp32."""

from __future__ import annotations

import pytest
import torch

from licq.models import build_model
from licq.training.precision import prepare_for_training, resolve_precision
from licq.training.surrogates import rd_terms, surrogate_forward
from licq.training.train import train

from .test_training import _cfg, _losses, train_dir  # noqa: F401  (fixture)


def _model():
    torch.manual_seed(0)
    return build_model("mbt2018-mean", 16, 24).train()


@pytest.mark.parametrize("surrogate", ["noise", "ste", "mixed"])
def test_bf16_outputs_are_fp32_and_close_to_fp32(surrogate):
    x = torch.rand(2, 3, 64, 64)
    m32, m16 = _model(), _model()
    prepare_for_training(m16, torch.device("cpu"), "bf16")
    torch.manual_seed(1)
    ref = surrogate_forward(m32, x, surrogate, "fp32")
    torch.manual_seed(1)
    out = surrogate_forward(m16, x, surrogate, "bf16")
    for k in ("x_hat", "y_lik", "z_lik"):
        assert out[k].dtype == torch.float32, k
    (b32, d32), (b16, d16) = rd_terms(ref, x), rd_terms(out, x)
    assert abs(b16.item() - b32.item()) < 0.05 * b32.item()
    assert abs(d16.item() - d32.item()) < 0.02 * d32.item()


def test_bf16_gradients_reach_every_transform_in_fp32():
    m = _model()
    prepare_for_training(m, torch.device("cpu"), "bf16")
    x = torch.rand(2, 3, 64, 64)
    bpp, mse = rd_terms(surrogate_forward(m, x, "mixed", "bf16"), x)
    (bpp + 100 * mse).backward()
    for name in ("g_a", "h_a", "h_s", "g_s"):
        grads = [p.grad for p in getattr(m, name).parameters()]
        assert all(g is not None and g.dtype == torch.float32 and torch.isfinite(g).all() for g in grads), name
        assert any(g.abs().sum() > 0 for g in grads), name
    assert all(p.dtype == torch.float32 for p in m.parameters())


def test_precision_names():
    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu) == "fp32"
    assert resolve_precision("bf16", cpu) == "bf16"
    assert resolve_precision("auto", cpu) in ("fp32", "bf16")
    with pytest.raises(ValueError, match="precision"):
        resolve_precision("fp16", cpu)


def test_training_in_each_precision_lowers_the_loss_and_snapshots(train_dir, tmp_path):  # noqa: F811
    for precision in ("fp32", "bf16"):
        out = tmp_path / precision
        train(_cfg(train_dir, out, steps=20, precision=precision, snapshot_every=10), progress=False)
        snaps = sorted((out / "snapshots").iterdir())
        assert [p.name for p in snaps] == ["step-0000010.pt", "step-0000020.pt"]
        state = torch.load(snaps[-1], weights_only=True)
        assert state["g_s.0.weight"].dtype == torch.float16
        losses = _losses(out)
        assert sum(losses[-5:]) < 0.9 * sum(losses[:5]), (precision, losses)
