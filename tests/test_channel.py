"""The channel-conditional, variable-rate model (``--arch channel-vr``): exact round trips for every
quantizer, the quality knob, the warm start and the format-4 header."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import licq
from licq import container
from licq.codec import decode_latents
from licq.errors import LicqError
from licq.fixed_point import FRACTION_BITS
from licq.models import build_model
from licq.models.channel import QUALITY_LAMBDAS, checked_quality, group_sizes, quality_lambda
from licq.models.io import load_params, state_dict_from_file
from licq.training.surrogates import rd_terms, surrogate_forward

from .conftest import smooth_image

ARCH = "channel-vr"


def test_group_sizes():
    assert group_sizes(192) == (16, 16, 32, 64, 64)
    assert group_sizes(320) == (16, 16, 32, 64, 192)
    assert group_sizes(12) == (1, 1, 2, 4, 4)
    with pytest.raises(LicqError):
        group_sizes(8)


@pytest.mark.parametrize("quantizer,states", [("sq", None), ("rdoq", None), ("sq-grid", None),
                                              ("tcq", 4), ("tcq", 8)])
def test_exact_roundtrip_every_quantizer(vr_model, quantizer, states):
    arr = smooth_image(50, 70, seed=1)
    res = licq.encode_full(arr, vr_model, arch=ARCH, quality=4.37, quantizer=quantizer, states=states)
    header, _ = container.unpack(res.data)
    assert header.version == container.VARIABLE_RATE_VERSION and header.quality == 4.37
    assert len(header.lengths) == 1 + len(group_sizes(12))
    out = licq.decode(res.data, vr_model)
    assert np.array_equal(np.asarray(out), np.asarray(res.reconstruction))


def test_quality_moves_the_rate(vr_model):
    arr = smooth_image(64, 64, seed=2)
    sizes = [sum(container.unpack(licq.encode(arr, vr_model, arch=ARCH, quality=q))[0].lengths[1:])
             for q in (1, 4, 7)]
    assert sizes[0] < sizes[1] < sizes[2]


def test_quality_checks(vr_model, tiny_model):
    assert checked_quality(2.3456) == 2.35
    for bad in (0.5, 7.01, float("nan"), True):
        with pytest.raises(LicqError, match="quality"):
            checked_quality(bad)
    with pytest.raises(LicqError, match="not both"):
        licq.encode(smooth_image(32, 32), tiny_model, quality=2)


def test_quality_lambda_interpolates_the_anchors():
    q = torch.tensor([1.0, 3.0, 7.0, 2.5])
    lam = quality_lambda(q)
    assert torch.allclose(lam[:3], torch.tensor([QUALITY_LAMBDAS[0], QUALITY_LAMBDAS[2], QUALITY_LAMBDAS[6]]))
    assert abs(lam[3].item() - (QUALITY_LAMBDAS[1] * QUALITY_LAMBDAS[2]) ** 0.5) < 1e-7


def test_quality_balance_weighs_each_crop_by_its_lambda():
    from licq.models.channel import quality_weight
    from licq.training.surrogates import variable_rate_loss

    lam = quality_lambda(torch.tensor([1.0, 3.0, 7.0]))
    assert torch.equal(quality_weight(lam, 0.0), torch.ones(3))
    w = quality_weight(lam, 0.5)
    assert abs(w[1].item() - 1) < 1e-6 and w[0] > 1 > w[2]
    assert abs(w[0].item() - (QUALITY_LAMBDAS[2] / QUALITY_LAMBDAS[0]) ** 0.5) < 1e-5
    bpps, mses = torch.tensor([0.2, 0.4, 1.0]), torch.tensor([1e-3, 5e-4, 2e-4])
    each = bpps + lam * 255 ** 2 * mses
    assert torch.allclose(variable_rate_loss(bpps, mses, lam), each.mean())
    assert torch.allclose(variable_rate_loss(bpps, mses, lam, 0.5), (w * each).mean())


def test_context_parameters_are_exact_fixed_point(vr_model):
    net = licq.models.load_file(vr_model, ARCH).net
    means = torch.round(torch.randn(1, 12, 4, 5) * 4096 * 3) / 4096
    scales = torch.round(torch.rand(1, 12, 4, 5) * 4096 * 5) / 4096
    previous = [torch.round(torch.randn(1, 2, 4, 5) * 3)]
    results = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        with torch.inference_mode():
            results.append(net.group_parameters(2, means, scales, previous))
    for a, b in zip(*results):
        assert torch.equal(a, b)
        assert torch.equal(a * 2 ** FRACTION_BITS, torch.round(a * 2 ** FRACTION_BITS))


@pytest.mark.parametrize("reference", [None, 4])
def test_warm_start_reproduces_the_mean_scale_model(reference):
    torch.manual_seed(5)
    base = build_model("mbt2018-mean", 8, 12).eval()
    vr = build_model(ARCH, 8, 12).eval()
    load_params(vr, base.state_dict(), fresh=vr.fresh_parameters)
    if reference:
        vr.start_gains(reference)
    x = torch.from_numpy(smooth_image(64, 64, seed=4)).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        expected = rd_terms(surrogate_forward(base, x, "ste"), x)
        got = rd_terms(surrogate_forward(vr, x, "ste", quality=torch.tensor([float(reference or 3)])), x)
    assert torch.equal(expected[0], got[0]) and torch.allclose(expected[1], got[1], rtol=1e-6)


@pytest.mark.parametrize("source,anchor", [("zoo", 4), ("other", 3)])
def test_warm_start_gains_are_one_at_the_sources_quality(tmp_path, source, anchor):
    from licq.training.config import TrainConfig
    from licq.training.train import _build
    from licq.zoo import ZOO_DIR

    warm = ZOO_DIR / "licq-q4.pt"
    if source == "other":  # the same weights, one changed: not a zoo model
        state = state_dict_from_file(warm)
        state["g_s.0.bias"] = state["g_s.0.bias"] + 1e-3
        warm = tmp_path / "other.pt"
        torch.save(state, warm)
    cfg = TrainConfig(data=["-"], out=str(tmp_path), arch=ARCH, N=128, M=192, warm_start=str(warm), precision="fp32")
    model, _ = _build(cfg, torch.device("cpu"), warm_start=True)
    expected = [0.5 * math.log(lam / QUALITY_LAMBDAS[anchor - 1]) for lam in QUALITY_LAMBDAS]
    assert torch.allclose(model.gain, torch.tensor(expected)[:, None].expand_as(model.gain))
    assert torch.equal(model.inverse_gain, -model.gain)


def test_training_step_reaches_every_new_parameter():
    torch.manual_seed(6)
    vr = build_model(ARCH, 8, 12).train()
    x = torch.rand(2, 3, 64, 64)
    out = surrogate_forward(vr, x, "mixed")
    assert out["lmbda"].shape == (2,)
    bits = -torch.log2(out["y_lik"]).sum() - torch.log2(out["z_lik"]).sum()
    (bits + 100 * torch.mean((out["x_hat"] - x) ** 2)).backward()
    for name in ("gain", "inverse_gain", "context.4.4.weight", "lrp.0.2.weight"):
        assert vr.get_parameter(name).grad.abs().sum() > 0, name


def test_mean_scale_files_stay_format_3(tiny_model, image):
    header, _ = container.unpack(licq.encode(image, tiny_model))
    assert header.version == container.VERSION and header.quality is None


def test_header_and_model_must_agree(vr_model, tiny_model, image):
    data = licq.encode(image, vr_model, arch=ARCH, quality=2)
    d = decode_latents(data, vr_model)
    assert d.header.quality == 2.0 and d.y_hat.shape[1] == 12
    with pytest.raises(LicqError, match="mismatch|variable-rate"):
        licq.decode(data, tiny_model, arch="mbt2018-mean")


def test_command_line_quality_knob(vr_model, tmp_path, capsys):
    from PIL import Image

    from licq.cli import main

    src, enc, dec = tmp_path / "a.png", tmp_path / "a.licq", tmp_path / "b.png"
    Image.fromarray(smooth_image(40, 56)).save(src)
    assert main(["encode", str(src), "-o", str(enc), "--model", vr_model, "--arch", ARCH, "--quality", "5.25"]) == 0
    capsys.readouterr()
    assert main(["info", str(enc), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["quality"] == 5.25 and info["format_version"] == 4
    assert main(["decode", str(enc), "-o", str(dec), "--model", vr_model]) == 0
    assert main(["encode", str(src), "-o", str(enc), "--model", vr_model, "--arch", ARCH, "--quality", "7.5"]) == 2
    assert "[1, 7]" in capsys.readouterr().err


def test_target_max_bytes_is_the_highest_quality_that_fits(vr_model):
    from licq.rate_control import Target, encode_to_target

    arr = smooth_image(64, 64, seed=7)
    low = len(licq.encode(arr, vr_model, arch=ARCH, quality=1))
    high = len(licq.encode(arr, vr_model, arch=ARCH, quality=7))
    bound = (low + high) // 2
    found = encode_to_target(arr, Target(max_bytes=bound), vr_model, arch=ARCH)
    assert len(found.result.data) <= bound < len(licq.encode(arr, vr_model, arch=ARCH, quality=found.quality + 0.01))
    assert found.probes <= 12
    with pytest.raises(LicqError, match="cannot fit"):
        encode_to_target(arr, Target(max_bytes=low - 1), vr_model, arch=ARCH)


def test_target_psnr_is_the_lowest_quality_that_reaches_it(vr_model):
    from licq.evaluation.metrics import psnr_images
    from licq.rate_control import Target, encode_to_target

    arr = smooth_image(64, 64, seed=8)
    ends = [psnr_images(arr, licq.encode_full(arr, vr_model, arch=ARCH, quality=q).reconstruction) for q in (1, 7)]
    goal = sum(ends) / 2
    found = encode_to_target(arr, Target(psnr=goal), vr_model, arch=ARCH)
    below = licq.encode_full(arr, vr_model, arch=ARCH, quality=found.quality - 0.01).reconstruction
    assert found.psnr >= goal > psnr_images(arr, below)


def test_target_needs_one_value_and_a_model_with_a_knob(tiny_model):
    from licq.rate_control import Target, encode_to_target

    for bad in ({}, {"bpp": 0.5, "psnr": 30}, {"bpp": -1}):
        with pytest.raises(LicqError):
            Target(**bad)
    with pytest.raises(LicqError, match="one rate"):
        encode_to_target(smooth_image(32, 32), Target(bpp=0.5), tiny_model)


def test_target_bpp_lands_within_tolerance(vr_model):
    from licq.rate_control import BPP_TOLERANCE, Target, encode_to_target

    arr = smooth_image(96, 128, seed=9)
    ends = [licq.encode_full(arr, vr_model, arch=ARCH, quality=q).bpp for q in (1, 7)]
    goal = (ends[0] * ends[1]) ** 0.5
    found = encode_to_target(arr, Target(bpp=goal), vr_model, arch=ARCH)
    assert abs(found.result.bpp - goal) <= BPP_TOLERANCE * goal


def test_command_line_targets(vr_model, tmp_path, capsys):
    from PIL import Image

    from licq.cli import main

    src, enc = tmp_path / "a.png", tmp_path / "a.licq"
    Image.fromarray(smooth_image(48, 64)).save(src)
    assert main(["encode", str(src), "-o", str(enc), "--model", vr_model, "--arch", ARCH, "--max-bytes", "400"]) == 0
    printed = capsys.readouterr()
    assert enc.stat().st_size <= 400 and "quality" in printed.out + printed.err
    assert main(["encode", str(src), "-o", str(enc), "--model", vr_model, "--arch", ARCH, "--max-bytes", "400",
                 "--quality", "2"]) == 2
    assert "one target" in capsys.readouterr().err


@pytest.mark.parametrize("train,quantizer,states", [("dec", "sq", None), ("dec+hyperdec", "tcq", 8)])
def test_finetuning_trains_only_the_decoder_side(vr_model, tmp_path, train, quantizer, states):
    from PIL import Image

    from licq.models import state_dict_from_file
    from licq.training.finetune import FinetuneConfig, finetune, modes_of

    data = tmp_path / "data"
    data.mkdir()
    for i in range(2):
        Image.fromarray(smooth_image(72, 72, seed=30 + i)).save(data / f"{i}.png")
    cfg = FinetuneConfig(base=vr_model, arch=ARCH, data=[str(data)], out=str(tmp_path / "ft"), steps=3, batch=2,
                         crop=64, threads=1, downscale=None, log_every=1, lr=1e-3, train=train,
                         quantizer=quantizer, states=states)
    decoder = state_dict_from_file(finetune(cfg, progress=False))
    base = state_dict_from_file(vr_model)
    modes = modes_of(build_model(ARCH, 8, 12), train)
    assert {k.split(".")[0] for k in decoder} == set(modes)
    changed = {k.split(".")[0] for k in decoder if not torch.equal(decoder[k], base[k])}
    assert {"g_s", "lrp", "inverse_gain"} <= changed
    assert ("context" in changed) == (train == "dec+hyperdec")


def test_finetuning_weighs_the_qualities_as_asked(vr_model, tmp_path, monkeypatch):
    from PIL import Image

    import licq.training.finetune as ft

    data = tmp_path / "data"
    data.mkdir()
    Image.fromarray(smooth_image(72, 72, seed=33)).save(data / "0.png")
    seen, loss = [], ft.variable_rate_loss

    def spy(bpps, mses, lmbdas, balance=0.0):
        seen.append(balance)
        return loss(bpps, mses, lmbdas, balance)

    monkeypatch.setattr(ft, "variable_rate_loss", spy)
    cfg = ft.FinetuneConfig(base=vr_model, arch=ARCH, data=[str(data)], out=str(tmp_path / "ft"), steps=2, batch=2,
                            crop=64, threads=1, downscale=None, log_every=1, quality_balance=0.45)
    ft.finetune(cfg, progress=False)
    assert seen == [0.45, 0.45]
    assert json.loads((tmp_path / "ft" / "config.json").read_text())["config"]["quality_balance"] == 0.45


def test_finetuning_keeps_to_the_qualities_asked(vr_model, tmp_path, monkeypatch):
    """``--qualities LO HI`` draws every crop's quality from that part of the range (a stage for the low
    qualities, say); a range outside the model's, a reversed one, or a model with one λ is refused."""
    from PIL import Image

    import licq.models.channel as channel
    import licq.training.finetune as ft
    from licq.errors import LicqError

    data = tmp_path / "data"
    data.mkdir()
    Image.fromarray(smooth_image(72, 72, seed=34)).save(data / "0.png")
    drawn, draw = [], channel.draw_qualities

    def spy(n, bounds=None):
        q = draw(n, bounds)
        drawn.append(q)
        return q

    monkeypatch.setattr(channel, "draw_qualities", spy)
    cfg = ft.FinetuneConfig(base=vr_model, arch=ARCH, data=[str(data)], out=str(tmp_path / "ft"), steps=3, batch=4,
                            crop=64, threads=1, downscale=None, log_every=1, qualities=(1.0, 1.5))
    ft.finetune(cfg, progress=False)
    q = torch.cat(drawn)
    assert len(q) == 12 and q.min() >= 1.0 and q.max() <= 1.5
    assert json.loads((tmp_path / "ft" / "config.json").read_text())["config"]["qualities"] == [1.0, 1.5]
    for bad in [(0.5, 2.0), (3.0, 2.0), (6.0, 7.5)]:
        with pytest.raises(LicqError, match="--qualities"):
            ft.finetune(ft.FinetuneConfig(**{**cfg.__dict__, "qualities": bad, "out": str(tmp_path / "x")}),
                        progress=False)


