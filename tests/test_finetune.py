"""Quantization-aware finetuning: trains only the decoder side, its decoders round-trip and are checked."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

import licq
import licq.zoo as zoo
import licq.zoo.export as export
from licq.errors import LicqError
from licq.models import model_digest, state_dict_from_file
from licq.training.finetune import FinetuneConfig, finetune

from .conftest import smooth_image


@pytest.fixture()
def temp_zoo(tmp_path, tiny_model, monkeypatch):
    """A zoo holding the tiny model as 'tiny-q1'."""
    d = tmp_path / "zoo"
    d.mkdir()
    shutil.copy(tiny_model, d / "tiny-q1.pt")
    sha = hashlib.sha256((d / "tiny-q1.pt").read_bytes()).hexdigest()
    digest = model_digest(state_dict_from_file(d / "tiny-q1.pt"))[:16]
    man = {"default": "tiny-q1", "models": [{"name": "tiny-q1", "arch": "mbt2018-mean", "N": 8, "M": 12,
                                             "lmbda": 0.01, "quality": 1, "file": "tiny-q1.pt", "sha256": sha,
                                             "digest": digest}]}
    (d / "manifest.json").write_text(json.dumps(man))
    for mod in (zoo, export):
        monkeypatch.setattr(mod, "ZOO_DIR", d)
        monkeypatch.setattr(mod, "MANIFEST", d / "manifest.json")
    zoo.load_zoo.cache_clear()
    yield d
    zoo.load_zoo.cache_clear()


@pytest.fixture()
def data_dir(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    for i in range(3):
        Image.fromarray(smooth_image(80, 80, seed=20 + i)).save(d / f"{i}.png")
    return d


def _cfg(data_dir, out, **kw):
    base = dict(base="tiny-q1", data=[str(data_dir)], out=str(out), steps=4, batch=2, crop=64, threads=1,
                downscale=None, log_every=1, lr=1e-3)
    base.update(kw)
    return FinetuneConfig(**base)


@pytest.mark.parametrize("quantizer,states", [("sq", None), ("tcq", 8)])
@pytest.mark.parametrize("mode", ["dec", "dec+hyperdec"])
def test_finetune_trains_only_the_decoder_side(temp_zoo, data_dir, tmp_path, quantizer, states, mode):
    path = finetune(_cfg(data_dir, tmp_path / "ft", quantizer=quantizer, states=states, train=mode),
                    progress=False)
    tensors = torch.load(path, weights_only=True)
    prefixes = {k.split(".")[0] for k in tensors}
    assert prefixes == ({"g_s"} if mode == "dec" else {"g_s", "h_s"})
    base = zoo.load_zoo("tiny-q1").net.state_dict()
    assert any(not torch.equal(v.float(), base[k].float().half().float()) for k, v in tensors.items())
    meta = json.loads((tmp_path / "ft" / "decoder.json").read_text())
    assert meta["quantizer"] == quantizer and meta["steps"] == 4


def test_finetuned_decoder_roundtrip_and_wrong_decoder_refused(temp_zoo, data_dir, tmp_path):
    finetune(_cfg(data_dir, tmp_path / "ft", quantizer="tcq", states=4, step=0.6, tcq_lambda=0.02),
             progress=False)
    entry = export.export_decoder(str(tmp_path / "ft"), "tiny-q1-ft-tcq4")
    assert entry["notes"].startswith("g_s finetuned 4 steps on real TCQ-4 latents (Δ 0.6, λ 0.02), lr 0.001")
    zoo.load_zoo.cache_clear()
    arr = smooth_image(48, 64, seed=7)
    res = licq.encode_full(arr, quality=1, quantizer="tcq", states=4, finetuned="dec")
    header, _ = licq.container.unpack(res.data)
    assert header.model_name == "tiny-q1-ft-tcq4"
    out = licq.decode(res.data)  # picks the finetuned decoder from the header
    assert np.array_equal(np.asarray(out), np.asarray(res.reconstruction))
    base = licq.encode_full(arr, quality=1, quantizer="tcq", states=4, step=0.6, tcq_lambda=0.02)
    assert not np.array_equal(np.asarray(base.reconstruction), np.asarray(res.reconstruction))
    with pytest.raises(LicqError, match="model mismatch"):
        licq.decode(res.data, "tiny-q1")
    with pytest.raises(LicqError, match="finetuned for tcq"):
        licq.encode(arr, "tiny-q1-ft-tcq4", quantizer="sq")
    with pytest.raises(LicqError, match="no decoder finetuned"):
        licq.encode(arr, quality=1, quantizer="tcq", states=8, finetuned="dec")
    meta_path = tmp_path / "ft" / "decoder.json"  # a run on an older version of the base is not shipped
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "base_digest": "0" * 16}))
    with pytest.raises(LicqError, match="another version of tiny-q1"):
        export.export_decoder(str(tmp_path / "ft"), "tiny-q1-ft-tcq4-old")


@pytest.mark.slow
def test_ddp_two_cpu_processes_end_identical(tiny_model, data_dir, tmp_path):
    """torchrun with 2 CPU processes: gradients are averaged, both ranks end with the same decoder."""
    import os
    import socket
    import subprocess
    import sys
    from pathlib import Path

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    worker = Path(__file__).resolve().parent / "ddp_finetune_worker.py"
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                        "--master_port", str(port), str(worker), tiny_model, str(data_dir), str(tmp_path / "ft")],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    w0 = torch.load(tmp_path / "ft" / "rank0.pt", weights_only=True)
    w1 = torch.load(tmp_path / "ft" / "rank1.pt", weights_only=True)
    assert w0.keys() == w1.keys() and any(k.startswith("h_s") for k in w0)
    for k in w0:
        assert torch.equal(w0[k], w1[k]), k
    meta = json.loads((tmp_path / "ft" / "decoder.json").read_text())
    assert meta["world_size"] == 2 and meta["steps"] == 3


def test_control_run_trains_g_s_on_noisy_latents(temp_zoo, data_dir, tmp_path):
    path = finetune(_cfg(data_dir, tmp_path / "ctl", control="noise"), progress=False)
    assert {k.split(".")[0] for k in torch.load(path, weights_only=True)} == {"g_s"}
    assert json.loads((tmp_path / "ctl" / "decoder.json").read_text())["control"] == "noise"
    with pytest.raises(LicqError, match="noise control"):
        finetune(_cfg(data_dir, tmp_path / "bad", control="noise", quantizer="tcq", states=8), progress=False)


def test_exclude_holds_images_out(temp_zoo, data_dir, tmp_path):
    with pytest.raises(FileNotFoundError):
        finetune(_cfg(data_dir, tmp_path / "none", exclude=["0.png", "1.png", "2.png"]), progress=False)


def test_second_generation_is_what_the_codec_gives_when_re_encoding(tiny_model):
    """The training's re-encoding (8-bit pixels, rounded latents) is the codec's own SQ round trip."""
    from licq.models import resolve
    from licq.training.finetune import second_generation

    net, kw = resolve(tiny_model, arch="mbt2018-mean").net, {"arch": "mbt2018-mean"}
    x1 = np.asarray(licq.decode(licq.encode(smooth_image(64, 64, seed=3), tiny_model, **kw), tiny_model, **kw))
    with torch.no_grad():
        x2 = second_generation(net, torch.from_numpy(x1.copy()).permute(2, 0, 1)[None].float() / 255)
    x2 = (x2.clamp(0, 1) * 255).round()[0].permute(1, 2, 0).numpy()
    ref = np.asarray(licq.decode(licq.encode(x1, tiny_model, **kw), tiny_model, **kw), dtype=np.float64)
    assert np.abs(x2 - ref).max() <= 1


def test_second_generation_on_the_fixed_grid_is_what_sq_grid_gives_when_re_encoding(tiny_model):
    """An sq-grid decoder's idempotence term re-encodes as sq-grid does: on Δ·round(y/Δ), not around μ."""
    from licq.models import resolve
    from licq.training.finetune import second_generation

    net = resolve(tiny_model, arch="mbt2018-mean").net
    kw = {"arch": "mbt2018-mean", "quantizer": "sq-grid"}
    x1 = np.asarray(licq.decode(licq.encode(smooth_image(64, 64, seed=3), tiny_model, **kw), tiny_model,
                                arch="mbt2018-mean"))
    t = torch.from_numpy(x1.copy()).permute(2, 0, 1)[None].float() / 255
    ref = np.asarray(licq.decode(licq.encode(x1, tiny_model, **kw), tiny_model, arch="mbt2018-mean"), dtype=np.float64)
    with torch.no_grad():
        grid, around = second_generation(net, t, grid_step=1.0), second_generation(net, t)
    as_png = [(v.clamp(0, 1) * 255).round()[0].permute(1, 2, 0).numpy() for v in (grid, around)]
    assert np.abs(as_png[0] - ref).max() <= 1
    assert not torch.equal(grid, around)  # rounding around μ is another re-encoding


