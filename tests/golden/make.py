"""Write the golden .licq files the tests decode on every commit (run at a release, on purpose).

    python tests/golden/make.py

Each file is a small crop of assets/kodim23.png coded by the current zoo; ``golden.json``
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

#: file stem → encode_full keyword arguments
CASES = {
    "q3-sq": {"model": "licq-q3", "quantizer": "sq"},
    "q3-tcq8": {"model": "licq-q3", "quantizer": "tcq", "states": 8},
    "q3-sq-grid": {"model": "licq-q3", "quantizer": "sq-grid"},
    "q3-sq-effort1": {"model": "licq-q3", "quantizer": "sq", "effort": 1},
    "q1-rdoq": {"model": "licq-q1", "quantizer": "rdoq"},
}


def crop() -> np.ndarray:
    with Image.open(HERE.parents[1] / "assets" / "kodim23.png") as im:
        return np.asarray(im.convert("RGB"))[160:288, 320:456].copy()  # 128 x 136


def latents_sha256(data: bytes) -> str:
    return hashlib.sha256(decode_latents(data)[2].contiguous().numpy().tobytes()).hexdigest()


def main() -> None:
    image, index = crop(), {}
    for stem, kwargs in CASES.items():
        kw = dict(kwargs)
        data = licq.encode_full(image, kw.pop("model"), finetuned="auto", **kw).data
        (HERE / f"{stem}.licq").write_bytes(data)
        licq.decode(data).save(HERE / f"{stem}.png")
        index[stem] = {"encode": kwargs, "bytes": len(data), "latents_sha256": latents_sha256(data)}
        print(stem, len(data), "bytes")
    (HERE / "golden.json").write_text(json.dumps(index, indent=1) + "\n")


if __name__ == "__main__":
    main()
