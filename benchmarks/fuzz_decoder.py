"""Fuzz the decoder with mutants of valid SQ, RDOQ and TCQ files.

Mutations: random bit flips, truncation at every byte of the header and at
random payload offsets, random byte runs, huge or zero sub-stream length fields,
duplicated sub-streams; and the same payload mutations with the CRC recomputed
(so that the entropy decoders themselves face garbage). Mutants are decoded by
a worker subprocess, one at a time, with a per-mutant time limit; a worker that
dies or stalls is recorded and replaced.

Counted failures (target 0 / 0 / 0):
* crash: an exception other than LicqError, or the worker killed by a signal;
* hang: a mutant that takes longer than --timeout seconds;
* output for invalid input: a mutant *without* a recomputed CRC that decodes
  (CRC-fixed mutants are well-formed files and may legitimately decode).

    python benchmarks/fuzz_decoder.py --count 10000     # writes results/fuzz.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

from licq.evaluation.results import save_results

ROOT = Path(__file__).resolve().parents[1]

#: Untrusted input is decoded with a small pixel bound, as a service would: a header whose
#: dimensions were changed (with a recomputed CRC) is refused instead of decoded at length.
MAX_PIXELS = 256 * 256

WORKER = r"""
import sys, json, traceback, warnings
warnings.simplefilter("ignore")
import licq, licq.zoo
from licq.errors import LicqError
MAX_PIXELS = int(sys.argv[1])
licq.zoo.load_zoo(licq.zoo.manifest()["default"])
print("ready", flush=True)
for line in sys.stdin:
    path = line.strip()
    try:
        licq.decode(open(path, "rb").read(), max_pixels=MAX_PIXELS)
        res = "decoded"
    except LicqError as e:
        res = "error"
    except Exception as e:
        res = "crash: " + "".join(traceback.format_exception_only(type(e), e)).strip()[:300]
    print(json.dumps({"path": path, "result": res}), flush=True)
