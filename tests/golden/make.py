"""Write the golden .licq files the tests decode on every commit (run at a release, on purpose).

    python tests/golden/make.py            # every file
    python tests/golden/make.py vr-sq ...  # only these (the others and their index entries are kept)

Each file is a small crop of assets/kodim23.png coded by the current zoo (``zoo-vr-*``: by licq-vr,
left out by a zoo without it), or (format 4) by the tiny variable-rate model
``vr-tiny.pt`` (N=8, M=12, random weights with every part non-trivial, as the tests' ``vr_model``;
written once and kept, so its files test the format, not a model); ``golden.json``
records its model, the sha256 of the latents ``ŷ`` it decodes to (exact on every machine)
and the decoded image (``.png``; pixels may differ by a unit across machines, as the
synthesis transform is floating point). Retiring a zoo model breaks the test that decodes
its golden files: rerun this script and commit the result, saying so.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "src"))

import licq  # noqa: E402
from licq.codec import decode_latents  # noqa: E402

#: file stem → encode_full keyword arguments (finetuned="auto", as `licq encode` codes, unless a case sets it)
CASES = {
    "q3-sq": {"model": "licq-q3", "quantizer": "sq"},
    "q3-tcq8": {"model": "licq-q3", "quantizer": "tcq", "states": 8},
    "q3-sq-grid": {"model": "licq-q3", "quantizer": "sq-grid"},
    "q3-sq-effort1": {"model": "licq-q3", "quantizer": "sq", "effort": 1},
    "q1-rdoq": {"model": "licq-q1", "quantizer": "rdoq"},
    "vr-sq": {"model": "vr-tiny.pt", "arch": "channel-vr", "quality": 4.37, "quantizer": "sq"},
    "vr-tcq8": {"model": "vr-tiny.pt", "arch": "channel-vr", "quality": 6.1, "quantizer": "tcq", "states": 8},
    "vr-sq-grid": {"model": "vr-tiny.pt", "arch": "channel-vr", "quality": 1.5, "quantizer": "sq-grid"},
    "zoo-vr-sq": {"model": "licq-vr", "quality": 5.5, "quantizer": "sq", "finetuned": None},
    "zoo-vr-sq-q1": {"model": "licq-vr", "quality": 1.25, "quantizer": "sq"},
    "zoo-vr-tcq8": {"model": "licq-vr", "quality": 2.25, "quantizer": "tcq", "states": 8, "finetuned": None,
                   "step": 0.6, "tcq_lambda": 0.02},  # the setting it was written with
    # as licq encode codes, with licq-vr's finetuned decoders: only while the zoo has them ("needs")
    "zoo-vr-sq-ft": {"model": "licq-vr", "quality": 5.5, "quantizer": "sq", "needs": "licq-vr-ft-sq-dec"},
    "zoo-vr-tcq8-ft": {"model": "licq-vr", "quality": 2.25, "quantizer": "tcq", "states": 8,
                       "needs": "licq-vr-ft-tcq8-dec"},
}
VR_WEIGHTS = HERE / "vr-tiny.pt"


def model_arg(name: str) -> str:
    """A zoo name as it is; a weight file's name as its path beside this script."""
    return str(HERE / name) if name.endswith(".pt") else name


def write_vr_weights() -> None:
    """The tiny variable-rate model, once: its files must keep decoding, so it is never rewritten."""
    if VR_WEIGHTS.exists():
        return
    sys.path.insert(0, str(HERE.parents[1]))
    from tests.conftest import save_random_vr_model
    save_random_vr_model(VR_WEIGHTS)


def crop() -> np.ndarray:
    with Image.open(HERE.parents[1] / "assets" / "kodim23.png") as im:
        return np.asarray(im.convert("RGB"))[160:288, 320:456].copy()  # 128 x 136


def latents_sha256(data: bytes, model: str | None) -> str:
    return hashlib.sha256(decode_latents(data, model)[2].contiguous().numpy().tobytes()).hexdigest()


def in_zoo(case: dict) -> bool:
    """Whether this zoo has the model a case names and the decoder it needs, if any (weight files
    beside this script always count)."""
    from licq.errors import LicqError
    from licq.zoo import entry

    names = [n for n in (case["model"], case.get("needs")) if n and not n.endswith(".pt")]
    try:
        return all(entry(n) for n in names)
    except LicqError:
        return False


def main() -> None:
    stems = sys.argv[1:] or [s for s in CASES if in_zoo(CASES[s])]  # licq-vr's once the zoo has it
    unknown = sorted(set(stems) - set(CASES))
    if unknown:
        sys.exit(f"unknown golden file(s) {', '.join(unknown)}; known: {', '.join(CASES)}")
    missing = [s for s in stems if not in_zoo(CASES[s])]
    if missing:
        sys.exit(f"the zoo has no model for {', '.join(missing)}")
    write_vr_weights()
    index_path = HERE / "golden.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    image = crop()
    for stem in stems:
        kwargs = CASES[stem]
        kw = dict(kwargs)
        kw.pop("needs", None)
        model = model_arg(kw.pop("model"))
        data = licq.encode_full(image, model, **{"finetuned": "auto", **kw}).data  # as licq encode, unless the case says
        reader = model if model.endswith(".pt") else None  # a zoo file's header names its decoder, as the test reads it
        (HERE / f"{stem}.licq").write_bytes(data)
        licq.decode(data, reader).save(HERE / f"{stem}.png")
        index[stem] = {"encode": kwargs, "bytes": len(data), "latents_sha256": latents_sha256(data, reader)}
        print(stem, len(data), "bytes")
    index_path.write_text(json.dumps({k: index[k] for k in CASES if k in index}, indent=1) + "\n")


if __name__ == "__main__":
    main()
