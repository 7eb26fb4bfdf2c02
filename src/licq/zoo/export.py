"""Add a trained checkpoint to the shipped zoo (maintainers' tool).

    python -m licq.zoo.export runs/q3/checkpoint.pt --name licq-q3 --quality 3 [--default]
        [--with-decoder FINETUNE_RUN]
    python -m licq.zoo.export runs/vr/checkpoint.pt --name licq-vr   # a variable-rate model: no --quality
    python -m licq.zoo.export runs/q3/checkpoint.pt --with-decoder FINETUNE_RUN --candidate merged.pt
    python -m licq.zoo.export licq-vr --with-decoder FINETUNE_RUN --candidate merged.pt   # on the shipped model

Writes ``<name>.pt`` (half precision) next to the manifest and adds or replaces
the manifest entry with the sha256, the training config and step count.
``--with-decoder`` ships the checkpoint with the decoder of a ``licq finetune``
run on that very checkpoint laid over it (one model file, not a base plus a
decoder file), and records the finetuning beside the training. ``--candidate FILE``
writes that merged model to FILE instead (half precision, as shipped), for measuring it before it is shipped.

Weights replaced under a name (and, for a base model, those of its finetuned decoders, which no
longer load on the new base) are listed in ``retired.json`` under this tree's release, the one that
ships them: a file written with them then fails with "it ships with licq X". Export before the
version is bumped for the next release. A replaced base's finetuned decoders then leave the
manifest and the zoo folder; finetune and export them again on the new weights.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..atomic import atomic_write_bytes
from ..errors import LicqError
from ..models import build_model, model_digest, state_dict_from_file
from ..models.io import infer_sizes, load_model_object, load_params, read_model_bytes, save_weights, state_dict_of
from ..version import __version__
from . import MANIFEST, RETIRED, ZOO_DIR, checked_state, header_digest, load_zoo

if TYPE_CHECKING:
    from torch import nn


def training_seconds(log_csv: Path) -> float | None:
    """Wall time of a run from its log.csv, summed over resumed segments (seconds restart at 0)."""
    if not log_csv.exists():
        return None
    total, last = 0.0, 0.0
    for line in log_csv.read_text().splitlines()[1:]:
        sec = float(line.split(",")[-1])
        if sec < last:
            total += last
        last = sec
    return round(total + last, 1)


def run_seconds(run: Path, meta: dict) -> float | None:
    """Wall time of a finetune run, with that of the earlier stages it started from (``--init``
    records theirs, all of them, as ``init.wall_seconds``)."""
    seconds = training_seconds(run / "log.csv")
    earlier = meta["init"].get("wall_seconds") if meta.get("init") else 0.0
    return None if seconds is None or earlier is None else round(seconds + earlier, 1)


def command_of(cfg: dict) -> str:
    """The ``licq train`` command line that reproduces a run's config."""
    parts = ["licq train", *cfg["data"], "--out", cfg["out"], "--N", str(cfg["N"]), "--M", str(cfg["M"]),
             "--lmbda", str(cfg["lmbda"]), "--steps", str(cfg["steps"]), "--batch", str(cfg["batch"]),
             "--crop", str(cfg["crop"]), "--lr", str(cfg["lr"]), "--surrogate", cfg["surrogate"]]
    if cfg.get("arch", "mbt2018-mean") != "mbt2018-mean":
        parts += ["--arch", cfg["arch"]]
    if cfg.get("fresh_lr") is not None:
        parts += ["--fresh-lr", str(cfg["fresh_lr"])]
    if cfg.get("quality_balance"):
        parts += ["--quality-balance", str(cfg["quality_balance"])]
    if cfg.get("precision"):
        parts += ["--precision", cfg["precision"]]
    if cfg.get("saturation"):
        parts += ["--saturation", str(cfg["saturation"])]
    if cfg.get("waves"):
        parts += ["--waves", str(cfg["waves"])]
    if cfg.get("warm_start"):
        parts += ["--warm-start", cfg["warm_start"]]
    return " ".join(parts)