def test_idempotence_trains_g_s_through_the_frozen_encoder(temp_zoo, data_dir, tmp_path):
    plain = torch.load(finetune(_cfg(data_dir, tmp_path / "b0"), progress=False), weights_only=True)
    idem = torch.load(finetune(_cfg(data_dir, tmp_path / "b1", idempotence=1.0), progress=False), weights_only=True)
    assert set(idem) == set(plain)
    assert any(not torch.equal(idem[k], plain[k]) for k in plain)  # same seed and crops: the term changed g_s
    assert (tmp_path / "b1" / "log.csv").read_text().splitlines()[0].split(",")[:5] == \
        ["step", "loss", "bpp", "psnr", "psnr2"]
    assert json.loads((tmp_path / "b1" / "decoder.json").read_text())["config"]["idempotence"] == 1.0


def test_idempotence_generations_unroll_more_re_encodings(data_dir, tmp_path):
    from licq.models import resolve
    from licq.training.finetune import later_generations_mse, second_generation

    # a trained model: a random tiny one decodes to a near-constant image that re-encodes to itself
    # exactly (x3 == x2 in fp32), so a second generation would change nothing to learn from
    base = str(zoo.ZOO_DIR / "licq-q1.pt")
    net = resolve(base, arch="mbt2018-mean").net.eval()
    x = torch.from_numpy(smooth_image(64, 64, seed=8)).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        x2 = second_generation(net, x)
        x3 = second_generation(net, x2)
        one, two = later_generations_mse(net, x, x, 1), later_generations_mse(net, x, x, 2)
    assert not torch.equal(x3, x2)
    assert torch.allclose(one, torch.mean((x2 - x) ** 2))  # K = 1 is the single re-encoding of before
    assert torch.allclose(two, (torch.mean((x2 - x) ** 2) + torch.mean((x3 - x) ** 2)) / 2)
    runs = [torch.load(finetune(_cfg(data_dir, tmp_path / f"k{k}", base=base, arch="mbt2018-mean", lmbda=0.0018,
                                     idempotence=1.0, idempotence_generations=k, steps=2), progress=False),
                       weights_only=True) for k in (1, 2)]
    assert any(not torch.equal(runs[0][k], runs[1][k]) for k in runs[0])


