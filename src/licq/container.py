"""The ``.licq`` file container.

Layout (all integers big-endian)::

    offset  size  field
    0       4     magic  b"LICQ"
    4       1     format version (3, or 4 for a variable-rate model)
    5       1     v = length of the writer's version
    6       v     the licq release that wrote the file (ASCII, e.g. "0.2.0")
    ..      1     n = length of the model name
    ..      n     model name (ASCII): a zoo name, or "@<arch>" for a user's weight file
    ..      8     model digest: first 8 bytes of the sha256 of its parameters
    ..      1     quantizer code (0 = SQ, 1 = TCQ row scan, 2 = TCQ raster scan, 3 = RDOQ; the registry
                  licq.quantizers.spec.KINDS)
    ..      1     trellis states (0 for SQ and RDOQ)
    ..      4     step Δ (float32)
    ..      4     λ of TCQ or RDOQ (float32; 0 for SQ; RDOQ's decoder does not use it)
    ..      4     image height
    ..      4     image width
    ..      1     channel layout (0 = RGB, 1 = grayscale)
    ..      2     format 4 only: the quality of a variable-rate model, times 100
    ..      4     entropy-model check: CRC32 of the probability-table index of every latent
                  (and of a fixed grid's anchors)
    ..      1     k = number of sub-streams
    ..      4k    length of each sub-stream
    ..      4     CRC32 of every byte before it and of the payload
    ..            payload: the k sub-streams back to back: hyper-latent z, latents y (one sub-stream
                  per channel group of a channel-conditional model), and last, optionally, the image's
                  metadata: records of a 4-byte tag (b"ICCP" ICC profile, b"EXIF"
                  EXIF block), a u32 length and the bytes, carried through unchanged

Every field is checked before anything is allocated from it; any violation
raises :class:`~licq.errors.LicqError` naming the problem.

Format 4 differs from 3 only by the quality field; fixed-rate models still write format 3, which
licq 0.2.0 reads. Files of both formats decode on any machine: the table indexes come from the integer
hyper-decoder (:mod:`licq.models.integer`) and shipped integer tables, the same
everywhere. The entropy-model check stays as a guard: the decoder recomputes the
CRC from its own indexes and refuses to decode when it differs (a corrupt
hyper-latent stream, a damaged install), so a mismatch is an error, never a
corrupted image. Formats 1 and 2 (licq 0.1.0) took the indexes from a
floating-point hyper-decoder, which on another machine type could pick other
tables; they are refused with the release that reads them.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .errors import LicqError
from .version import __version__

if TYPE_CHECKING:  # pragma: no cover
    from .quantizers.spec import QuantizerSpec

MAGIC = b"LICQ"
VERSION = 3
#: the format of a variable-rate model's files: format 3 plus the quality
VARIABLE_RATE_VERSION = 4
#: the quality field counts in steps of 1/QUALITY_SCALE
QUALITY_SCALE = 100
#: earlier format versions and the release that reads them
RETIRED_FORMATS = {1: "licq 0.1.0 (files before 2026-11-25)", 2: "licq 0.1.0"}
LAYOUTS = {0: "RGB", 1: "L"}
#: Decoders refuse files of more pixels than this (8192 x 8192: camera photos of 24-50 MP decode
#: without a flag) unless the caller raises the bound. Transforms run in tiles, so memory grows
#: slowly with size, but time does not: the bound protects services that decode untrusted files.
DEFAULT_MAX_PIXELS = 1 << 26
MAX_STREAMS = 16


@dataclass
class Header:
    model_name: str
    model_digest: bytes
    quantizer: int
    states: int
    step: float
    tcq_lambda: float
    height: int
    width: int
    layout: int = 0
    index_crc: int = 0
    lengths: list[int] = field(default_factory=list)
    writer: str = __version__  #: the licq release that wrote the file
    quality: float | None = None  #: a variable-rate model's quality (format 4); None for fixed-rate models

    @property
    def version(self) -> int:
        return VERSION if self.quality is None else VARIABLE_RATE_VERSION

    def quantizer_spec(self) -> "QuantizerSpec":
        """The quantizer fields as a checked spec (the registry knows the codes)."""
        from .quantizers.spec import QuantizerSpec

        return QuantizerSpec.from_header(self.quantizer, self.states, self.step, self.tcq_lambda)

    def as_dict(self) -> dict:
        """JSON-friendly view for ``licq info``."""
        spec = self.quantizer_spec()
        return {
            "format_version": self.version, "written_by": f"licq {self.writer}", "model": self.model_name, "model_digest": self.model_digest.hex(),
            "quantizer": spec.name, "scan": spec.scan, "states": self.states,
            "step": float(f"{self.step:.7g}"), "tcq_lambda": float(f"{self.tcq_lambda:.7g}"), "height": self.height,
            "width": self.width, "layout": LAYOUTS[self.layout], "index_crc": f"{self.index_crc:08x}",
            "substream_bytes": self.lengths,
        } | ({} if self.quality is None else {"quality": self.quality})


def pack(header: Header, streams: list[bytes]) -> bytes:
    """Serialise a header and its sub-streams into one ``.licq`` byte string."""
    name = header.model_name.encode("ascii")
    writer = header.writer.encode("ascii")
    if not 0 < len(name) < 256 or not 0 < len(writer) < 256:
        raise ValueError("model name and writer version must be 1..255 ASCII bytes")
    if len(header.model_digest) != 8:
        raise ValueError("model digest must be 8 bytes")
    rate = b""
    if header.quality is not None:
        units = round(header.quality * QUALITY_SCALE)
        if not 0 < units < 1 << 16:
            raise ValueError(f"quality {header.quality} out of the header's range")
        rate = struct.pack(">H", units)
    head = b"".join([
        MAGIC, struct.pack(">BB", header.version, len(writer)), writer, struct.pack(">B", len(name)), name,
        header.model_digest,
        struct.pack(">BBffIIB", header.quantizer, header.states, header.step, header.tcq_lambda,
                    header.height, header.width, header.layout), rate,
        struct.pack(">IB", header.index_crc, len(streams)),
        b"".join(struct.pack(">I", len(s)) for s in streams),
    ])
    payload = b"".join(streams)
    crc = zlib.crc32(payload, zlib.crc32(head))
    return head + struct.pack(">I", crc) + payload


#: metadata records a file may carry: tag → the PIL ``info`` key it comes from and goes back to
METADATA_TAGS = {b"ICCP": "icc_profile", b"EXIF": "exif"}


def pack_metadata(metadata: dict[str, bytes]) -> bytes:
    """The metadata sub-stream of ``metadata`` (PIL ``info`` keys of :data:`METADATA_TAGS`; others ignored)."""
    return b"".join(tag + struct.pack(">I", len(metadata[key])) + metadata[key]
                    for tag, key in METADATA_TAGS.items() if metadata.get(key))


def unpack_metadata(data: bytes) -> dict[str, bytes]:
    """Inverse of :func:`pack_metadata`; a malformed record is a :class:`LicqError`."""
    out, r = {}, _Reader(data)
    while r.pos < len(data):
        if r.pos + 8 > len(data) or r.pos + 8 + struct.unpack(">I", data[r.pos + 4:r.pos + 8])[0] > len(data):
            raise LicqError("corrupt metadata: a record is cut short")
        tag = r.take(4, "metadata tag")
        (n,) = r.unpack(">I", "metadata length")
        if tag not in METADATA_TAGS or METADATA_TAGS[tag] in out:
            raise LicqError(f"corrupt metadata: unknown or repeated record {tag!r}")
        out[METADATA_TAGS[tag]] = r.take(n, "metadata record")
    return out


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int, what: str) -> bytes:
        if self.pos + n > len(self.data):
            raise LicqError(f"truncated file: ends inside the header ({what})")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))


def _check_quantizer(code: int, states: int, step: float, lam: float) -> None:
    """Refuse quantizer fields that no encoder writes: the registry checks them (codes, states, λ)."""
    from .quantizers.spec import QuantizerSpec

    try:
        QuantizerSpec.from_header(code, states, step, lam)
    except LicqError as exc:
        raise LicqError(f"corrupt header: {exc}") from None


def _text(r: _Reader, what: str) -> str:
    """A length-prefixed printable ASCII field."""
    (n,) = r.unpack(">B", what)
    if n == 0:
        raise LicqError(f"corrupt header: empty {what}")
    raw = r.take(n, what)
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise LicqError(f"corrupt header: {what} is not ASCII") from None
    if not text.isprintable():
        raise LicqError(f"corrupt header: {what} has control characters")
    return text


def unpack(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[Header, list[bytes]]:
    """Parse and validate a ``.licq`` byte string; return its header and sub-streams."""
    r = _Reader(bytes(data))
    if r.take(4, "magic") != MAGIC:
        raise LicqError("not a licq file (wrong magic bytes)")
    (version,) = r.unpack(">B", "version")
    if version in RETIRED_FORMATS:
        raise LicqError(f"format version {version} was written by {RETIRED_FORMATS[version]}, whose "
                        f"floating-point hyper-decoder made files that decode only on the machine type "
                        f"that wrote them; decode it with {RETIRED_FORMATS[version]} there "
                        f"(this is licq {__version__}, format {VERSION})")
    if version not in (VERSION, VARIABLE_RATE_VERSION):
        raise LicqError(f"unsupported format version {version} (this licq {__version__} reads versions "
                        f"{VERSION} and {VARIABLE_RATE_VERSION}; a newer licq wrote it?)")
    writer = _text(r, "writer version")
    name = _text(r, "model name")
    digest = r.take(8, "model digest")
    quant, states, step, lam, height, width, layout = r.unpack(">BBffIIB", "parameters")
    quality = None
    if version == VARIABLE_RATE_VERSION:
        (units,) = r.unpack(">H", "quality")
        if units == 0:
            raise LicqError("corrupt header: quality 0")
        quality = units / QUALITY_SCALE
    index_crc, k = r.unpack(">IB", "parameters")
    _check_quantizer(quant, states, step, lam)
    if height == 0 or width == 0:
        raise LicqError(f"corrupt header: image size {width}x{height}")
    if height * width > max_pixels:
        raise LicqError(f"image of {width}x{height} pixels exceeds the limit of {max_pixels} pixels "
                        "(raise it with --max-pixels if the file is trusted)")
    if layout not in LAYOUTS:
        raise LicqError(f"corrupt header: unknown channel layout {layout}")
    if not 0 < k <= MAX_STREAMS:
        raise LicqError(f"corrupt header: {k} sub-streams")
    lengths = [r.unpack(">I", "sub-stream lengths")[0] for _ in range(k)]
    head_end = r.pos
    (crc,) = r.unpack(">I", "CRC32")
    expected = r.pos + sum(lengths)
    if len(r.data) < expected:
        raise LicqError(f"truncated file: {len(r.data)} bytes, the header announces {expected}")
    if len(r.data) > expected:
        raise LicqError(f"trailing garbage: {len(r.data) - expected} bytes after the last sub-stream")
    payload = r.data[r.pos:]
    if zlib.crc32(payload, zlib.crc32(r.data[:head_end])) != crc:
        raise LicqError("CRC mismatch: the file is corrupt")
    streams, pos = [], 0
    for n in lengths:
        streams.append(payload[pos:pos + n])
        pos += n
    header = Header(name, digest, quant, states, step, lam, height, width, layout, index_crc, lengths, writer, quality)
    return header, streams
