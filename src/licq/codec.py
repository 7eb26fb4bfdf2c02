"""Encode and decode images: the orchestration of transforms, quantizer, coder and container.

Data flows one way: image → analysis transform → hyper-analysis → entropy
bottleneck (z) → hyper-synthesis (μ, σ) → quantizer + entropy coder (y) →
container, and back in reverse. The encoder reconstructs from the *decoded*
hyper-latent and the quantizer's own ``y_hat``, running the same functions on
the same tensors as the decoder (:mod:`licq.latents`, shared with finetuning),
so its reconstruction is bit-identical to the decoder's output on the same machine.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from . import container
from .errors import LicqError, read_bytes
from .imageio import from_rgb_array, open_image, to_rgb_array
from .latents import decode_hyper, encoder_side, side_of_latents
from .models import STRIDE, LoadedModel, resolve
from .models.channel import DEFAULT_QUALITY, checked_quality, quality_lambda
from .quantizers import Quantizer, make_quantizer, quantizer_from_header
from .quantizers.defaults import quantizer_defaults
from .quantizers.weighting import encoder_weighting
from .refine import EFFORT_ITERATIONS, RefineSettings, refine_latents
from .zoo import channel_weights_record, load_zoo, missing_zoo_model, model_lambda, selected_decoder, zoo_has

ImageLike = Image.Image | np.ndarray | str | Path


@dataclass
class EncodeResult:
    data: bytes
    reconstruction: Image.Image
    bpp: float
    seconds: dict[str, float] = field(default_factory=dict)


def image_to_tensor(arr: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 array to a (1, 3, H', W') float tensor in [0, 1], edge-padded to multiples of 64.

    The codec's own input conversion, public so that benchmarks measure what it codes.
    """
    if not arr.flags.writeable:  # np.asarray(PIL image) is read-only; torch would warn
        arr = arr.copy()
    x = torch.from_numpy(arr).permute(2, 0, 1)[None].float().div_(255.0)
    h, w = x.shape[-2:]
    ph, pw = (-h) % STRIDE, (-w) % STRIDE
    return F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x



def tensor_to_uint8(x_hat: torch.Tensor, h: int, w: int) -> np.ndarray:
    """The synthesis output (1, 3, H', W') cropped to h x w and rounded to an HxWx3 uint8 array: the
    codec's own output conversion, public so that benchmarks measure what it decodes."""
    x = x_hat[0, :, :h, :w].clamp(0, 1)  # one float copy; the rest in place (big images)
    return x.mul_(255).round_().to(torch.uint8).permute(1, 2, 0).contiguous().numpy()


def index_crc(q: Quantizer, m: LoadedModel, means: torch.Tensor, scales: torch.Tensor, crc: int = 0) -> int:
    """CRC32 of the table the quantizer codes each latent with, and of a fixed grid's anchors
    (:meth:`~licq.quantizers.Quantizer.check_indexes`): the container's entropy-model check.
    ``crc`` continues the CRC of earlier channel groups."""
    idx = np.ascontiguousarray(q.check_indexes(means, scales, m.entropy).numpy(), dtype="<i4")  # any endianness
    return zlib.crc32(idx.tobytes(), crc)


def is_variable_rate(m: LoadedModel) -> bool:
    """Whether the model takes a quality (:mod:`licq.models.channel`)."""
    return bool(getattr(m.net, "variable_rate", False))


def model_and_rate(model: str | None, quality: float | None, arch: str | None) -> tuple[LoadedModel, float | None]:
    """The model a call means and, for a variable-rate model, the quality it codes at.

    Without a model, ``quality`` picks a zoo model; with a variable-rate model it is the model's
    continuous quality (default :data:`~licq.models.channel.DEFAULT_QUALITY`); with any other model
    it is refused.
    """
    if model is None:
        m = resolve(None, quality, arch)
        return m, (checked_quality(DEFAULT_QUALITY if quality is None else quality) if is_variable_rate(m) else None)
    m = resolve(model, arch=arch)
    if is_variable_rate(m):
        return m, checked_quality(DEFAULT_QUALITY if quality is None else quality)
    if quality is not None:
        raise LicqError("give either a model or a quality, not both (a quality names a zoo model; only a "
                        "variable-rate model takes both)")
    return m, None