@pytest.mark.parametrize("kw,match", [({"idempotence": -1.0}, "idempotence must be"),
                                      ({"idempotence_generations": 0}, "idempotence-generations must be"),
                                      ({"idempotence_generations": 4}, "give --idempotence BETA"),
                                      ({"idempotence": float("nan")}, "idempotence must be"),
                                      ({"idempotence": 1.0, "control": "noise"}, "not with --control")])
def test_idempotence_bad_values_refused(temp_zoo, data_dir, tmp_path, kw, match):
    with pytest.raises(LicqError, match=match):
        finetune(_cfg(data_dir, tmp_path / "bad", **kw), progress=False)


def _distance_to_base(decoder: str, base: str) -> float:
    state = state_dict_from_file(base)
    return sum(((v.float() - state[k].float()) ** 2).sum().item()
               for k, v in torch.load(decoder, weights_only=True).items())


def test_anchor_keeps_the_decoder_near_the_base(temp_zoo, data_dir, tmp_path):
    """The L2-SP term pulls g_s back towards the base decoder; its distance is logged."""
    free = finetune(_cfg(data_dir, tmp_path / "free", lr=1e-2), progress=False)
    held = finetune(_cfg(data_dir, tmp_path / "held", lr=1e-2, anchor=1000.0), progress=False)
    far, near = (_distance_to_base(d, temp_zoo / "tiny-q1.pt") for d in (free, held))
    assert 0 < near < far / 2
    log = (tmp_path / "held" / "log.csv").read_text().splitlines()
    assert log[0].split(",")[4] == "anchor" and float(log[-1].split(",")[4]) > 0
    assert "anchor" not in (tmp_path / "free" / "log.csv").read_text()
    assert json.loads((tmp_path / "held" / "decoder.json").read_text())["config"]["anchor"] == 1000.0
    with pytest.raises(LicqError, match="anchor must be"):
        finetune(_cfg(data_dir, tmp_path / "bad", anchor=-1.0), progress=False)


