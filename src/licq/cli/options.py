"""What the subcommands share: value ranges, option groups, cross-option checks, the help format."""

from __future__ import annotations

import argparse
import sys

from ..cli_args import arch_name, float_range, int_range, path_arg
from ..errors import read_bytes
from ..quantizers.spec import BY_NAME, KINDS, LAMBDA_RANGE, STEP_RANGE
from ..training.config import SATURATION_RANGE

# Value ranges of the numeric options, shared by the subcommands that take them.
STEP = float_range(*STEP_RANGE)  # the quantizers' own bounds (the registry's)
TCQ_LAMBDA = float_range(*LAMBDA_RANGE)
MAX_PIXELS = int_range(1)
LMBDA = float_range(0, 10, lo_open=True)  # CompressAI's qualities 1-8 use 0.0018 ... 0.0483
LR = float_range(0, 1, lo_open=True)
STEPS = int_range(1, 10**9)  # 0 steps would write a checkpoint of an untrained model
BATCH = int_range(1, 4096)
CROP = int_range(64, 4096, multiple=64)  # the hyperprior's total stride is 64
SEED = int_range(0, 2**32 - 1)
THREADS = int_range(1, 1024)
CHANNELS = int_range(1, 1024)
EVERY = int_range(1)
#: licq.quantizers.weighting.WEIGHTINGS, spelled out: importing it would load torch for --help
WEIGHTINGS = ("none", "channel")
#: licq.refine.EFFORTS, spelled out for the same reason (tests check they agree)
EFFORTS = (0, 1, 2, 3)


#: the ranges as the help texts say them
STEP_HELP = f"quantization step Δ in [{STEP_RANGE[0]:g}, {STEP_RANGE[1]:g}]"
LAMBDA_HELP = f"TCQ/RDOQ rate weight λ in [{LAMBDA_RANGE[0]:g}, {LAMBDA_RANGE[1]:g}]"


def zoo_range() -> str:
    """The zoo's quality levels for help texts, e.g. ``1-4`` (the manifest is read without PyTorch)."""
    from ..zoo import qualities

    q = qualities()
    return f"{q[0]}-{q[-1]}" if q == list(range(q[0], q[-1] + 1)) else ", ".join(map(str, q))


def read_input(path: str) -> bytes:
    """A whole input file; ``-`` is standard input."""
    if path == "-":
        return sys.stdin.buffer.read()
    return read_bytes(path)


#: which registered quantizers take each quantizer option (licq.quantizers.spec.KINDS says)
_TAKES = {"--states": lambda k: k.has_trellis, "--scan": lambda k: k.has_scan,
          "--tcq-lambda": lambda k: k.takes_lambda, "--weighting": lambda k: k.takes_weights}


def check_quantizer_opts(a: argparse.Namespace) -> str | None:
    """Options another quantizer takes would be silently ignored: e.g. only TCQ has a trellis
    (--states, --scan), and SQ has no rate weight (--tcq-lambda)."""
    given = {"--states": a.states is not None, "--scan": getattr(a, "scan", None) is not None,
             "--tcq-lambda": a.tcq_lambda is not None, "--weighting": getattr(a, "weighting", "none") != "none"}
    for opt, takes in _TAKES.items():
        if given[opt] and not takes(BY_NAME[a.quantizer]):
            takers = " or ".join(k.name for k in KINDS if takes(k))
            return f"argument {opt}: applies to --quantizer {takers} only, not {a.quantizer}"
    return None


def check_effort(a: argparse.Namespace) -> str | None:
    """--refine-lambda would be silently ignored without a refinement to use it."""
    if a.refine_lambda is not None and not a.effort:
        return "argument --refine-lambda: applies to --effort 1-3 only (effort 0 does not refine)"
    return None


def model_opts(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--model", type=path_arg, help="zoo model name or path to a weight file (default: zoo default)")
    sp.add_argument("--arch", type=arch_name,
                    help="architecture of a weight file: mbt2018-mean or bmshj2018-hyperprior")


def precision_opt(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"],
                    help="transforms in bf16 autocast + channels-last (entropy models stay fp32); "
                         "auto: bf16 where the CPU (AVX512-BF16/AMX) or GPU supports it")


def effort_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("--effort", type=int, choices=EFFORTS, default=0,
                   help="encoder search: 0 one pass of the analysis transform (fast); 1-3 refine the latents "
                   "for this image by gradient steps on rate + λ·distortion (slower, smaller files; "
                   "decoding unchanged)")
    p.add_argument("--refine-lambda", type=LMBDA, help="the model's training λ, which the refinement's "
                   "objective uses over Δ² (default: the zoo model's; needed for user model files)")


def run_opts(p: argparse.ArgumentParser, cfg) -> None:
    """The options of a training run, train's and finetune's alike, with the defaults of ``cfg``."""
    p.add_argument("--steps", type=STEPS, default=cfg.steps, help="optimizer steps in all (1-10^9)")
    p.add_argument("--batch", type=BATCH, default=cfg.batch, help="crops per step (1-4096)")
    p.add_argument("--crop", type=CROP, default=cfg.crop, help="crop size, a multiple of 64")
    p.add_argument("--lr", type=LR, default=cfg.lr, help="learning rate in (0, 1]")
    p.add_argument("--seed", type=SEED, default=cfg.seed, help="random seed (crops, noise)")
    p.add_argument("--threads", type=THREADS, default=cfg.threads, help="CPU threads")


def saturation_opt(p: argparse.ArgumentParser, default: float) -> None:
    p.add_argument("--saturation", type=float_range(0, 1), default=default, metavar="P",
                   help="probability of raising a crop's colour saturation {}-{}x (strongly coloured "
                        "content, against the re-encoding runaway); default 0".format(*SATURATION_RANGE))


def waves_opt(p: argparse.ArgumentParser, default: float) -> None:
    p.add_argument("--waves", type=float_range(0, 1), default=default, metavar="P",
                   help="probability that a crop is smooth colour waves instead of a photo (large, strongly "
                        "coloured oscillations, on which re-encoding raises the contrast); default 0")


def quality_balance_opt(p: argparse.ArgumentParser, default: float) -> None:
    p.add_argument("--quality-balance", type=float_range(0, 2), default=default, metavar="BETA",
                   help="channel-vr: weigh each crop's loss by (λ_ref/λ)^BETA, so the high qualities do not "
                        "dominate the shared weights (about 0.45 evens them out; default 0)")


def exclude_opt(p: argparse.ArgumentParser) -> None:
    p.add_argument("--exclude", metavar="LIST", type=path_arg,
                   help="text file of image names to hold out of training (one per line; e.g. an evaluation split "
                        "of the training pool, results/finetune/heldout.txt)")


class DefaultsHelp(argparse.HelpFormatter):
    """Help that ends each option's text with its default, where it has one and the text does not say it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        shown = not (default is None or default is False or default == "" or default is argparse.SUPPRESS)
        if action.option_strings and shown and "default" not in text:
            text += " (default: %(default)s)"
        return text
