"""Training: each surrogate lowers the loss, resume after SIGKILL is exact, DDP keeps ranks identical."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from licq.training.train import TrainConfig, train

from .conftest import smooth_image

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def train_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("train")
    for i in range(4):
        Image.fromarray(smooth_image(96, 96, seed=10 + i)).save(d / f"img{i}.png")
    return d


def _cfg(train_dir, out, **kw) -> TrainConfig:
    base = dict(data=[str(train_dir)], out=str(out), N=8, M=12, steps=40, batch=4, crop=64, lr=2e-3,
                threads=1, checkpoint_every=10, log_every=1, downscale=None, lmbda=0.01, lr_drop=1.0)
    base.update(kw)
    return TrainConfig(**base)


def _losses(out: Path) -> list[float]:
    with open(out / "log.csv") as f:
        return [float(r["loss"]) for r in csv.DictReader(f)]


@pytest.mark.parametrize("surrogate", ["noise", "ste", "mixed"])
def test_each_surrogate_lowers_the_loss(train_dir, tmp_path, surrogate):
    train(_cfg(train_dir, tmp_path, surrogate=surrogate), progress=False)
    losses = _losses(tmp_path)
    assert len(losses) == 40
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.8 * first, (first, last)


def _state(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


@pytest.mark.slow
def test_resume_after_sigkill_is_exact(train_dir, tmp_path):
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    train(_cfg(train_dir, ref, steps=30), progress=False)
    code = ("import sys; from licq.training.train import TrainConfig, train; "
            f"train(TrainConfig(**{_cfg(train_dir, killed, steps=30).__dict__!r}), progress=False); "
            "import time; time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    try:
        deadline = time.time() + 240
        while time.time() < deadline and not (killed / "checkpoint.pt").exists():
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    saved = torch.load(killed / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert saved["step"] in (10, 20, 30)
    assert not [p for p in killed.iterdir() if p.name.endswith(".tmp")]
    train(_cfg(train_dir, killed, steps=30), resume=True, progress=False)
    a, b = _state(ref / "checkpoint.pt"), _state(killed / "checkpoint.pt")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_ddp_two_cpu_processes_end_identical(train_dir, tmp_path):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                        "--master_port", str(_free_port()), str(ROOT / "tests" / "ddp_worker.py"),
                        str(train_dir), str(tmp_path)], env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    w0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    w1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for k in w0:
        assert torch.equal(w0[k], w1[k]), k
    ck = torch.load(tmp_path / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert ck["step"] == 4 and ck["world_size"] == 2


def test_validation_on_held_out_folder_writes_val_csv(train_dir, tmp_path):
    val = tmp_path / "val"
    val.mkdir()
    Image.fromarray(smooth_image(130, 140, seed=99)).save(val / "v.png")
    train(_cfg(train_dir, tmp_path / "run", steps=6, val=[str(val)], val_every=3), progress=False)
    rows = (tmp_path / "run" / "val.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows] == ["3", "6"]
    bpp, psnr = float(rows[-1].split(",")[1]), float(rows[-1].split(",")[2])
    assert bpp > 0 and 0 < psnr < 100


def test_out_of_time_stops_with_a_checkpoint_and_resumes_exactly(train_dir, tmp_path):
    """``--max-minutes``: the first step past the limit is checkpointed; ``--resume`` ends where an
    uninterrupted run ends (same checkpoint keys, same weights)."""
    ref, cut = tmp_path / "ref", tmp_path / "cut"
    train(_cfg(train_dir, ref, steps=6, checkpoint_every=100), progress=False)
    train(_cfg(train_dir, cut, steps=6, checkpoint_every=100, max_seconds=1e-9), progress=False)
    ck = torch.load(cut / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert ck["step"] == 1 and ck["elapsed_s"] > 0
    assert set(ck) == {"model", "opt", "aux_opt", "sched", "step", "rng", "config", "world_size", "elapsed_s"}
    train(_cfg(train_dir, cut, steps=6, checkpoint_every=100), resume=True, progress=False)
    a, b = _state(ref / "checkpoint.pt"), _state(cut / "checkpoint.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_forgets_the_rows_an_interrupted_run_logged_past_its_checkpoint(train_dir, tmp_path):
    """A run killed between checkpoints has logged steps its resumed run trains again: each step is logged once."""
    run, val = tmp_path / "run", tmp_path / "val"
    val.mkdir()
    Image.fromarray(smooth_image(130, 140, seed=99)).save(val / "v.png")
    cfg = dict(val=[str(val)], val_every=2, log_every=1, checkpoint_every=2)
    train(_cfg(train_dir, run, steps=4, **cfg), progress=False)
    for name in ("log.csv", "val.csv"):  # what a run killed at step 5, after its step-4 checkpoint, leaves
        last = (run / name).read_text().splitlines()[-1].split(",", 1)[1]
        with open(run / name, "a") as f:
            f.write(f"5,{last}\n")
    train(_cfg(train_dir, run, steps=6, **cfg), resume=True, progress=False)
    steps = [r.split(",")[0] for r in (run / "log.csv").read_text().splitlines()]
    assert steps == ["step", "1", "2", "3", "4", "5", "6"]
    assert [r.split(",")[0] for r in (run / "val.csv").read_text().splitlines()] == ["2", "4", "6"]


def test_a_fresh_run_into_an_old_run_folder_keeps_neither_of_its_logs(train_dir, tmp_path):
    """Without --resume the run starts at step 0: the old run's rows leave log.csv and val.csv alike."""
    run, val = tmp_path / "run", tmp_path / "val"
    val.mkdir()
    Image.fromarray(smooth_image(130, 140, seed=99)).save(val / "v.png")
    cfg = dict(val=[str(val)], val_every=2, log_every=1)
    train(_cfg(train_dir, run, steps=4, **cfg), progress=False)
    train(_cfg(train_dir, run, steps=2, **cfg), progress=False)
    assert [r.split(",")[0] for r in (run / "log.csv").read_text().splitlines()] == ["step", "1", "2"]
    assert [r.split(",")[0] for r in (run / "val.csv").read_text().splitlines()] == ["2"]


