"""Short version of benchmarks/fuzz_decoder.py: mutants of valid files never crash the decoder."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import licq
from PIL import Image
from licq.errors import LicqError

from .conftest import smooth_image

spec = importlib.util.spec_from_file_location(
    "fuzz_decoder", Path(__file__).resolve().parents[1] / "benchmarks" / "fuzz_decoder.py")
fuzz = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fuzz)


def test_mutants_give_licq_error_or_decode_only_when_well_formed(tiny_model):
    img = smooth_image(24, 40)
    seeds = {"sq": licq.encode(img, tiny_model), "tcq": licq.encode(img, tiny_model, quantizer="tcq", states=8),
             "rdoq": licq.encode(img, tiny_model, quantizer="rdoq", tcq_lambda=0.3),
             "sq-grid": licq.encode(img, tiny_model, quantizer="sq-grid")}
    tagged = Image.fromarray(img)
    tagged.info.update(icc_profile=bytes(range(100)), exif=b"Exif\x00\x00" + bytes(32))
    seeds["sq+metadata"] = licq.encode(tagged, tiny_model)
    outcomes = {"error": 0, "decoded": 0}
    for i, (kind, fixed, data) in enumerate(fuzz.mutants(seeds, 400, random.Random(1))):
        if i >= 400:
            break
        try:
            licq.decode(data, tiny_model, max_pixels=fuzz.MAX_PIXELS)
            outcomes["decoded"] += 1
            assert fixed or data in seeds.values(), f"{kind} mutant without a valid CRC decoded"
        except LicqError:
            outcomes["error"] += 1
    assert outcomes["error"] > 200
