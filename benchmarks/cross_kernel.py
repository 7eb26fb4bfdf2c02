"""Files that decode on any machine, measured: encode under one CPU kernel set, decode under others.

PyTorch picks its CPU kernels by instruction set; ``ONEDNN_MAX_CPU_ISA`` and
``ATEN_CPU_CAPABILITY`` cap them, so one machine stands in for an AVX2 laptop or an
SSE4.1 machine. Every (image, zoo quality, quantizer) is encoded under the full
instruction set (and, as a second writer, under SSE4.1 with one thread) and decoded
under the other kernel sets; the record says whether it decoded, whether the latents
ŷ were bit-identical to the writer's, the largest pixel difference and the PSNR spread.

    python benchmarks/cross_kernel.py [--images 24] [--heldout 50] [--qualities 1,2,3,4]
        [--quantizers sq,sq-grid,rdoq,tcq8] [--writer full/2] [--readers avx2/2,sse41/1] [--out FILE]
        [--model WEIGHTS --arch channel-vr]

``--model`` measures a model file instead of the zoo; with a variable-rate model (``--arch channel-vr``)
``--qualities`` are points of its continuous knob, e.g. ``1,2.5,4,5.5,7``.

Resumable: a worker skips files already coded in ``--work``. Writes
results/portable/cross_kernel.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
KERNEL_SETS = {
    "full": {},
    "avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"},
    "avx": {"ONEDNN_MAX_CPU_ISA": "AVX", "ATEN_CPU_CAPABILITY": "default"},
    "sse41": {"ONEDNN_MAX_CPU_ISA": "SSE41", "ATEN_CPU_CAPABILITY": "default"},
}
QUANTIZERS = ("sq", "sq-grid", "rdoq", "tcq8")


def worker(mode: str, folder: Path, jobs: list[dict]) -> None:
    """Encode (``mode="encode"``) or decode every job; print one JSON line per job."""
    import numpy as np
    import licq
    from licq.codec import decode_latents
    from licq.evaluation.metrics import psnr_images
    from licq.imageio import open_image, to_rgb_array
    from licq.quantizers.spec import label_options

    for job in jobs:
        path = folder / f"{job['id']}.licq"
        original, _ = to_rgb_array(open_image(job["image"]))
        model = {"model": job["model"], "arch": job["arch"]} if job.get("model") else {}
        if mode == "encode" and not path.exists():
            kw = label_options(job["quantizer"])
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(licq.encode(original, quality=job["quality"], **model, **kw))
            tmp.rename(path)
        rec = {"id": job["id"]}
        try:
            data = path.read_bytes()
            y_hat = decode_latents(data, **model).y_hat
            pixels = np.asarray(licq.decode(data, **model).convert("RGB"))
            rec.update(ok=True, latents=hashlib.sha256(y_hat.contiguous().numpy().tobytes()).hexdigest(),
                       psnr=psnr_images(original, pixels), bytes=len(data))
            np.save(folder / f"{job['id']}.{mode}.npy", pixels) if mode == "encode" else None
            ref = folder / f"{job['id']}.encode.npy"
            if mode == "decode" and ref.exists():
                rec["max_pixel_diff"] = int(np.abs(np.load(ref).astype(np.int16) - pixels.astype(np.int16)).max())
        except licq.LicqError as exc:
            rec.update(ok=False, error=str(exc))
        print(json.dumps(rec), flush=True)


def run_worker(kernel: str, threads: int, mode: str, folder: Path, jobs: list[dict]) -> dict[str, dict]:
    env = {**os.environ, **KERNEL_SETS[kernel], "OMP_NUM_THREADS": str(threads)}
    out = subprocess.run([sys.executable, __file__, "--worker", mode, str(folder)], input=json.dumps(jobs),
                         env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{kernel} {mode} worker failed: {out.stderr[-2000:]}")
    return {r["id"]: r for r in map(json.loads, filter(None, out.stdout.splitlines()))}


def jobs_for(images: list[str], qualities: list[float], quantizers: list[str], model: str | None = None,
             arch: str | None = None) -> list[dict]:
    return [{"id": f"{Path(im).stem}-q{q:g}-{qz}", "image": im, "quality": q, "quantizer": qz, "model": model,
             "arch": arch} for im in images for q in qualities for qz in quantizers]


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], Path(sys.argv[3]), json.loads(sys.stdin.read()))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=24, help="Kodak images (default 24)")
    ap.add_argument("--heldout", type=int, default=50, help="held-out photos (results/finetune/heldout.txt)")
    ap.add_argument("--qualities", default="1,2,3,4", help="zoo qualities, or a --model's knob values")
    ap.add_argument("--model", help="a model file instead of the zoo (resolved to an absolute path)")
    ap.add_argument("--arch", help="architecture of --model (channel-vr: a variable-rate model)")
    ap.add_argument("--quantizers", default=",".join(QUANTIZERS))
    ap.add_argument("--writer", default="full/2", help="kernel set/threads of the encoder")
    ap.add_argument("--readers", default="avx2/2,sse41/1", help="kernel sets/threads of the decoders")
    ap.add_argument("--work", default="/tmp/licq-cross-kernel", help="where the files are written (resumable)")
    ap.add_argument("--out", default=str(ROOT / "results" / "portable" / "cross_kernel.json"))
    a = ap.parse_args()
    kodak = sorted(str(p) for p in (DATA / "kodak").glob("kodim*.png"))[:a.images]
    held = [str(DATA / "train" / line) for line in
            (ROOT / "results" / "finetune" / "heldout.txt").read_text().split()][:a.heldout]
    number = float if a.model else int
    model = str(Path(a.model).resolve()) if a.model else None
    jobs = jobs_for(kodak + held, [number(q) for q in a.qualities.split(",")], a.quantizers.split(","), model, a.arch)
    def kernel(spec: str) -> tuple[str, int]:
        name, threads = spec.split("/")
        if name not in KERNEL_SETS:
            raise SystemExit(f"unknown kernel set {name!r}; known: {', '.join(KERNEL_SETS)}")
        return name, int(threads)

    matrix = {kernel(a.writer): [kernel(r) for r in a.readers.split(",")]}
    t0, rows = time.time(), []
    for (writer, wthreads), readers in matrix.items():
        folder = Path(a.work) / f"{Path(a.model).stem + '-' if a.model else ''}{writer}-t{wthreads}"
        folder.mkdir(parents=True, exist_ok=True)
        written = run_worker(writer, wthreads, "encode", folder, jobs)
        for reader, rthreads in readers:
            read = run_worker(reader, rthreads, "decode", folder, jobs)
            for job in jobs:
                w, r = written[job["id"]], read[job["id"]]
                rows.append({**job, "image": Path(job["image"]).name, "writer": f"{writer}/{wthreads}t",
                             "reader": f"{reader}/{rthreads}t", "decoded": r["ok"],
                             "same_latents": r.get("latents") == w.get("latents"),
                             "max_pixel_diff": r.get("max_pixel_diff"),
                             "psnr_diff": abs(r["psnr"] - w["psnr"]) if r["ok"] else None,
                             "error": r.get("error")})
            print(f"{writer}/{wthreads}t -> {reader}/{rthreads}t: "
                  f"{sum(x['decoded'] for x in rows if x['reader'] == f'{reader}/{rthreads}t')} decoded", flush=True)
    decoded = [r for r in rows if r["decoded"]]
    summary = {
        "files": len(jobs), "pairs": len(rows), "decoded": len(decoded),
        "same_latents": sum(r["same_latents"] for r in rows),
        "max_pixel_diff": max((r["max_pixel_diff"] for r in decoded), default=None),
        "max_psnr_diff_db": max((r["psnr_diff"] for r in decoded), default=None),
        "kernel_sets": KERNEL_SETS, "matrix": {f"{w}/{t}t": [f"{r}/{rt}t" for r, rt in v] for (w, t), v in matrix.items()},
    }
    from licq.evaluation.results import save_results  # noqa: E402 - after the workers: keeps them light

    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    save_results(a.out, {"summary": summary, "seconds": round(time.time() - t0, 1), "rows": rows})
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
