"""Every kind of bad file raises LicqError with a message that names the problem."""

from __future__ import annotations

import re
import struct

import pytest

import licq
from licq import container
from licq.errors import LicqError


@pytest.fixture()
def stream(tiny_model, image) -> bytes:
    return licq.encode(image, tiny_model)


def _expect(data: bytes, model: str, match: str) -> None:
    with pytest.raises(LicqError, match=match):
        licq.decode(data, model)


def test_wrong_magic(stream, tiny_model):
    _expect(b"JUNK" + stream[4:], tiny_model, "wrong magic")


def test_unknown_version(stream, tiny_model):
    _expect(stream[:4] + bytes([99]) + stream[5:], tiny_model, "version 99")


def test_crc_mismatch(stream, tiny_model):
    flipped = bytearray(stream)
    flipped[-3] ^= 0x10
    _expect(bytes(flipped), tiny_model, "CRC mismatch")


def test_header_bit_flip_in_size_is_caught(stream, tiny_model):
    header, _ = container.unpack(stream)
    pos = 7 + len(header.writer) + len(header.model_name) + 8 + 2 + 8  # height field
    flipped = bytearray(stream)
    flipped[pos + 3] ^= 0x01
    _expect(bytes(flipped), tiny_model, "CRC mismatch")


@pytest.mark.parametrize("cut", [0, 3, 5, 10, 30, 45, -1])
def test_truncation(stream, tiny_model, cut):
    _expect(stream[:cut], tiny_model, "truncated|wrong magic")


def test_trailing_garbage(stream, tiny_model):
    _expect(stream + b"\x00garbage", tiny_model, "trailing garbage")


def test_unknown_zoo_model(stream):
    header, streams = container.unpack(stream)
    header.model_name = "no-such-model"
    v = re.escape(licq.__version__)
    _expect(container.pack(header, streams), None, "needs zoo model no-such-model with digest [0-9a-f]{16}, "
            rf"written by licq {v}, and this install's zoo \(licq {v}\) does not have it")


def test_mismatching_model(stream, other_tiny_model):
    _expect(stream, other_tiny_model, "model mismatch")


def test_user_model_stream_needs_model_option(stream):
    _expect(stream, None, "pass it with --model")


def test_absurd_dimensions_refused_before_allocation(stream, tiny_model):
    header, streams = container.unpack(stream)
    header.height, header.width = 1 << 20, 1 << 20
    _expect(container.pack(header, streams), tiny_model, "exceeds the limit")


def test_unknown_quantizer_code(stream, tiny_model):
    header, streams = container.unpack(stream)
    header.quantizer = 7
    _expect(container.pack(header, streams), tiny_model, "unknown quantizer code 7")


def test_huge_length_field(stream, tiny_model):
    header, streams = container.unpack(stream)
    data = bytearray(container.pack(header, streams))
    pos = 7 + len(header.writer) + len(header.model_name) + 8 + 2 + 8 + 8 + 1 + 4 + 1  # first sub-stream length
    data[pos:pos + 4] = struct.pack(">I", 0xFFFFFFF0)
    _expect(bytes(data), tiny_model, "truncated")


def test_header_roundtrip(stream):
    header, streams = container.unpack(stream)
    assert container.pack(header, streams) == stream
    info = header.as_dict()
    assert info["quantizer"] == "sq" and info["layout"] == "RGB"


def test_encoder_refuses_images_above_max_pixels(tiny_model, image):
    with pytest.raises(LicqError, match="exceeds the limit"):
        licq.encode(image, tiny_model, max_pixels=100)