def test_second_generation_re_encodes_each_crop_at_its_quality(vr_model):
    from licq.training.finetune import later_generations_mse, second_generation

    net = licq.models.load_file(vr_model, ARCH).net.eval()
    x = torch.stack([torch.from_numpy(smooth_image(64, 64, seed=s)).permute(2, 0, 1).float() / 255 for s in (4, 5)])
    quality = torch.tensor([1.5, 6.5])
    with torch.no_grad():
        x2 = second_generation(net, x, quality=quality)
        alone = [second_generation(net, x[i:i + 1], quality=quality[i:i + 1]) for i in range(2)]
        low = surrogate_forward(net, x[:1], "ste", quality=torch.tensor([1.5]))["x_hat"]
        other = second_generation(net, x[1:], quality=torch.tensor([1.5]))  # the second crop at the first's quality
        mse2 = later_generations_mse(net, x, x, 1, quality=quality)
    assert torch.allclose(x2[:1], alone[0], atol=1e-5) and torch.allclose(x2[1:], alone[1], atol=1e-5)
    assert torch.allclose(alone[0], low, atol=1e-5) and not torch.allclose(alone[1], other, atol=1e-3)
    assert mse2.shape == (2,) and torch.allclose(mse2, ((x2 - x) ** 2).flatten(1).mean(1))