def test_init_starts_a_second_stage_from_an_earlier_run(temp_zoo, data_dir, tmp_path):
    """--init lays a finished run's decoder over the base; the record keeps the first stage, the
    zoo entry describes and times both stages; another base or other parts are refused."""
    first = tmp_path / "first"
    finetune(_cfg(data_dir, first, lr=1e-2), progress=False)
    held = finetune(_cfg(data_dir, tmp_path / "held", lr=1e-2, init=str(first), anchor=1000.0, steps=1),
                    progress=False)
    fresh = finetune(_cfg(data_dir, tmp_path / "fresh", lr=1e-2, anchor=1000.0, steps=1), progress=False)
    trained = str(first / "decoder.pt")
    assert _distance_to_base(held, trained) < _distance_to_base(fresh, trained) / 2  # it started from the first run
    meta = json.loads((tmp_path / "held" / "decoder.json").read_text())
    assert meta["init"]["run"] == str(first) and meta["init"]["steps"] == 4
    # the first stage's own time (0.0 where its 4 steps took under 0.05 s: a fast machine)
    first_seconds = export.training_seconds(first / "log.csv")
    assert first_seconds is not None and meta["init"]["wall_seconds"] == first_seconds
    e = export.export_decoder(str(tmp_path / "held"), "tiny-q1-ft-sq-two")
    assert "finetuned 4 steps on real SQ latents" in e["notes"]
    assert "; then 1 steps on real SQ latents" in e["notes"] and "anchored" in e["notes"].split("; then")[1]
    own = export.training_seconds(tmp_path / "held" / "log.csv")
    assert e["training"]["wall_seconds"] == round(own + meta["init"]["wall_seconds"], 1)
    with pytest.raises(LicqError, match="trained --train dec, this run trains dec\\+hyperdec"):
        finetune(_cfg(data_dir, tmp_path / "b", init=str(first), train="dec+hyperdec"), progress=False)
    with pytest.raises(LicqError, match="not a finished finetune run"):
        finetune(_cfg(data_dir, tmp_path / "c", init=str(tmp_path / "none")), progress=False)
    with pytest.raises(LicqError, match="not a finished finetune run"):  # the same reader exports decoders
        export.export_decoder(str(tmp_path / "none"), "tiny-q1-ft-none")
    other = shutil.copytree(first, tmp_path / "other")  # a run on other weights: its record says so
    record = json.loads((other / "decoder.json").read_text())
    (other / "decoder.json").write_text(json.dumps({**record, "base_digest": "0" * 16}))
    with pytest.raises(LicqError, match="finetuned from another model"):
        finetune(_cfg(data_dir, tmp_path / "d", init=str(other)), progress=False)


