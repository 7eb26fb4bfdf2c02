"""The settings of ``licq train`` and ``licq finetune``, with their defaults.

Kept apart from the training code and free of torch so that the command line
takes its defaults from here (one place) without loading torch for ``--help``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: the quantization surrogates of end-to-end training (:mod:`.surrogates`); here, free of PyTorch, for the parser
SURROGATES: tuple[str, ...] = ("noise", "ste", "mixed")

#: colour-saturation factors of the optional boost (``--saturation``; training/data.py draws from it)
SATURATION_RANGE = (1.5, 2.5)

#: the optional colour-wave crops (``--waves``; training/data.py draws from these): two plane waves
#: per channel, each of a period in WAVE_PERIODS pixels, peaks of WAVE_AMPLITUDE 8-bit levels in all
#: around a mean in WAVE_MEAN per channel, Gaussian noise of a σ in WAVE_NOISE levels
WAVE_PERIODS = (24.0, 160.0)
WAVE_AMPLITUDE = (40.0, 110.0)
WAVE_MEAN = (98.0, 158.0)
WAVE_NOISE = (0.0, 10.0)


@dataclass
class TrainConfig:
    """Everything a training run depends on (saved in config.json and the checkpoint)."""

    data: list[str]
    out: str
    arch: str = "mbt2018-mean"
    N: int = 128
    M: int = 192
    lmbda: float = 0.0067
    surrogate: str = "mixed"
    steps: int = 10_000
    batch: int = 8
    crop: int = 256
    lr: float = 1e-4
    fresh_lr: float | None = None  # lr of the parameters a warm start leaves new (None: --lr)
    quality_balance: float = 0.0  # variable rate: weight of a crop's loss (λ_ref/λ)^this (surrogates.py)
    aux_lr: float = 1e-3
    clip: float = 1.0
    lr_drop: float = 0.85  # fraction of steps after which lr is divided by 10
    seed: int = 0
    workers: int = 0
    threads: int = 2
    checkpoint_every: int = 500
    max_seconds: float = 0.0  # >0: stop (with a checkpoint) after this much training time in this call
    snapshot_every: int = 0  # >0: also keep half-precision weights every so many steps (learning curves)
    log_every: int = 50
    warm_start: str | None = None
    val: list[str] | None = None  # held-out folder(s): real-rounding RD estimate every val_every steps
    val_every: int = 1000
    val_images: int = 8
    downscale: tuple[float, float] | None = (0.5, 0.75)
    saturation: float = 0.0  # probability of a colour-saturation boost per crop (training/data.py)
    waves: float = 0.0  # probability that a crop is colour waves instead of a photo (training/data.py)
    precision: str = "auto"  # "fp32", "bf16" or "auto" (bf16 where the hardware has it)
    exclude: list[str] = field(default_factory=list)  # image file names held out of training (--exclude)
    extra: dict = field(default_factory=dict)


@dataclass
class FinetuneConfig:
    """Everything a finetuning run depends on (saved in config.json and the checkpoint)."""

    base: str
    data: list[str]
    out: str
    arch: str | None = None
    quantizer: str = "sq"
    states: int | None = None
    step: float | None = None
    tcq_lambda: float | None = None
    train: str = "dec"
    lmbda: float | None = None  # default: the base model's λ from the zoo manifest
    steps: int = 1000
    batch: int = 8
    crop: int = 128
    lr: float = 5e-5
    lr_drop: float = 0.8
    seed: int = 0
    threads: int = 2
    checkpoint_every: int = 250
    log_every: int = 25
    downscale: tuple[float, float] | None = (0.5, 0.75)
    exclude: list[str] = field(default_factory=list)  # image file names held out of training
    saturation: float = 0.0  # probability of a colour-saturation boost per crop (training/data.py)
    waves: float = 0.0  # probability that a crop is colour waves instead of a photo (training/data.py)
    idempotence: float = 0.0  # weight of the re-encoded image's distortion (generation loss)
    idempotence_generations: int = 1  # re-encodings the idempotence term unrolls (its MSE is their mean)
    anchor: float = 0.0  # weight of the squared distance of the trained tensors to the base model's (L2-SP)
    init: str | None = None  # an earlier finetune run (same base, same parts) whose decoder this one starts from
    control: str | None = None  # "noise": g_s on noisy latents instead of the quantizer (control run)
    precision: str = "auto"  # g_s in "bf16" autocast or "fp32"; the quantizing encoder side is always fp32
    quality_balance: float = 0.0  # variable rate: weight of a crop's loss (λ_ref/λ)^this, as in TrainConfig
    qualities: tuple[float, float] | None = None  # variable rate: draw each crop's quality from [lo, hi] only
    extra: dict = field(default_factory=dict)