def encode_groups(m: LoadedModel, q: Quantizer, y: torch.Tensor, means: torch.Tensor, scales: torch.Tensor
                  ) -> tuple[list[bytes], torch.Tensor, int]:
    """Quantize and code a channel-conditional model's latents group by group: (one string per group,
    ŷ, the entropy-model check of every group's indexes)."""
    strings: list[bytes] = []
    crc = 0

    def group(k: int, sl: slice, group_means: torch.Tensor, group_scales: torch.Tensor) -> torch.Tensor:
        nonlocal crc
        crc = index_crc(q, m, group_means, group_scales, crc)
        ql = q.encode(y[:, sl], group_means, group_scales, m.entropy)
        strings.append(ql.data)
        return ql.y_hat

    return strings, m.net.code_groups(means, scales, group), crc


def decode_groups(m: LoadedModel, q: Quantizer, strings: list[bytes], means: torch.Tensor,
                  scales: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Inverse of :func:`encode_groups`: (ŷ, the entropy-model check of the indexes it decoded with)."""
    crc = 0

    def group(k: int, sl: slice, group_means: torch.Tensor, group_scales: torch.Tensor) -> torch.Tensor:
        nonlocal crc
        crc = index_crc(q, m, group_means, group_scales, crc)
        return q.decode(strings[k], group_means, group_scales, m.entropy)

    return m.net.code_groups(means, scales, group), crc


def encode_full(image: ImageLike, model: str | None = None, *, quality: int | None = None,
                arch: str | None = None, quantizer: str = "sq", step: float | None = None,
                states: int | None = None, tcq_lambda: float | None = None,
                scan: str | None = None, max_pixels: int | None = None,
                finetuned: str | None = None, weighting: str = "none", effort: int = 0,
                refine_lambda: float | None = None, strip: bool = False,
                progress: Callable[[int], None] | None = None) -> EncodeResult:
    """Encode an image; also return the reconstruction the decoder will produce, bpp and timings.

    Unset quantizer parameters take the model's defaults (:func:`licq.quantizers.defaults.quantizer_defaults`).
    ``finetuned`` ("dec" or "dec+hyperdec") switches to the zoo decoder finetuned from the chosen
    model for this quantizer; the header then names that decoder. ``"auto"`` (the CLI's default)
    takes the ``dec`` decoder where the zoo has one for this model and quantizer (they beat the
    base decoders on Kodak and held-out images), else the base model. ``weighting="channel"`` weighs the
    TCQ / RDOQ distortion per channel by the synthesis transform's sensitivity, measured on the base
    model (:mod:`licq.quantizers.weighting`; λ keeps its defaults: the λ derived from the training λ
    measured about 4x too large); the decoder does not need it.
    ``effort`` 1-3 refines the latents for this image before quantizing them (:mod:`licq.refine`),
    against the decoder the file names and the model's training λ over Δ² (``refine_lambda`` for a user's
    model file); ``progress`` is called with 1 after each refinement iteration. A variable-rate
    model (``--arch channel-vr``) codes at ``quality``, any number in its range (:func:`model_and_rate`).
    """
    t0 = time.perf_counter()
    m, rate = model_and_rate(model, quality, arch)
    if rate is not None and weighting != "none":
        raise LicqError("--weighting is not available for channel-conditional models yet")
    weights, _ = encoder_weighting(weighting, quantizer, m.name, m.digest,  # λ: the usual defaults
                                   channel_weights_record(m.name))
    variant = selected_decoder(m.name, quantizer, states, finetuned, rate)
    if variant:
        m = load_zoo(variant)
    q = make_quantizer(quantizer, **quantizer_defaults(m.name, quantizer, step, states, tcq_lambda),
                       scan=scan, weights=weights)
    if isinstance(image, (str, Path)):
        image = open_image(image)
    source = image
    arr, layout = to_rgb_array(image)
    h, w = arr.shape[:2]
    if max_pixels is not None and h * w > max_pixels:
        raise LicqError(f"image of {w}x{h} pixels exceeds the limit of {max_pixels} pixels "
                        "(raise it with --max-pixels)")
    if h == 0 or w == 0:
        raise LicqError("empty image")
    t1 = time.perf_counter()
    x = image_to_tensor(arr)
    gains = m.net.gains(torch.tensor([rate])) if rate is not None else None
    if effort:
        y, z = refine_latents(m.net, x, h, w, refine_settings(m, q, effort, refine_lambda, rate), progress, gains)
    with torch.inference_mode():
        if rate is None:
            side = side_of_latents(m.net, y, z) if effort else encoder_side(m.net, x)
            del x
            crc = index_crc(q, m, side.means, side.scales)
            ql = q.encode(side.y, side.means, side.scales, m.entropy)
            y_strings, synthesis_input = [ql.data], ql.y_hat
        else:
            gain, inverse_gain = gains
            side = side_of_latents(m.net, y, z) if effort else encoder_side(m.net, x, gain)
            del x
            y_strings, y_hat, crc = encode_groups(m, q, side.y, side.means, side.scales)
            synthesis_input = m.net.synthesis_input(y_hat, side.means, inverse_gain)
        z_string = side.z_strings[0]
        del side  # big images: y, μ and σ are no longer needed
        t2 = time.perf_counter()
        recon = tensor_to_uint8(m.net.synthesis(synthesis_input), h, w)
    header = container.Header(m.name, m.digest, *q.spec().to_header(), h, w, layout, crc, quality=rate)
    meta = {} if strip or not isinstance(source, Image.Image) else image_metadata(source)
    data = container.pack(header, [z_string, *y_strings] + ([container.pack_metadata(meta)] if meta else []))
    t3 = time.perf_counter()
    return EncodeResult(data, with_metadata(from_rgb_array(recon, layout), meta), 8 * len(data) / (h * w),
                        {"load": t1 - t0, "encode": t2 - t1, "reconstruct": t3 - t2})


def image_metadata(image: Image.Image) -> dict[str, bytes]:
    """The metadata a file carries for ``image``: its ICC profile and EXIF block, where it has them."""
    return {key: bytes(image.info[key]) for key in container.METADATA_TAGS.values()
            if isinstance(image.info.get(key), (bytes, bytearray)) and image.info[key]}


def with_metadata(image: Image.Image, metadata: dict[str, bytes]) -> Image.Image:
    """``image`` with the metadata a file carried in its ``info``, as Pillow's savers read it."""
    image.info.update(metadata)
    return image


def refine_settings(m: LoadedModel, q: Quantizer, effort: int, lmbda: float | None,
                    rate: float | None = None) -> RefineSettings:
    """Refinement of an ``effort`` level for model ``m``: its training λ unless given (a variable-rate
    model's: that of the file's quality ``rate``), the quantizer's grid.

    The latents are annealed onto the quantizer's :attr:`~licq.quantizers.Quantizer.refine_step` grid.
    The training λ is the RD slope of the model's own operating point, SQ with Δ = 1; a step Δ
    moves the operating point to where distortion costs 1/Δ² times more per bit (high-rate scalar
    quantization: D ∝ Δ², dD/dR ∝ D), so the search uses λ/Δ². With the training λ, TCQ at the
    zoo's Δ = 0.5 slid down its RD curve instead of above it (+0.4 % BD-rate at effort 1 against
    effort 0 on 6 Kodak images; λ·2 −0.6 %, λ·4 −0.6 %: results/refine/lambda-scale-tcq8-e1.json).
    """
    if effort not in EFFORT_ITERATIONS:
        raise LicqError(f"effort must be one of {', '.join(map(str, EFFORT_ITERATIONS))}, got {effort!r}")
    if lmbda is None:
        lmbda = model_lambda(m.name) if rate is None else float(quality_lambda(torch.tensor([rate]))[0])
    if lmbda is None:
        raise LicqError(f"the training λ of {m.name} is unknown; pass it for refinement (--refine-lambda)")
    return RefineSettings(EFFORT_ITERATIONS[effort], float(lmbda) / q.refine_step ** 2, q.refine_step, q.fixed_grid)


def encode(image: ImageLike, model: str | None = None, **kwargs) -> bytes:
    """Encode an image (PIL image, HxWx3 uint8 array or path) into ``.licq`` bytes."""
    return encode_full(image, model, **kwargs).data


def decode(data: bytes | str | Path, model: str | None = None, *, arch: str | None = None,
           max_pixels: int = container.DEFAULT_MAX_PIXELS) -> Image.Image:
    """Decode ``.licq`` bytes or a ``.licq`` file. The model is taken from the header unless given."""
    d = decode_latents(data, model, arch=arch, max_pixels=max_pixels)
    with torch.inference_mode():
        recon = tensor_to_uint8(d.model.net.synthesis(d.synthesis_input), d.header.height, d.header.width)
    return with_metadata(from_rgb_array(recon, d.header.layout), d.metadata)


def read_stream(data: bytes | bytearray | memoryview | str | Path) -> bytes:
    """The bytes of a ``.licq`` stream given as bytes or as a path; anything else is a LicqError."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, (str, Path)):
        return read_bytes(data)
    raise LicqError(f"expected .licq bytes or a path, got {type(data).__name__}")


class DecodedLatents(NamedTuple):
    """What :func:`decode_latents` returns."""

    header: container.Header
    model: LoadedModel
    y_hat: torch.Tensor  #: the quantized latents, bit-identical on every machine
    metadata: dict[str, bytes]  #: the image's ICC profile and EXIF block, where the file carries them
    synthesis_input: torch.Tensor  #: what g_s reads: ``y_hat``, or for a variable-rate model its LRP and inverse gain


_CHECK_FAILED = ("entropy-model check failed: the hyper-decoder selects other probability tables "
                 "(or grid anchors) than the encoder did: the hyper-latent stream is corrupt or "
                 "this install's model or tables differ from the writer's; refusing to decode "
                 "rather than output a corrupted image")


def decode_latents(data: bytes | str | Path, model: str | None = None, *, arch: str | None = None,
                   max_pixels: int = container.DEFAULT_MAX_PIXELS) -> DecodedLatents:
    """The entropy-decoding half of :func:`decode`: header, model, the latents ``ŷ`` and the image's metadata.

    Everything up to ``ŷ`` is exact arithmetic on integers (the integer hyper-decoder and context
    networks, shipped tables, fixed-point μ), so ``ŷ`` is bit-identical on every machine; only the
    synthesis transform that follows (and a variable-rate model's LRP before it) is floating point.
    """
    header, streams = container.unpack(read_stream(data), max_pixels=max_pixels)
    m = model_for(header, model, arch)
    if (header.quality is None) == is_variable_rate(m):
        raise LicqError(f"corrupt file: {m.name} is {'' if is_variable_rate(m) else 'not '}a variable-rate model "
                        f"but the header {'lacks' if header.quality is None else 'has'} a quality")
    groups = len(m.net.slices) if header.quality is not None else 1
    if len(streams) not in (1 + groups, 2 + groups):
        raise LicqError(f"corrupt file: expected {1 + groups} or {2 + groups} sub-streams, found {len(streams)}")
    meta = container.unpack_metadata(streams[-1]) if len(streams) == 2 + groups else {}  # before any decoding
    q = quantizer_from_header(header.quantizer, header.states, header.step, header.tcq_lambda)
    hp, wp = -(-header.height // STRIDE) * STRIDE, -(-header.width // STRIDE) * STRIDE
    with torch.inference_mode():
        means, scales = m.net.hyper(decode_hyper(m.net, [streams[0]], (hp // STRIDE, wp // STRIDE)))
        if header.quality is None:
            if index_crc(q, m, means, scales) != header.index_crc:
                raise LicqError(_CHECK_FAILED)
            y_hat = q.decode(streams[1], means, scales, m.entropy)
            return DecodedLatents(header, m, y_hat, meta, y_hat)
        y_hat, crc = decode_groups(m, q, streams[1:1 + groups], means, scales)
        if crc != header.index_crc:
            raise LicqError(_CHECK_FAILED)
        inverse_gain = m.net.gains(torch.tensor([header.quality]))[1]
        return DecodedLatents(header, m, y_hat, meta, m.net.synthesis_input(y_hat, means, inverse_gain))


def model_for(header: container.Header, model: str | None, arch: str | None) -> LoadedModel:
    """The model a stream needs, checked against the digest in its header."""
    if model is None:
        if header.model_name.startswith("@"):
            raise LicqError(f"this file was encoded with a user model file ({header.model_name[1:]}, "
                            f"digest {header.model_digest.hex()}); pass it with --model PATH "
                            f"--arch {header.model_name[1:]}")
        if not zoo_has(header.model_name, header.model_digest):
            raise LicqError(missing_zoo_model(header.model_name, header.model_digest.hex(), header.writer))
        m = resolve(header.model_name)
    else:
        if arch is None and header.model_name.startswith("@"):
            arch = header.model_name[1:]
        m = resolve(model, arch=arch)
    if m.digest != header.model_digest:
        raise LicqError(f"model mismatch: the file needs {header.model_name} with digest "
                        f"{header.model_digest.hex()}, but {m.name} has digest {m.digest.hex()}")
    return m