def test_exclude_trains_exactly_as_without_the_held_out_images(train_dir, tmp_path):
    only = tmp_path / "only"
    only.mkdir()
    shutil.copy(train_dir / "img0.png", only / "img0.png")
    train(_cfg(train_dir, tmp_path / "held", steps=3, exclude=["img1.png", "img2.png", "img3.png"]), progress=False)
    train(_cfg(only, tmp_path / "ref", steps=3), progress=False)
    a, b = _state(tmp_path / "held" / "checkpoint.pt"), _state(tmp_path / "ref" / "checkpoint.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    train(_cfg(train_dir, tmp_path / "all", steps=3), progress=False)
    c = _state(tmp_path / "all" / "checkpoint.pt")
    assert not all(torch.equal(a[k], c[k]) for k in a)  # the held-out images would have changed the run


def _lrs(out: Path) -> list[float]:
    with open(out / "log.csv") as f:
        return [float(r["lr"]) for r in csv.DictReader(f)]


def test_resume_takes_the_commands_learning_rate(train_dir, tmp_path):
    """A resumed run uses its command's ``--lr`` (a long campaign can lower its rate), drop schedule
    included; resuming with the saved rate keeps it. (The log's lr is the rate after each row's step.)"""
    run = tmp_path / "run"
    train(_cfg(train_dir, run, steps=4, lr=2e-3, lr_drop=0.75), progress=False)
    assert _lrs(run) == [2e-3, 2e-3, 2e-4, 2e-4]
    train(_cfg(train_dir, run, steps=8, lr=2e-3, lr_drop=0.75), resume=True, progress=False)
    assert _lrs(run)[4:] == [2e-3, 2e-4, 2e-4, 2e-4]
    train(_cfg(train_dir, run, steps=12, lr=5e-4, lr_drop=1.0), resume=True, progress=False)
    assert _lrs(run)[8:] == [5e-4, 5e-4, 5e-4, 5e-5]
    ck = torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert ck["sched"]["base_lrs"] == [5e-4]


def test_fresh_parameters_learn_at_their_own_rate_and_resume_keeps_both(train_dir, tmp_path):
    """--fresh-lr gives a channel-vr model's new parameters (context, LRP, gains) their own rate; a resumed
    run keeps both; a checkpoint whose optimizer has other groups is refused with one line."""
    from licq.errors import LicqError
    from licq.models import build_model
    from licq.training.train import _main_groups

    run = tmp_path / "run"
    cfg = dict(arch="channel-vr", steps=2, lr=1e-4, fresh_lr=1e-3, lr_drop=1.0, crop=64, batch=2)
    train(_cfg(train_dir, run, **cfg), progress=False)
    ck = torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert ck["sched"]["base_lrs"] == [1e-4, 1e-3]
    model = build_model("channel-vr", 8, 12)
    slow, fresh = _main_groups(model, _cfg(train_dir, run, **cfg))
    name = {id(p): n.split(".")[0] for n, p in model.named_parameters()}
    assert {name[id(p)] for p in fresh["params"]} == {"context", "lrp", "gain", "inverse_gain"}
    assert "context" not in {name[id(p)] for p in slow["params"]} and fresh["lr"] == 1e-3
    assert len(ck["opt"]["param_groups"][1]["params"]) == len(fresh["params"])
    train(_cfg(train_dir, run, **{**cfg, "steps": 3}), resume=True, progress=False)
    ck = torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert ck["step"] == 3 and ck["sched"]["base_lrs"] == [1e-4, 1e-3]
    with pytest.raises(LicqError, match="other parameter groups"):
        train(_cfg(train_dir, run, **{**cfg, "steps": 4, "fresh_lr": None}), resume=True, progress=False)


def test_resumed_leg_keeps_the_warm_start_in_its_config(train_dir, tmp_path):
    """A leg resumed without --warm-start still records the run's warm start (export's training command)."""
    import json

    base = tmp_path / "base"
    train(_cfg(train_dir, base, steps=2), progress=False)
    run = tmp_path / "run"
    train(_cfg(train_dir, run, steps=2, warm_start=str(base / "checkpoint.pt")), progress=False)
    train(_cfg(train_dir, run, steps=4), resume=True, progress=False)
    saved = json.loads((run / "config.json").read_text())
    assert saved["warm_start"] == str(base / "checkpoint.pt")
    assert saved["steps"] == 4
    fresh = tmp_path / "fresh"  # a run begun without a warm start records none
    train(_cfg(train_dir, fresh, steps=2), progress=False)
    train(_cfg(train_dir, fresh, steps=4), resume=True, progress=False)
    assert json.loads((fresh / "config.json").read_text())["warm_start"] is None


def test_saturation_boost_matches_pil_and_leaves_grey_alone():
    from PIL import ImageEnhance

    from licq.training.data import saturate

    rgb = smooth_image(48, 40, seed=3)
    ref = np.asarray(ImageEnhance.Color(Image.fromarray(rgb)).enhance(2.0)).astype(np.float64)
    got = saturate(torch.from_numpy(rgb).permute(2, 0, 1).float() / 255, 2.0).permute(1, 2, 0).numpy() * 255
    assert np.abs(got - ref).max() <= 2.0  # PIL rounds its grey copy and result to 8 bits
    grey = torch.full((3, 8, 8), 0.4)
    assert torch.allclose(saturate(grey, 2.5), grey, atol=1e-6)


def test_saturation_zero_keeps_old_crops_and_one_boosts_every_crop(train_dir):
    from licq.training.data import CropDataset

    plain = CropDataset([train_dir], crop=64, length=8, downscale=None, seed=1)
    off = CropDataset([train_dir], crop=64, length=8, downscale=None, seed=1, saturation=0.0)
    on = CropDataset([train_dir], crop=64, length=8, downscale=None, seed=1, saturation=1.0)
    for i in range(8):
        assert torch.equal(plain[i], off[i])
        p, s = plain[i], on[i]
        assert s.std(0).mean() > p.std(0).mean()  # channels spread further apart: more colourful
    with pytest.raises(ValueError, match="saturation"):
        CropDataset([train_dir], crop=64, saturation=1.5)


def test_colour_waves_are_smooth_coloured_8bit_and_reproducible():
    import random

    from licq.training.data import colour_waves

    a, b = colour_waves(64, random.Random(5)), colour_waves(64, random.Random(5))
    assert torch.equal(a, b) and a.shape == (3, 64, 64)
    assert a.min() >= 0 and a.max() <= 1 and torch.equal((a * 255).round(), a * 255)
    assert not torch.equal(a, colour_waves(64, random.Random(6)))
    # large oscillations: the blurred crop spans far more than the noise; channels out of step
    smooth = torch.nn.functional.avg_pool2d(a[None], 8)[0] * 255
    assert all(smooth[c].max() - smooth[c].min() > 30 for c in range(3))
    assert (smooth - smooth.mean(0)).abs().mean() > 5


def test_waves_zero_keeps_old_crops_and_one_replaces_every_crop(train_dir):
    from licq.training.data import CropDataset

    plain = CropDataset([train_dir], crop=64, length=8, downscale=None, seed=1)
    off = CropDataset([train_dir], crop=64, length=8, downscale=None, seed=1, waves=0.0)
    on = CropDataset([train_dir], crop=64, length=8, downscale=None, seed=1, waves=1.0)
    for i in range(8):
        assert torch.equal(plain[i], off[i]) and not torch.equal(plain[i], on[i])
        assert torch.equal(on[i], on[i])  # the same index, the same crop
    with pytest.raises(ValueError, match="waves"):
        CropDataset([train_dir], crop=64, waves=-0.5)


def test_clip_or_drop_clips_finite_gradients_and_drops_infinite_ones():
    from licq.training.loop import clip_or_drop

    a, b = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(2))
    a.grad, b.grad = torch.full((3,), 4.0), torch.zeros(2)
    assert clip_or_drop([a, b], 1.0) and torch.allclose(a.grad.norm(), torch.tensor(1.0))
    a.grad, b.grad = torch.tensor([1.0, float("inf"), 0.0]), torch.zeros(2)
    assert not clip_or_drop([a, b], 1.0) and a.grad is None and b.grad is None