def test_idempotence_finetuning_of_a_variable_rate_model(vr_model, tmp_path):
    from PIL import Image

    import licq.training.finetune as ft

    data = tmp_path / "data"
    data.mkdir()
    Image.fromarray(smooth_image(72, 72, seed=34)).save(data / "0.png")

    def run(name, **kw):
        cfg = ft.FinetuneConfig(base=vr_model, arch=ARCH, data=[str(data)], out=str(tmp_path / name), steps=2,
                                batch=2, crop=64, threads=1, downscale=None, log_every=1, seed=5, **kw)
        return torch.load(ft.finetune(cfg, progress=False), weights_only=True)

    plain, idem = run("plain"), run("idem", idempotence=2.0, idempotence_generations=2)
    assert any(not torch.equal(plain[k], idem[k]) for k in plain)  # the term moved the decoder
    assert "psnr2" in (tmp_path / "idem" / "log.csv").read_text().splitlines()[0]
    with pytest.raises(LicqError, match="not with --quantizer sq-grid"):
        run("grid", idempotence=1.0, quantizer="sq-grid")


def test_format_4_header_round_trip_and_checks():
    h = container.Header("@channel-vr", bytes(8), 0, 0, 1.0, 0.0, 32, 48, quality=6.05)
    data = container.pack(h, [b"z", b"a", b"b"])
    back, streams = container.unpack(data)
    assert back.quality == 6.05 and back.version == 4 and streams == [b"z", b"a", b"b"]
    assert container.unpack(container.pack(container.Header("x", bytes(8), 0, 0, 1.0, 0.0, 8, 8), [b"z"]))[0].quality is None
    zero = bytearray(container.pack(container.Header("@channel-vr", bytes(8), 0, 0, 1.0, 0.0, 32, 48, quality=1.0),
                                    [b"z"]))
    at = data.index(b"@channel-vr") + len("@channel-vr") + 8 + 1 + 1 + 4 + 4 + 4 + 4 + 1
    zero[at:at + 2] = b"\0\0"
    with pytest.raises(LicqError, match="quality 0|CRC"):
        container.unpack(bytes(zero))
    for cut in range(5, len(data) - 1, 7):
        with pytest.raises(LicqError):
            container.unpack(data[:cut])


