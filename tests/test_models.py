"""Model files: CompressAI state-dict import, safe loading, zoo integrity."""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil

import numpy as np
import pytest
import torch

import licq
import licq.zoo as zoo
from licq import container
from licq._compressai import MeanScaleHyperprior, ScaleHyperprior
from licq.errors import LicqError
from licq.models import state_dict_from_file

from .conftest import smooth_image


def test_compressai_mbt2018_mean_state_dict_gives_identical_stream(tmp_path):
    """licq with SQ Δ=1 writes CompressAI's own strings for the same weights: z byte for byte, and y too on
    this tiny model, where no latent's integer μ or σ lands on another level or table than the float one
    (on real models a few do: docs/quantizers.md)."""
    torch.manual_seed(0)
    net = MeanScaleHyperprior(N=8, M=12).eval()
    net.update(force=True)
    path = tmp_path / "mbt2018-mean-1.pth.tar"
    torch.save(net.state_dict(), path)
    arr = smooth_image(64, 64)
    res = licq.encode_full(arr, str(path), arch="mbt2018-mean")
    _, streams = container.unpack(res.data)
    x = torch.from_numpy(arr).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        ref = net.compress(x)
    assert streams == [ref["strings"][1][0], ref["strings"][0][0]]
    assert np.array_equal(np.asarray(licq.decode(res.data, str(path))), np.asarray(res.reconstruction))


def test_compressai_bmshj2018_hyperprior_roundtrip(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "bmshj.pth.tar"
    torch.save({"state_dict": ScaleHyperprior(N=8, M=12).state_dict()}, path)
    res = licq.encode_full(smooth_image(30, 40), str(path), arch="bmshj2018-hyperprior")
    out = licq.decode(res.data, str(path))  # arch taken from the header
    assert np.array_equal(np.asarray(out), np.asarray(res.reconstruction))


def test_wrong_arch_for_weights_is_refused(tmp_path):
    path = tmp_path / "bmshj.pth.tar"
    torch.save(ScaleHyperprior(N=8, M=12).state_dict(), path)
    with pytest.raises(LicqError, match="do not (fit|match)"):
        licq.encode(smooth_image(8, 8), str(path), arch="mbt2018-mean")


class _Evil:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_malicious_pickle_is_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"model": _Evil(str(marker))}, f)
    with pytest.raises(LicqError, match="cannot load model file"):
        state_dict_from_file(path)
    assert not marker.exists()


def test_missing_or_unreadable_model_file_is_one_line(tmp_path):
    """The loader and the byte reader (a finetune run's decoder) say the same thing, never a traceback."""
    from licq.models.io import read_model_bytes

    for read in (state_dict_from_file, read_model_bytes):
        with pytest.raises(LicqError, match="^model file not found: .*none.pt$"):
            read(tmp_path / "none.pt")
        with pytest.raises(LicqError, match="^cannot read model file"):
            read(tmp_path)  # a folder


def test_tampered_zoo_file_is_refused(tmp_path, monkeypatch):
    man = zoo.manifest()
    name = man["default"]
    e = zoo.entry(name)
    shutil.copy(zoo.ZOO_DIR / e["file"], tmp_path / e["file"])
    (tmp_path / "manifest.json").write_text(json.dumps(man))
    monkeypatch.setattr(zoo, "ZOO_DIR", tmp_path)
    monkeypatch.setattr(zoo, "MANIFEST", tmp_path / "manifest.json")
    zoo.load_zoo.cache_clear()
    try:
        data = bytearray((tmp_path / e["file"]).read_bytes())
        data[-100] ^= 1
        (tmp_path / e["file"]).write_bytes(bytes(data))
        with pytest.raises(LicqError, match="do not match the manifest"):
            zoo.load_zoo(name)
    finally:
        zoo.load_zoo.cache_clear()