def test_export_with_decoder_ships_one_model_with_the_finetuned_g_s(temp_zoo, data_dir, tiny_model, tmp_path):
    from licq.training.train import TrainConfig, train

    run = tmp_path / "run"
    train(TrainConfig(data=[str(data_dir)], out=str(run), N=8, M=12, steps=2, batch=2, crop=64, threads=1,
                      log_every=1, downscale=None, lmbda=0.01), progress=False)
    ckpt = str(run / "checkpoint.pt")
    dec = finetune(_cfg(data_dir, tmp_path / "ft", base=ckpt, arch="mbt2018-mean", lmbda=0.01, idempotence=1.0),
                   progress=False)
    e = export.export(ckpt, "tiny-q2", 2, False, decoder_run=str(tmp_path / "ft"))
    assert e["decoder_finetune"]["steps"] == 4 and e["decoder_finetune"]["config"]["idempotence"] == 1.0
    shipped = zoo.load_zoo("tiny-q2").net.state_dict()
    tensors = torch.load(dec, weights_only=True)
    assert all(torch.equal(shipped[k].half(), v) for k, v in tensors.items())  # g_s is the finetuned one
    trained = torch.load(ckpt, weights_only=True)["model"]
    assert torch.equal(shipped["g_a.0.weight"].half(), trained["g_a.0.weight"].half())  # the rest is the run's
    # re-exporting a name keeps its swept TCQ defaults (a retrain is not a re-sweep)
    export.set_tcq_defaults("tiny-q2", {"8": {"step": 0.5, "tcq_lambda": 0.005}}, "sweep.json")
    again = export.export(ckpt, "tiny-q2", 2, False, decoder_run=str(tmp_path / "ft"))
    assert again["tcq"] == {"8": {"step": 0.5, "tcq_lambda": 0.005}} and again["tcq_source"] == "sweep.json"
    assert "tcq" not in export.export(ckpt, "tiny-q5", 5, False)
    finetune(_cfg(data_dir, tmp_path / "other", base=tiny_model, arch="mbt2018-mean", lmbda=0.01), progress=False)
    with pytest.raises(LicqError, match="finetuned from another model"):
        export.export(ckpt, "tiny-q3", 3, False, decoder_run=str(tmp_path / "other"))
    # --candidate: the very values the zoo would ship (half precision), the zoo untouched
    before = (temp_zoo / "manifest.json").read_text()
    export.write_candidate(ckpt, str(tmp_path / "ft"), str(tmp_path / "cand.pt"))
    cand = state_dict_from_file(tmp_path / "cand.pt")
    zoo_file = state_dict_from_file(temp_zoo / "tiny-q2.pt")
    assert cand.keys() == zoo_file.keys() and all(torch.equal(cand[k], zoo_file[k]) for k in cand)
    assert (temp_zoo / "manifest.json").read_text() == before and not (temp_zoo / "cand.pt").exists()
    with pytest.raises(LicqError, match="finetuned from another model"):
        export.write_candidate(ckpt, str(tmp_path / "other"), str(tmp_path / "bad.pt"))


def test_candidate_on_a_zoo_model_lays_the_decoder_over_its_shipped_weights(temp_zoo, data_dir, tmp_path):
    """``export licq-vr --with-decoder RUN --candidate FILE``: a decoder finetuned on the shipped model,
    measured as one weight file before it is shipped."""
    dec = finetune(_cfg(data_dir, tmp_path / "ft"), progress=False)  # --base tiny-q1, the zoo's
    export.write_candidate("tiny-q1", str(tmp_path / "ft"), str(tmp_path / "cand.pt"))
    cand = state_dict_from_file(tmp_path / "cand.pt")
    shipped = state_dict_from_file(temp_zoo / "tiny-q1.pt")
    tensors = torch.load(dec, weights_only=True)
    assert cand.keys() == shipped.keys() and tensors.keys() < cand.keys()
    assert all(torch.equal(cand[k], (tensors[k] if k in tensors else shipped[k]).to(cand[k].dtype)) for k in cand)
    export.export_decoder(str(tmp_path / "ft"), "tiny-q1-ft-sq-dec")
    with pytest.raises(LicqError, match="is a finetuned decoder: name its base model"):
        export.write_candidate("tiny-q1-ft-sq-dec", str(tmp_path / "ft"), str(tmp_path / "bad.pt"))