def test_a_non_finite_step_is_skipped_and_a_run_of_them_stops_training(train_dir, tmp_path, monkeypatch):
    import licq.training.loop as loop_mod
    import licq.training.train as train_mod

    real, calls, poisoned = train_mod.rd_loss, [0], set()

    def rd_loss(out, x, lmbda, balance=0.0):  # a NaN rate on the chosen calls, as a diverging batch would give
        calls[0] += 1
        loss, bpp, mse = real(out, x, lmbda, balance)
        nan = float("nan")
        return (loss * nan, bpp * nan, mse) if calls[0] in poisoned else (loss, bpp, mse)

    monkeypatch.setattr(train_mod, "rd_loss", rd_loss)
    poisoned.update({3, 4})
    model = train(_cfg(train_dir, tmp_path / "ok", steps=8, log_every=4), progress=False)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    rows = list(csv.DictReader(open(tmp_path / "ok" / "log.csv")))
    assert [r["step"] for r in rows] == ["4", "8"] and all(np.isfinite(float(r["loss"])) for r in rows)

    calls[0] = 0
    poisoned.update(range(1, 100))
    monkeypatch.setattr(loop_mod, "MAX_NONFINITE_STEPS", 3)
    with pytest.raises(loop_mod.TrainingDiverged, match="3 steps in a row up to step 3"):
        train(_cfg(train_dir, tmp_path / "bad", steps=8), progress=False)