def test_corrupt_group_stream_is_an_error_not_an_image(vr_model):
    arr = smooth_image(64, 64, seed=11)
    data = bytearray(licq.encode(arr, vr_model, arch=ARCH, quality=5))
    header, _ = container.unpack(bytes(data))
    with pytest.raises(LicqError):  # one sub-stream too few: the header says so
        licq.decode(container.pack(header, container.unpack(bytes(data))[1][:-1]), vr_model)


def test_an_unreachable_target_warns(vr_model):
    from licq.imageio import LicqWarning
    from licq.rate_control import Target, encode_to_target

    with pytest.warns(LicqWarning, match="not reached"):
        found = encode_to_target(smooth_image(32, 32), Target(psnr=98), vr_model, arch=ARCH)
    assert found.quality == 7


def test_effort_refines_through_the_group_loop(vr_model):
    arr = smooth_image(48, 64, seed=12)
    plain = licq.encode_full(arr, vr_model, arch=ARCH, quality=5)
    refined = licq.encode_full(arr, vr_model, arch=ARCH, quality=5, effort=1)
    assert refined.data != plain.data
    out = licq.decode(refined.data, vr_model)
    assert np.array_equal(np.asarray(out), np.asarray(refined.reconstruction))


@pytest.mark.parametrize("scan", ["rows", "raster"])
def test_tcq_trellises_never_cross_a_channel_so_groups_change_nothing(vr_model, scan):
    """Whether the trellis should restart per channel group or run on is moot: every trellis lies in
    one channel (a latent row, or with the raster scan a channel plane), so coding the groups one by
    one chooses exactly the levels that coding the whole tensor chooses."""
    from licq.quantizers import make_quantizer

    torch.manual_seed(13)
    em = licq.models.load_file(vr_model, ARCH).entropy
    q = make_quantizer("tcq", step=0.5, states=8, tcq_lambda=0.05, scan=scan)
    y, means = torch.randn(1, 12, 5, 7) * 3, torch.randn(1, 12, 5, 7)
    scales = torch.rand(1, 12, 5, 7) * 3 + 0.2
    whole = q.levels(y, means, scales, em)
    cuts = [0, 1, 2, 4, 8, 12]
    parts = [q.levels(y[:, a:b], means[:, a:b], scales[:, a:b], em) for a, b in zip(cuts, cuts[1:])]
    for i in range(2):
        assert torch.equal(whole[i], torch.cat([p[i] for p in parts], 1))