def test_decoder_description_names_the_idempotence_generations():
    base = {"train": "dec", "steps": 600, "quantizer": "sq",
            "config": {"lr": 2e-5, "lr_drop": 0.8, "crop": 128, "idempotence": 4.0}}
    assert "idempotence term β 4" in export.describe_finetune(base)
    assert "generations" not in export.describe_finetune(base)  # K = 1, or files from before the option
    base["config"]["idempotence_generations"] = 4
    assert "idempotence term β 4 over 4 generations" in export.describe_finetune(base)
    assert "quality" not in export.describe_finetune(base)
    base["config"].update(quality_balance=0.45, qualities=[1.0, 2.0])  # a variable-rate stage's weighting and range
    assert "quality balance 0.45, qualities 1–2 only" in export.describe_finetune(base)


def test_training_command_of_an_export_reproduces_the_run_settings():
    """The manifest's ``licq train`` line parses back to the run's settings, variable-rate ones included."""
    import shlex
    from dataclasses import asdict

    from licq.cli import build_parser
    from licq.training.config import TrainConfig

    cfg = asdict(TrainConfig(data=["photos", "more"], out="runs/vr", arch="channel-vr", fresh_lr=1e-3,
                             quality_balance=0.45, saturation=0.25, waves=0.1, precision="bf16", warm_start="q3.pt"))
    a = build_parser().parse_args(shlex.split(export.command_of(cfg))[1:])
    for key in ("data", "out", "arch", "N", "M", "lmbda", "steps", "batch", "crop", "lr", "surrogate", "fresh_lr",
                "quality_balance", "precision", "saturation", "waves", "warm_start"):
        assert getattr(a, key) == cfg[key], key
    plain = build_parser().parse_args(shlex.split(export.command_of(asdict(TrainConfig(data=["d"], out="o"))))[1:])
    assert plain.arch == "mbt2018-mean" and plain.fresh_lr is None and plain.quality_balance == 0


def test_decoder_gain_decodes_the_base_file_as_the_finetuned_decoder_does(temp_zoo, data_dir, tmp_path):
    """benchmarks/decoder_gain.py: a 'dec' decoder laid over the base decodes the base model's file
    exactly as the file naming that decoder decodes, and the base is restored afterwards."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "decoder_gain", Path(__file__).resolve().parents[1] / "benchmarks" / "decoder_gain.py")
    gain = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gain)
    finetune(_cfg(data_dir, tmp_path / "ft", quantizer="tcq", states=4, step=0.6, tcq_lambda=0.02, lr=1e-2),
             progress=False)
    export.export_decoder(str(tmp_path / "ft"), "tiny-q1-ft-tcq4")
    zoo.load_zoo.cache_clear()
    arr = smooth_image(48, 64, seed=7)
    finetuned = licq.encode_full(arr, quality=1, quantizer="tcq", states=4, finetuned="dec").reconstruction
    base_file = licq.encode(arr, "tiny-q1", quantizer="tcq", states=4, step=0.6, tcq_lambda=0.02)
    base = np.asarray(licq.decode(base_file))
    assert not np.array_equal(base, np.asarray(finetuned))
    for name in ("tiny-q1-ft-tcq4", str(tmp_path / "ft")):  # a zoo decoder and a run folder
        label, setting, tensors = gain.candidate(name, "tiny-q1")
        assert setting == {"quantizer": "tcq", "states": 4, "step": 0.6, "tcq_lambda": 0.02}
        with gain.laid(licq.models.resolve("tiny-q1").net, tensors):
            assert np.array_equal(np.asarray(licq.decode(base_file)), np.asarray(finetuned))
        assert np.array_equal(np.asarray(licq.decode(base_file)), base)
    with pytest.raises(SystemExit, match="not a decoder finetuned from"):
        gain.candidate("tiny-q1", "tiny-q1")
