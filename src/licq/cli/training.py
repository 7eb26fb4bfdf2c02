"""``licq train`` and ``licq finetune``."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..cli_args import arch_name, check_images, check_output_dir, float_range, int_range, path_arg, quality_value
from ..errors import LicqError
from ..quantizers.spec import ALL_STATES, NAMES as QUANTIZERS
from ..training.config import FinetuneConfig, TrainConfig
from .options import (CHANNELS, EVERY, LAMBDA_HELP, LMBDA, LR, STEP, STEP_HELP, TCQ_LAMBDA, check_quantizer_opts,
                      exclude_opt, precision_opt, quality_balance_opt, run_opts, saturation_opt,
                      waves_opt)


def _cmd_train(a: argparse.Namespace) -> None:
    from ..training.train import TrainConfig, train

    # files first: a bad folder must fail here, not in the data loader after the run folder exists
    check_output_dir(a.out)
    exclude = _names(a.exclude) if a.exclude else []
    check_images(a.data, a.crop, "training folder", f" (--crop {a.crop})", exclude=exclude)
    if a.val:
        check_images(a.val, 64, "--val folder")
    if a.warm_start and not Path(a.warm_start).is_file():
        raise LicqError(f"--warm-start file not found: {a.warm_start}")
    cfg = TrainConfig(data=a.data, out=a.out, arch=a.arch, N=a.N, M=a.M, lmbda=a.lmbda,
                      surrogate=a.surrogate, steps=a.steps, batch=a.batch, crop=a.crop, lr=a.lr,
                      seed=a.seed, threads=a.threads, checkpoint_every=a.checkpoint_every,
                      snapshot_every=a.snapshot_every, max_seconds=60 * (a.max_minutes or 0),
                      warm_start=a.warm_start, val=a.val, val_every=a.val_every, workers=a.workers,
                      saturation=a.saturation, waves=a.waves, precision=a.precision, fresh_lr=a.fresh_lr,
                      quality_balance=a.quality_balance, exclude=exclude)
    from ..training.loop import finish_distributed

    train(cfg, resume=a.resume)
    finish_distributed()
    print(f"checkpoint: {Path(a.out) / 'checkpoint.pt'}")


def _cmd_finetune(a: argparse.Namespace) -> None:
    from ..training.finetune import FinetuneConfig, finetune

    check_output_dir(a.out)
    exclude = _names(a.exclude) if a.exclude else []
    check_images(a.data, a.crop, "training folder", f" (--crop {a.crop})", exclude=exclude)
    cfg = FinetuneConfig(base=a.base, arch=a.arch, data=a.data, out=a.out, quantizer=a.quantizer,
                         states=a.states, step=a.step, tcq_lambda=a.tcq_lambda, train=a.train, lmbda=a.lmbda,
                         steps=a.steps, batch=a.batch, crop=a.crop, lr=a.lr, seed=a.seed, threads=a.threads,
                         exclude=exclude, control=a.control, precision=a.precision,
                         idempotence=a.idempotence, idempotence_generations=a.idempotence_generations,
                         anchor=a.anchor, init=a.init, saturation=a.saturation, waves=a.waves,
                         quality_balance=a.quality_balance,
                         qualities=tuple(map(float, a.qualities)) if a.qualities else None)
    from ..training.loop import finish_distributed

    decoder = finetune(cfg, resume=a.resume)
    finish_distributed()
    print(f"decoder: {decoder}")


def _names(list_file: str) -> list[str]:
    """Image file names, one per line (blank lines and # comments ignored)."""
    try:
        lines = Path(list_file).read_text().splitlines()
    except OSError as exc:
        raise LicqError(f"cannot read --exclude file {list_file}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise LicqError(f"cannot read --exclude file {list_file}: not a text file") from None
    return [Path(s.strip()).name for s in lines if s.strip() and not s.lstrip().startswith("#")]


def add_train(sub, surrogates: tuple[str, ...]) -> None:
    t = sub.add_parser("train", help="end-to-end rate-distortion training")
    t.add_argument("data", nargs="+", type=path_arg, help="folders of training images")
    t.add_argument("--out", required=True, type=path_arg, help="run folder (checkpoint.pt, log.csv, config.json)")
    T = TrainConfig  # the defaults live there
    t.add_argument("--arch", "--arch-name", dest="arch", default=T.arch, type=arch_name,
                   help="architecture to train: mbt2018-mean, bmshj2018-hyperprior or channel-vr (variable rate: every crop draws its quality and λ, --lmbda is unused) (--arch-name: old spelling)")
    t.add_argument("--N", type=CHANNELS, default=T.N, help="channels of the hyper-latent z and the transforms (1-1024)")
    t.add_argument("--M", type=CHANNELS, default=T.M, help="channels of the latent y (1-1024)")
    t.add_argument("--lmbda", type=LMBDA, default=T.lmbda, help="rate-distortion weight λ in (0, 10]")
    t.add_argument("--surrogate", default=T.surrogate, choices=surrogates,
                   help="stand-in for rounding: noise, ste (straight-through) or mixed (noise for the rate, STE into g_s)")
    run_opts(t, T)
    t.add_argument("--fresh-lr", type=LR, help="learning rate of the parameters a warm start leaves new "
                   "(channel-vr: context networks, LRP, gains); default: --lr")
    quality_balance_opt(t, T.quality_balance)
    t.add_argument("--checkpoint-every", type=EVERY, default=T.checkpoint_every, help="steps between checkpoints")
    t.add_argument("--snapshot-every", type=int_range(0), default=T.snapshot_every,
                   help="also keep half-precision weights every N steps in OUT/snapshots (learning curves)")
    t.add_argument("--max-minutes", type=float_range(0, lo_open=True),
                   help="stop after this many minutes of training (checkpointed; continue with --resume)")
    t.add_argument("--warm-start", type=path_arg, help="initialise from this checkpoint or weight file")
    t.add_argument("--resume", action="store_true", help="continue the run in --out")
    t.add_argument("--val", nargs="+", type=path_arg,
                   help="held-out image folder(s) for periodic validation (val.csv)")
    t.add_argument("--val-every", type=EVERY, default=T.val_every, help="steps between validations on --val")
    t.add_argument("--workers", type=int_range(0, 256), default=T.workers, help="DataLoader worker processes")
    exclude_opt(t)
    saturation_opt(t, T.saturation)
    waves_opt(t, T.waves)
    precision_opt(t)
    t.set_defaults(func=_cmd_train)


def add_finetune(sub) -> None:
    f = sub.add_parser("finetune", help="quantization-aware finetuning of the decoder on real quantized latents")
    f.add_argument("data", nargs="+", type=path_arg, help="folders of training images")
    f.add_argument("--base", required=True, type=path_arg,
                   help="zoo name or weight file of the end-to-end trained model")
    f.add_argument("--arch", type=arch_name, help="architecture of a weight file")
    f.add_argument("--out", required=True, type=path_arg, help="run folder (decoder.pt, decoder.json, log.csv)")
    F = FinetuneConfig  # the defaults live there
    f.add_argument("--quantizer", default=F.quantizer, choices=QUANTIZERS, help="the quantizer whose real latents the decoder learns")
    f.add_argument("--states", type=int, choices=ALL_STATES, help="TCQ trellis states (default 8)")
    f.add_argument("--step", type=STEP, help=f"{STEP_HELP} (default: the model's)")
    f.add_argument("--tcq-lambda", type=TCQ_LAMBDA, help=f"{LAMBDA_HELP} (default: the model's)")
    f.add_argument("--train", default=F.train, choices=["dec", "dec+hyperdec"], help="what is trained: g_s, or g_s and h_s")
    f.add_argument("--lmbda", type=LMBDA, help="default: the base model's λ")
    run_opts(f, F)
    exclude_opt(f)
    f.add_argument("--control", choices=["noise"],
                   help="control run: train g_s on noisy latents (the surrogate) instead of the quantizer")
    f.add_argument("--idempotence", type=float_range(0, 100), default=F.idempotence, metavar="BETA",
                   help="also train on the distortion of the decoded image encoded again, weighted BETA "
                        "(reduces generation loss)")
    f.add_argument("--idempotence-generations", type=int_range(1, 16), default=F.idempotence_generations,
                   metavar="K", help="re-encodings the idempotence term unrolls (mean of their distortions)")
    f.add_argument("--anchor", type=float_range(0, 1000), default=F.anchor, metavar="BETA",
                   help="also add BETA times the squared distance of the trained weights to the base model's "
                        "(L2-SP): keeps the decoder near the one end-to-end training gave")
    f.add_argument("--init", metavar="RUN",
                   help="start from the decoder of an earlier finetune run on the same base and parts "
                        "(a second stage, e.g. the idempotence term added to a finished run; --anchor then "
                        "keeps the weights near that decoder)")
    saturation_opt(f, F.saturation)
    waves_opt(f, F.waves)
    quality_balance_opt(f, F.quality_balance)
    f.add_argument("--qualities", type=quality_value, nargs=2, metavar=("LO", "HI"),
                   help="channel-vr: draw each crop's quality from LO-HI instead of the whole range (a stage "
                        "for part of the range, e.g. the low qualities)")
    f.add_argument("--resume", action="store_true", help="continue the run in --out")
    precision_opt(f)
    f.set_defaults(func=_cmd_finetune, check=check_quantizer_opts, parser=f)
