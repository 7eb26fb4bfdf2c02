"""The command line's inputs and outputs: special files kept, pipes, images as they are meant to be seen,
a fast start, quiet closed pipes and the API's path handling."""

from __future__ import annotations

import io
import os
import stat
import struct
import subprocess
import sys
import threading
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import licq
from licq.cli import main
from licq.errors import LicqError
from licq.imageio import LicqWarning, open_image

from .conftest import smooth_image

CLI = [sys.executable, "-m", "licq.cli"]


def _png(tmp_path: Path, h: int = 64, w: int = 64) -> Path:
    p = tmp_path / "in.png"
    Image.fromarray(smooth_image(h, w)).save(p)
    return p


def test_output_onto_a_fifo_is_written_through_not_replaced(tmp_path, tiny_model):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = {}
    reader = threading.Thread(target=lambda: got.setdefault("data", fifo.read_bytes()))
    reader.start()
    assert main(["encode", str(_png(tmp_path)), "-o", str(fifo), "--model", tiny_model]) == 0
    reader.join(timeout=60)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert got["data"][:4] == b"LICQ" and licq.decode(got["data"], tiny_model).size == (64, 64)


@pytest.mark.slow
def test_output_onto_dev_null_leaves_it_a_device(tmp_path, tiny_model):
    r = subprocess.run([*CLI, "encode", str(_png(tmp_path)), "-o", "/dev/null", "--model", tiny_model],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_output_through_a_symlink_replaces_its_target_and_keeps_the_link(tmp_path, tiny_model):
    target, link = tmp_path / "real.licq", tmp_path / "link.licq"
    target.write_bytes(b"old")
    link.symlink_to(target)
    assert main(["encode", str(_png(tmp_path)), "-o", str(link), "--model", tiny_model]) == 0
    assert link.is_symlink() and target.read_bytes()[:4] == b"LICQ"


@pytest.mark.slow
def test_stdin_and_stdout_pipes(tmp_path, tiny_model):
    png = _png(tmp_path).read_bytes()
    enc = subprocess.run([*CLI, "encode", "-", "-o", "-", "--model", tiny_model], input=png,
                         capture_output=True, timeout=300)
    assert enc.returncode == 0, enc.stderr
    assert enc.stdout[:4] == b"LICQ" and b"(stdout)" in enc.stderr
    info = subprocess.run([*CLI, "info", "-"], input=enc.stdout, capture_output=True, timeout=300)
    assert info.returncode == 0 and b"format_version" in info.stdout
    dec = subprocess.run([*CLI, "decode", "-", "-o", "-", "--model", tiny_model], input=enc.stdout,
                         capture_output=True, timeout=300)
    assert dec.returncode == 0, dec.stderr
    assert Image.open(io.BytesIO(dec.stdout)).size == (64, 64)


def test_exif_orientation_is_applied(tmp_path):
    stored = Image.fromarray(smooth_image(32, 48))  # stored landscape, 48 wide
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to view: a portrait phone photo
    stored.save(tmp_path / "phone.jpg", exif=exif)
    assert open_image(tmp_path / "phone.jpg").size == (32, 48)


def test_animated_image_warns_that_one_frame_is_coded(tmp_path):
    frames = [Image.fromarray(smooth_image(16, 16, seed=s)) for s in range(3)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    with pytest.warns(LicqWarning, match="animated image of 3 frames"):
        open_image(tmp_path / "anim.gif")


def _png16_rgb(path: Path, h: int = 8, w: int = 8) -> None:
    """A 16-bit RGB PNG (Pillow cannot write one)."""
    rows = b"".join(b"\0" + np.full((w, 3), 40000, ">u2").tobytes() for _ in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def test_sixteen_bit_rgb_warns(tmp_path):
    _png16_rgb(tmp_path / "deep.png")
    with pytest.warns(LicqWarning, match="16-bit samples reduced to 8 bits"):
        open_image(tmp_path / "deep.png")


def test_an_ordinary_photo_opens_without_warnings(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        open_image(_png(tmp_path))


_NO_TORCH = """
import sys, licq.cli
code = licq.cli.main(sys.argv[1:])
print('torch' in sys.modules, 'compressai' in sys.modules)
"""


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["models"], ["encode", "--help"], ["info", "{file}"]])
def test_quick_commands_do_not_import_torch(tmp_path, args):
    f = tmp_path / "golden.licq"
    f.write_bytes((Path(__file__).parent / "golden" / "q3-sq.licq").read_bytes())
    r = subprocess.run([sys.executable, "-c", _NO_TORCH, *[a.format(file=f) for a in args]],
                       capture_output=True, text=True, timeout=120)
    assert r.stdout.strip().splitlines()[-1] == "False False", r.stdout + r.stderr


def test_a_closed_pipe_exits_quietly():
    p = subprocess.Popen([*CLI, "models", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()  # the reader is gone before licq writes
    err = p.stderr.read()
    assert p.wait(timeout=120) == 141 and err == b""


def test_decode_takes_a_path_or_bytes_and_refuses_anything_else(tmp_path):
    golden = Path(__file__).parent / "golden" / "q3-sq.licq"
    assert licq.decode(golden).size == licq.decode(golden.read_bytes()).size == licq.decode(str(golden)).size
    with pytest.raises(LicqError, match="file not found"):
        licq.decode(tmp_path / "none.licq")
    with pytest.raises(LicqError, match="expected .licq bytes or a path"):
        licq.decode(123)


def _phone_jpeg(path: Path) -> bytes:
    """A portrait phone JPEG: stored 48x32 with EXIF orientation 6, an ICC profile and a maker tag."""
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x0112], exif[0x010F] = 6, "PhoneMaker"
    Image.fromarray(smooth_image(32, 48)).save(path, icc_profile=icc, exif=exif, quality=95)
    return icc


def test_phone_photo_round_trip_keeps_orientation_icc_and_exif(tmp_path, tiny_model):
    icc = _phone_jpeg(tmp_path / "phone.jpg")
    assert main(["encode", str(tmp_path / "phone.jpg"), "-o", str(tmp_path / "p.licq"), "--model", tiny_model]) == 0
    assert main(["decode", str(tmp_path / "p.licq"), "-o", str(tmp_path / "p.png"), "--model", tiny_model]) == 0
    with Image.open(tmp_path / "p.png") as out:
        assert out.size == (32, 48)  # portrait, as the phone showed it
        assert out.info.get("icc_profile") == icc
        exif = out.getexif()
        assert exif.get(0x010F) == "PhoneMaker" and exif.get(0x0112) in (None, 1)  # orientation already applied


def test_strip_leaves_the_metadata_out(tmp_path, tiny_model):
    _phone_jpeg(tmp_path / "phone.jpg")
    kept = licq.encode(tmp_path / "phone.jpg", tiny_model)
    stripped = licq.encode(tmp_path / "phone.jpg", tiny_model, strip=True)
    assert len(stripped) < len(kept)
    assert "icc_profile" not in licq.decode(stripped, tiny_model).info


def test_corrupt_metadata_is_one_error(tmp_path, tiny_model):
    from licq import container

    header, streams = container.unpack(licq.encode(smooth_image(64, 64), tiny_model))
    bad = container.pack(header, [*streams, b"ICCP\x00\x00\x10\x00ab"])
    with pytest.raises(LicqError, match="corrupt metadata: a record is cut short"):
        licq.decode(bad, tiny_model)


def test_eval_reports_an_unreadable_image_and_measures_the_others(tmp_path, tiny_model, capsys):
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.fromarray(smooth_image(64, 64)).save(folder / "good.png")
    (folder / "broken.png").write_bytes(b"\x89PNG not really")
    out = tmp_path / "r.json"
    assert main(["eval", str(folder), "--model", tiny_model, "--arch", "mbt2018-mean", "--quiet", "--no-msssim", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "broken.png" in err and "1 of 2 images could not be read" in err
    import json
    data = json.loads(out.read_text())
    assert [r["image"] for r in data["per_image"]] == ["good.png"] and len(data["skipped"]) == 1


def test_batch_encode_and_decode_report_a_bad_file_and_do_the_rest(tmp_path, tiny_model, capsys):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(2):
        Image.fromarray(smooth_image(64, 64, seed=i)).save(src / f"img{i}.png")
    (src / "broken.png").write_bytes(b"not an image")
    assert main(["encode", str(src), "--out-dir", str(tmp_path / "enc"), "--model", tiny_model]) == 1
    cap = capsys.readouterr()
    assert "broken.png" in cap.err and "encoded 2 of 3 files" in cap.out
    assert sorted(p.name for p in (tmp_path / "enc").iterdir()) == ["img0.licq", "img1.licq"]
    assert main(["decode", *map(str, sorted((tmp_path / "enc").iterdir())), "--out-dir", str(tmp_path / "dec"),
                 "--model", tiny_model, "--arch", "mbt2018-mean"]) == 0
    assert "decoded 2 of 2 files" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "dec").iterdir()) == ["img0.png", "img1.png"]


def test_batch_refuses_two_inputs_with_one_output_name(tmp_path, tiny_model, capsys):
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        Image.fromarray(smooth_image(64, 64)).save(tmp_path / d / "same.png")
    assert main(["encode", str(tmp_path / "a" / "same.png"), str(tmp_path / "b" / "same.png"),
                 "--out-dir", str(tmp_path / "o"), "--model", tiny_model]) == 1
    assert "would both be written to" in capsys.readouterr().err


def test_bdrate_names_the_unit_of_each_metric(capsys):
    results = Path(__file__).resolve().parents[1] / "results" / "kodak"
    args = ["bdrate", str(results / "webp.json"), str(results / "licq-sq.json")]
    assert main([*args, "--metric", "ms-ssim-rgb"]) == 0
    out = capsys.readouterr().out
    assert "BD-MS-SSIM" in out and "BD-PSNR" not in out and " dB" not in out
    assert main(args) == 0
    assert "BD-PSNR" in capsys.readouterr().out


def test_encoding_has_no_pixel_limit_and_decoding_guards_one():
    from licq.cli import parse_args
    from licq.container import DEFAULT_MAX_PIXELS

    assert parse_args(["encode", "big.png", "-o", "big.licq"]).max_pixels is None
    assert parse_args(["decode", "big.licq", "-o", "big.png"]).max_pixels == DEFAULT_MAX_PIXELS == 8192 * 8192