"""


def header_len(data: bytes) -> tuple[int, int, int]:
    """(end of header incl. CRC, offset of the length fields, number of sub-streams)."""
    v = data[5]  # the writer's version, then the model name (format 3)
    n = data[6 + v]
    pos = 7 + v + n + 8 + 1 + 1 + 4 + 4 + 4 + 4 + 1 + 4  # ... layout, index CRC
    k = data[pos]
    return pos + 1 + 4 * k + 4, pos + 1, k


def fix_crc(data: bytes, end: int) -> bytes:
    """Recompute the CRC at the header layout of the seed (``end``: first payload byte)."""
    head, payload = data[: end - 4], data[end:]
    return head + struct.pack(">I", zlib.crc32(payload, zlib.crc32(head))) + payload


def mutants(seed_files: dict[str, bytes], count: int, rng: random.Random):
    """Yield (kind, crc_fixed, bytes)."""
    seeds = list(seed_files.values())
    for data in seeds:  # truncation at every header byte
        end, _, _ = header_len(data)
        for cut in range(end + 1):
            yield "truncate-header", False, data[:cut]
    while True:
        data = rng.choice(seeds)
        end, lpos, k = header_len(data)
        kind = rng.choice(["bitflip", "bitflip", "bytes", "truncate", "length", "duplicate", "payload-fixcrc",
                           "header-fixcrc"])
        b = bytearray(data)
        fixed = False
        if kind == "bitflip":
            for _ in range(rng.randint(1, 8)):
                i = rng.randrange(len(b))
                b[i] ^= 1 << rng.randrange(8)
        elif kind == "bytes":
            i = rng.randrange(len(b))
            b[i:i + rng.randint(1, 16)] = os.urandom(rng.randint(1, 16))
        elif kind == "truncate":
            b = b[: rng.randrange(end, len(b))]
        elif kind == "length":
            j = rng.randrange(k)
            b[lpos + 4 * j: lpos + 4 * j + 4] = struct.pack(">I", rng.choice([0, 1, 0xFFFFFFFF, 0x7FFFFFFF,
                                                                             rng.randrange(1 << 32)]))
            fixed = rng.random() < 0.5
            if fixed:
                b = bytearray(fix_crc(bytes(b), end))
        elif kind == "duplicate":
            lengths = struct.unpack(f">{k}I", bytes(b[lpos:lpos + 4 * k]))
            streams, p = [], end
            for n in lengths:
                streams.append(bytes(b[p:p + n]))
                p += n
            streams.insert(rng.randrange(k + 1), rng.choice(streams))
            head = bytes(b[:lpos - 1]) + bytes([len(streams)]) + b"".join(struct.pack(">I", len(s)) for s in streams)
            payload = b"".join(streams)
            b = bytearray(head + struct.pack(">I", zlib.crc32(payload, zlib.crc32(head))) + payload)
            fixed = True
        elif kind == "payload-fixcrc":
            for _ in range(rng.randint(1, 8)):
                i = rng.randrange(end, len(b))
                b[i] = rng.randrange(256)
            b = bytearray(fix_crc(bytes(b), end))
            fixed = True
        else:  # header field garbage with a valid CRC: dimensions, step, states, quantizer...
            i = rng.randrange(4, lpos)
            b[i] = rng.randrange(256)
            b = bytearray(fix_crc(bytes(b), end))
            fixed = True
        yield kind, fixed, bytes(b)


class Worker:
    def __init__(self) -> None:
        self.p = subprocess.Popen([sys.executable, "-c", WORKER, str(MAX_PIXELS)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
        if self.p.stdout.readline().strip() != "ready":  # imports and model load are not timed
            raise RuntimeError("fuzz worker failed to start")

    def run(self, path: str, timeout: float) -> str:
        import select

        self.p.stdin.write(path + "\n")
        self.p.stdin.flush()
        ready, _, _ = select.select([self.p.stdout], [], [], timeout)
        if not ready:
            self.p.kill()
            self.p.wait()
            return "hang"
        line = self.p.stdout.readline()
        if not line:
            code = self.p.wait()
            return f"crash: worker died ({code})"
        return json.loads(line)["result"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--timeout", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "results" / "fuzz.json"))
    a = ap.parse_args()
    sys.path.insert(0, str(ROOT / "tests"))
    import numpy as np

    import licq

    rng = np.random.default_rng(a.seed)
    img = (rng.random((40, 56, 3)) * 255).astype(np.uint8)
    from PIL import Image

    tagged = Image.fromarray(img)
    tagged.info.update(icc_profile=bytes(range(200)), exif=b"Exif\x00\x00" + bytes(64))  # a metadata sub-stream
    seeds = {"sq": licq.encode(img), "rdoq": licq.encode(img, quantizer="rdoq"),
             "tcq4": licq.encode(img, quantizer="tcq", states=4), "tcq8": licq.encode(img, quantizer="tcq", states=8),
             "sq-grid": licq.encode(img, quantizer="sq-grid"), "sq+metadata": licq.encode(tagged)}
    counts: dict[str, int] = {}
    failures = {"crash": [], "hang": [], "output_for_invalid_input": []}
    r = random.Random(a.seed)
    worker = Worker()
    t0 = time.time()
    with tempfile.TemporaryDirectory() as d:
        for i, (kind, fixed, data) in enumerate(mutants(seeds, a.count, r)):
            if i >= a.count:
                break
            path = os.path.join(d, f"m{i}.licq")
            with open(path, "wb") as f:
                f.write(data)
            res = worker.run(path, a.timeout)
            key = f"{kind}{'+crc' if fixed else ''}: {res.split(':')[0]}"
            counts[key] = counts.get(key, 0) + 1
            if res.startswith("crash"):
                failures["crash"].append({"kind": kind, "detail": res, "hex": data[:64].hex()})
            elif res == "hang":
                failures["hang"].append({"kind": kind, "hex": data[:64].hex()})
            elif res == "decoded" and not fixed and data not in seeds.values():
                failures["output_for_invalid_input"].append({"kind": kind, "hex": data[:64].hex()})
            if res.startswith("crash: worker") or res == "hang":
                worker = Worker()
            os.unlink(path)
            if (i + 1) % 1000 == 0:
                print(f"{i + 1} mutants, {time.time() - t0:.0f} s, failures "
                      f"{ {k: len(v) for k, v in failures.items()} }", flush=True)
    result = {"mutants": a.count, "timeout_s": a.timeout, "seconds": round(time.time() - t0, 1),
              "failures": {k: len(v) for k, v in failures.items()}, "outcomes": dict(sorted(counts.items())),
              "examples": {k: v[:5] for k, v in failures.items()},
              "command": f"python benchmarks/fuzz_decoder.py --count {a.count}"}
    save_results(a.out, result)  # with its command, commit and licq version
    print(json.dumps({k: result[k] for k in ("mutants", "seconds", "failures")}, indent=2))


if __name__ == "__main__":
    main()