def require_base(run: str | Path, meta: dict, digest: str) -> None:
    """Refuse a finetune run (its ``decoder.json``) made on other base weights than ``digest``."""
    if meta["base_digest"] != digest:
        raise LicqError(f"{run} was finetuned from another model: another version of {meta['base']} "
                        f"(digest {meta['base_digest']}, not {digest})")


def read_decoder_run(run: Path) -> tuple[dict, dict, bytes]:
    """A ``licq finetune`` run's record (``decoder.json``), its decoder's tensors and the
    bytes of ``decoder.pt`` (the zoo ships that file as it is)."""
    try:
        meta = json.loads((run / "decoder.json").read_text())
    except (FileNotFoundError, NotADirectoryError):
        raise LicqError(f"{run} is not a finished finetune run (no decoder.json)") from None
    path = run / "decoder.pt"
    data = read_model_bytes(path)
    return meta, state_dict_of(load_model_object(path, data), path), data


def lay_decoder(state: dict, run: Path) -> tuple[dict, dict]:
    """``state`` with a finetune run's tensors laid over it, and the run's record for the manifest."""
    meta, tensors, _ = read_decoder_run(run)
    require_base(run, meta, model_digest(state)[:16])
    record = {"train": meta["train"], "steps": meta["steps"], "quantizer": meta["quantizer"],
              "wall_seconds": run_seconds(run, meta), "config": _brief(meta["config"])}
    return {**state, **tensors}, record


def _load_checkpoint(checkpoint: str, decoder_run: str | None) -> tuple[dict, nn.Module, dict | None]:
    """The training checkpoint, its model (a finetune run's decoder laid over it where given) and
    that run's record for the manifest."""
    ck = load_model_object(checkpoint)
    state = state_dict_of(ck, checkpoint)  # the checkpoint is read once: it can be 80 MB; a dict, or refused
    finetuned = None
    if decoder_run:
        state, finetuned = lay_decoder(state, Path(decoder_run))
    return ck, _model_of(state, ck.get("config", {}).get("arch", "mbt2018-mean")), finetuned


def _model_of(state: dict, arch: str) -> nn.Module:
    N, M = infer_sizes(state)
    model = build_model(arch, N, M)
    load_params(model, state)
    return model


def write_candidate(checkpoint: str, decoder_run: str, out: str) -> str:
    """Write ``checkpoint`` with a finetune run's decoder laid over it, in half precision.

    The file holds the very values ``--with-decoder`` would ship, for the adoption checks
    (recompression, synthetic drift) to measure before anything enters the zoo: ten generations
    amplify the rounding to half precision into end points that move by up to 0.8 dB on single
    synthetic images, so a float32 candidate could pass where its shipped file fails. Returns its sha256.
    ``checkpoint`` may also name a zoo model (not a path): its shipped weights, for a decoder
    finetuned with ``--base NAME`` on the model as shipped.
    """
    from . import entry as zoo_entry

    if not Path(checkpoint).exists() and checkpoint in {m["name"] for m in _load_manifest()["models"]}:
        e = zoo_entry(checkpoint)
        if "base" in e:
            raise LicqError(f"{checkpoint} is a finetuned decoder: name its base model")
        state, _ = lay_decoder(checked_state(e), Path(decoder_run))
        model = _model_of(state, e["arch"])
    else:
        _, model, _ = _load_checkpoint(checkpoint, decoder_run)
    return save_weights(model, out, half=True)