def test_manifest_sha256_matches_shipped_files():
    for e in zoo.manifest()["models"]:
        assert hashlib.sha256((zoo.ZOO_DIR / e["file"]).read_bytes()).hexdigest() == e["sha256"]
        assert (zoo.ZOO_DIR / e["file"]).stat().st_size <= 16 * 2 ** 20  # licq-vr: 8.0 M parameters, 15.4 MiB


def test_shipped_decoders_match_their_base_models():
    """Every finetuned decoder was learnt on the latents of the base weights shipped beside it."""
    man = zoo.manifest()["models"]
    digests = {e["name"]: e["digest"] for e in man if "base" not in e}
    for e in man:
        if "base" in e:
            assert e["base_digest"] == digests[e["base"]], e["name"]


def test_no_shipped_weights_are_listed_as_retired():
    """retired.json names the release of weights this zoo no longer has: never one it ships (a file
    written with it would decode, and the list would mislead whoever reads it)."""
    from licq.zoo.export import shipped_digests

    retired = json.loads(zoo.RETIRED.read_text())["models"]
    bases = [e["name"] for e in zoo.manifest()["models"] if "base" not in e]
    shipped = {d: n for b in bases for d, n in shipped_digests(b).items()}
    assert len(shipped) == len(zoo.manifest()["models"])  # every model and decoder loads on its base
    assert not set(shipped) & set(retired)


def test_decoder_of_a_replaced_base_is_refused(tmp_path, monkeypatch):
    man = zoo.manifest()
    dec = next(e for e in man["models"] if "base" in e)
    dec["base_digest"] = "0" * 16  # as if the base model had been retrained since
    (tmp_path / "manifest.json").write_text(json.dumps(man))
    monkeypatch.setattr(zoo, "MANIFEST", tmp_path / "manifest.json")
    zoo.load_zoo.cache_clear()
    try:
        with pytest.raises(LicqError, match="finetuned on another version"):
            zoo.load_zoo(dec["name"])
    finally:
        zoo.load_zoo.cache_clear()


def test_half_precision_weights_keep_the_likelihood_floor(tmp_path):
    """fp16 rounds CompressAI's 1e-9 likelihood floor to 0; a model must keep its own floor."""
    from licq.models.io import build_model, load_params, save_weights

    src = build_model("mbt2018-mean", 8, 12)
    floors = ("gaussian_conditional.likelihood_lower_bound.bound", "entropy_bottleneck.likelihood_lower_bound.bound")
    half = {k: v.half() if v.is_floating_point() else v for k, v in src.state_dict().items()}
    assert all(half[k].item() == 0 for k in floors)  # what a plain .half() does
    model = build_model("mbt2018-mean", 8, 12)
    load_params(model, half)
    gc = model.gaussian_conditional
    lik = gc.likelihood_lower_bound(gc._likelihood(torch.tensor([60.0]), torch.tensor([0.11])))
    assert lik.item() == pytest.approx(1e-9) and torch.isfinite(torch.log2(lik)).all()
    save_weights(model, tmp_path / "w.pt")
    saved = torch.load(tmp_path / "w.pt", weights_only=True)
    assert all(saved[k].dtype == torch.float32 and saved[k].item() == pytest.approx(1e-9) for k in floors)
    assert saved["g_a.0.weight"].dtype == torch.float16


def test_compressai_is_imported_without_its_point_cloud_and_vision_dependencies():
    """licq's start-up skips torch_geometric and torchvision (CompressAI's point-cloud code and
    transform registry import them, and through them torch._dynamo: seconds per command); the
    stand-ins leave sys.modules, so the real packages still import afterwards."""
    import subprocess
    import sys

    code = ("import sys, licq.codec, licq._compressai as c; "
            "heavy = [n for n in sys.modules if n.split('.')[0] in ('torch_geometric', 'torchvision') "
            "or n.startswith('torch._dynamo')]; assert not heavy, heavy[:5]; "
            "assert c.MeanScaleHyperprior and c.RansEncoder; "
            "import torch_geometric.data as d; assert d.__file__ and hasattr(d.Data, 'num_nodes'); "
            "import torchvision.transforms as t; assert t.__file__ and hasattr(t, 'Compose')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