def test_eval_samples_the_quality_range(vr_model, tmp_path, capsys):
    from PIL import Image

    from licq.cli import main

    d = tmp_path / "imgs"
    d.mkdir()
    Image.fromarray(smooth_image(40, 48)).save(d / "a.png")
    out = tmp_path / "r.json"
    assert main(["eval", str(d), "--model", vr_model, "--arch", ARCH, "--quality", "1.5", "6",
                 "--no-msssim", "--quiet", "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    assert [s["quality"] for s in r["settings"]] == [1.5, 6] and r["exact"]
    assert r["results"]["bpp"][0] < r["results"]["bpp"][1]
    assert main(["eval", str(d), "--model", vr_model, "--arch", ARCH, "--quality", "8", "--out", str(out)]) == 2


def test_noise_control_of_a_variable_rate_model_feeds_noisy_latents(vr_model):
    """``licq finetune --control noise`` on a variable-rate model: the decoder reads every group's
    latents plus uniform noise (within half a step of the analysis), not the quantizer's levels."""
    from licq.quantizers import make_quantizer
    from licq.training.finetune import quantized_forward

    m = licq.models.load_file(vr_model, ARCH)
    x = torch.from_numpy(smooth_image(64, 64, seed=8)).permute(2, 0, 1).float()[None] / 255
    q = make_quantizer("sq")
    out = {}
    for control in (None, "noise"):
        torch.manual_seed(0)  # the same qualities for both
        with torch.no_grad():
            out[control] = quantized_forward(m, q, x, ("g_s",), control=control)
    assert torch.equal(out[None]["quality"], out["noise"]["quality"])
    diff = (out["noise"]["y_hat"] - out[None]["y_hat"]).abs()
    assert diff.max() <= 1 + 1e-5 and (diff > 1e-3).float().mean() > 0.5


def test_noise_control_run_of_a_variable_rate_model(vr_model, tmp_path):
    from PIL import Image

    from licq.training.finetune import FinetuneConfig, finetune

    data = tmp_path / "data"
    data.mkdir()
    Image.fromarray(smooth_image(72, 72, seed=34)).save(data / "0.png")
    cfg = FinetuneConfig(base=vr_model, arch=ARCH, data=[str(data)], out=str(tmp_path / "ctl"), steps=2, batch=2,
                         crop=64, threads=1, downscale=None, log_every=1, control="noise")
    decoder = state_dict_from_file(finetune(cfg, progress=False))
    assert {k.split(".")[0] for k in decoder} == {"g_s", "lrp", "inverse_gain"}
    assert json.loads((tmp_path / "ctl" / "decoder.json").read_text())["control"] == "noise"