def export(checkpoint: str, name: str, quality: int | None, default: bool, notes: str = "",
           decoder_run: str | None = None) -> dict:
    ck, model, finetuned = _load_checkpoint(checkpoint, decoder_run)
    cfg = ck.get("config", {})
    arch = cfg.get("arch", "mbt2018-mean")
    file = f"{name}.pt"
    before = shipped_digests(name)
    sha = save_weights(model, ZOO_DIR / file, half=True)
    half_state = state_dict_from_file(ZOO_DIR / file)
    N, M = infer_sizes(half_state)
    entry = {"name": name, "arch": arch, "N": N, "M": M, "lmbda": cfg.get("lmbda"),
             "quality": quality, "file": file, "sha256": sha,
             "digest": model_digest(half_state)[:16], "steps": ck.get("step"),
             "training": {"command": command_of(cfg), "wall_seconds": training_seconds(
                 Path(checkpoint).parent / "log.csv"), "machine": "2 CPU cores (no GPU)",
                 **{k: cfg.get(k) for k in ("data", "surrogate", "batch", "crop", "lr", "seed", "warm_start",
                                            "precision", "saturation")},
                 **({"waves": cfg["waves"]} if cfg.get("waves") else {}),
                 **({"exclude": _brief(cfg)["exclude"]} if cfg.get("exclude") else {})},
             **({"decoder_finetune": finetuned} if finetuned else {}),
             "notes": notes}
    if getattr(model, "variable_rate", False):  # one model for a range of qualities: no λ, no level of its own
        from ..models.channel import QUALITY_LAMBDAS, QUALITY_RANGE

        entry.update(lmbda=None, quality=None, quality_range=list(QUALITY_RANGE),
                     lambda_range=[QUALITY_LAMBDAS[0], QUALITY_LAMBDAS[-1]])
    # a retrained model keeps its name's swept TCQ defaults until benchmarks/release/tcq_sweep.py sweeps it again:
    # without them TCQ would silently fall back to the generic Δ and λ
    replaced = next((m for m in _load_manifest()["models"] if m["name"] == name), {})
    entry.update({k: replaced[k] for k in ("tcq", "tcq_source") if k in replaced})
    _put_entry(entry, default=default)
    retire(before, shipped_digests(name))
    drop_stale_decoders(name)
    return entry


def drop_stale_decoders(base: str) -> list[str]:
    """Remove from the manifest and the zoo folder the finetuned decoders of ``base`` learnt on weights it
    no longer ships (:func:`retire` has listed them): they cannot load on the new base, and the next
    release's decoder is exported anew. Returns their names."""
    man = _load_manifest()
    digest = next(m["digest"] for m in man["models"] if m["name"] == base)
    stale = [m for m in man["models"] if m.get("base") == base and m["base_digest"] != digest]
    if stale:
        man["models"] = [m for m in man["models"] if m not in stale]
        _save_manifest(man)
        for m in stale:
            (ZOO_DIR / m["file"]).unlink(missing_ok=True)
        load_zoo.cache_clear()
    return [m["name"] for m in stale]


def shipped_digests(name: str) -> dict[str, str]:
    """The header digests (:func:`licq.zoo.header_digest`) of the weights the zoo ships under ``name``
    and, for a base model, under its finetuned decoders: ``{digest: model name}``."""
    load_zoo.cache_clear()
    out = {}
    for e in _load_manifest()["models"]:
        if e["name"] == name or e.get("base") == name:
            try:
                out[header_digest(e["name"])] = e["name"]
            except LicqError:  # its file is gone, or its base was replaced: it no longer ships
                pass
    load_zoo.cache_clear()
    return out


def retire(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """List in ``retired.json``, under this tree's release, the digests of ``before`` that ``after``
    no longer ships (both from :func:`shipped_digests`). Returns the digests added."""
    path = ZOO_DIR / RETIRED.name  # beside the manifest being written
    record = json.loads(path.read_text()) if path.exists() else {
        "about": "zoo models no longer shipped, by the first 8 bytes of their parameter digest, with the licq "
                 "release whose files name them; a file that needs one fails with that release in its message",
        "models": {}}
    added = [d for d in before if d not in after and d not in record["models"]]
    for d in added:
        record["models"][d] = {"model": before[d], "release": __version__}
    if added:
        atomic_write_bytes(path, (json.dumps(record, indent=1) + "\n").encode())
    return added


def _load_manifest() -> dict:
    return json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {"default": None, "models": []}


def _save_manifest(man: dict) -> None:
    atomic_write_bytes(MANIFEST, (json.dumps(man, indent=2) + "\n").encode())


def _put_entry(entry: dict, default: bool = False) -> None:
    """Add or replace a manifest entry (models by quality, then the variable-rate ones, then finetuned decoders)."""
    man = _load_manifest()
    man["models"] = [m for m in man["models"] if m["name"] != entry["name"]] + [entry]
    man["models"].sort(key=lambda m: ("base" in m, m.get("quality") or float("inf"), m["name"]))
    if default or not man.get("default"):
        man["default"] = entry["name"]
    _save_manifest(man)


def _brief(config: dict) -> dict:
    """The run config for the manifest, with a held-out name list reduced to its size."""
    out = dict(config)
    if out.get("exclude"):
        out["exclude"] = f"{len(out['exclude'])} images held out"
    return out


#: the parts a finetuned decoder file can hold (the first component of its tensors' names), as notes name them
PART_NAMES = {"g_s": "g_s", "h_s": "h_s", "lrp": "latent residual prediction", "inverse_gain": "inverse gains",
              "context": "context networks"}


def describe_finetune(meta: dict, parts: list[str] | None = None) -> str:
    """One line saying how a finetuned decoder was trained, from its own ``decoder.json`` and the
    ``parts`` its file holds (default: g_s, with h_s for ``dec+hyperdec``, as the mean-scale models train).

    The default notes of an exported decoder, so that re-exporting one never leaves them empty.
    """
    cfg = meta["config"]
    q = meta["quantizer"]
    if q == "tcq":
        setting = f"TCQ-{meta['states']} latents (Δ {meta['step']:g}, λ {meta['tcq_lambda']:g})"
    elif q == "sq-grid":
        setting = f"fixed-grid SQ latents (Δ {meta['step']:g})"
    else:
        setting = f"{q.upper()} latents" + (f" (Δ {meta['step']:g})" if meta.get("step") not in (None, 1) else "")
    names = [PART_NAMES.get(x, x) for x in parts or (["g_s"] if meta["train"] == "dec" else ["g_s", "h_s"])]
    trained = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    source = "noisy (control run)" if meta.get("control") else "real"
    text = f"{meta['steps']} steps on {source} {setting}, lr {cfg['lr']:g}"
    drop = cfg.get("lr_drop")
    if drop is not None and drop < 1:
        text += f" (the last {round(100 * (1 - drop))} % at {cfg['lr'] / 10:g})"
    text += f", crop {cfg['crop']}"
    if cfg.get("idempotence"):
        text += f", idempotence term β {cfg['idempotence']:g}"
        if cfg.get("idempotence_generations", 1) > 1:
            text += f" over {cfg['idempotence_generations']} generations"
    if cfg.get("anchor"):
        text += f", anchored to the base decoder with β {cfg['anchor']:g}"
    if cfg.get("saturation"):
        text += f", saturation boost {cfg['saturation']:g}"
    if cfg.get("waves"):
        text += f", colour-wave crops {cfg['waves']:g}"
    if cfg.get("quality_balance"):
        text += f", quality balance {cfg['quality_balance']:g}"
    if cfg.get("qualities"):
        text += f", qualities {cfg['qualities'][0]:g}–{cfg['qualities'][1]:g} only"
    if cfg.get("exclude"):
        text += ", held-out list excluded"
    if meta.get("init"):  # a second stage: say the first one, then this one
        return f"{describe_finetune(meta['init'], parts)}; then {text}"
    return f"{trained} finetuned {text}"


def export_decoder(run: str, name: str, notes: str = "", auto_qualities: tuple[float, float] | None = None) -> dict:
    """Add a finetuned decoder (``licq finetune`` output folder) to the zoo, tied to its base model.

    Without ``notes`` the entry says how the decoder was trained (:func:`describe_finetune`).
    ``auto_qualities`` (a variable-rate base only): the qualities where ``--finetuned auto`` picks it,
    those where it passed the adoption rule (:func:`licq.zoo.selected_decoder`).
    """
    from . import entry as zoo_entry

    run_dir = Path(run)
    meta, tensors, data = read_decoder_run(run_dir)
    parts = list(dict.fromkeys(k.split(".")[0] for k in tensors))  # in the file's order
    base = zoo_entry(meta["base"])
    require_base(run, meta, base["digest"])
    if auto_qualities is not None:
        lo, hi = base.get("quality_range") or (None, None)
        if lo is None:
            raise LicqError(f"--auto-qualities: {base['name']} has one quality")
        if not lo <= auto_qualities[0] <= auto_qualities[1] <= hi:
            raise LicqError(f"--auto-qualities must be LO HI with {lo:g} <= LO <= HI <= {hi:g}")
    file = f"{name}.pt"
    before = shipped_digests(name)
    atomic_write_bytes(ZOO_DIR / file, data)
    e = {"name": name, "base": base["name"], "base_digest": base["digest"], "arch": base["arch"],
         "N": base["N"], "M": base["M"],
         "lmbda": meta["lmbda"], "quality": None, "file": file, "sha256": hashlib.sha256(data).hexdigest(),
         "train": meta["train"], "control": meta.get("control"), "steps": meta["steps"],
         "decoder_for": {k: meta[k] for k in ("quantizer", "step", "states", "tcq_lambda")},
         "training": {"wall_seconds": run_seconds(run_dir, meta),
                      "config": _brief(meta["config"])},
         "notes": notes or describe_finetune(meta, parts)}
    if auto_qualities is not None:
        e["auto_qualities"] = [float(q) for q in auto_qualities]
    _put_entry(e)
    retire(before, shipped_digests(name))
    return e


def set_tcq_defaults(name: str, best: dict, source: str) -> None:
    """Record a model's swept TCQ defaults (``{"4": {"step", "tcq_lambda", ...}, "8": ...}``)."""
    man = _load_manifest()
    for m in man["models"]:
        if m["name"] == name:
            m["tcq"] = {k: {"step": v["step"], "tcq_lambda": v["tcq_lambda"]} for k, v in best.items()}
            m["tcq_source"] = source
    _save_manifest(man)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("checkpoint", help="training checkpoint, or a finetune run folder with --decoder "
                                      "(with --candidate also a zoo model's name)")
    p.add_argument("--decoder", action="store_true", help="add a finetuned decoder (licq finetune --out DIR)")
    p.add_argument("--name", help="zoo name to add (required unless --candidate)")
    p.add_argument("--quality", type=int)
    p.add_argument("--default", action="store_true")
    p.add_argument("--notes", default="")
    p.add_argument("--auto-qualities", type=float, nargs=2, metavar=("LO", "HI"),
                   help="with --decoder on a variable-rate model: the qualities where --finetuned auto picks it")
    p.add_argument("--with-decoder", metavar="RUN", help="lay this licq finetune run's decoder over the checkpoint")
    p.add_argument("--candidate", metavar="FILE",
                   help="with --with-decoder: only write the merged weights to FILE (half precision, as "
                        "shipped) for measuring them; the zoo is not touched")
    a = p.parse_args()
    try:
        _run(p, a)
    except LicqError as exc:
        sys.exit(f"export: {exc}")


def _run(p: argparse.ArgumentParser, a: argparse.Namespace) -> None:
    if a.candidate:
        if not a.with_decoder or a.decoder:
            p.error("--candidate needs --with-decoder RUN and a training checkpoint or zoo model")
        print(f"{a.candidate}: sha256 {write_candidate(a.checkpoint, a.with_decoder, a.candidate)}")
        return
    if not a.name:
        p.error("--name is required")
    if a.auto_qualities and not a.decoder:
        p.error("--auto-qualities is for a decoder (--decoder)")
    if a.decoder:
        print(json.dumps(export_decoder(a.checkpoint, a.name, a.notes, a.auto_qualities), indent=2))
    else:
        print(json.dumps(export(a.checkpoint, a.name, a.quality, a.default, a.notes, a.with_decoder), indent=2))


if __name__ == "__main__":
    main()
