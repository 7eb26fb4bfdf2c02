"""Reading and writing images, and the conversions licq applies to unusual inputs.

licq codes 8-bit RGB. Other inputs are converted, each with a warning
(:class:`LicqWarning`) that says what was lost:

* grayscale (``L``, ``I;16``, ``I``, ``F``): coded as RGB with three equal
  channels; the header records the layout and decoding returns grayscale again;
* palette (``P``) and ``CMYK``/``YCbCr``/``LAB``: converted to RGB;
* alpha (``RGBA``, ``LA``, ``PA``): the alpha channel is dropped;
* 16-bit and float samples: reduced to 8 bits.
"""

from __future__ import annotations

import io
import sys
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .atomic import atomic_write_bytes, is_special
from .errors import LicqError

GRAY_MODES = {"L", "I;16", "I;16B", "I;16L", "I", "F", "1", "LA"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".ppm", ".webp", ".tif", ".tiff", ".bmp"}


class LicqWarning(UserWarning):
    """An input was converted and something (alpha, bit depth, colour) was lost."""


def list_images(folders: Sequence[str | Path]) -> list[Path]:
    """All image files under the given folders (recursive) and the files given, sorted for reproducibility."""
    files: list[Path] = []
    for folder in folders:
        p = Path(folder)
        if p.is_file():
            files.append(p)
        else:
            files.extend(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
    return sorted(files)


def open_image(path: str | Path) -> Image.Image:
    """Open and fully decode an image file (``-``: standard input) as it is meant to be seen: its EXIF
    orientation applied. An animated image gives its first frame and 16-bit samples are cut to 8 bits,
    each with a :class:`LicqWarning`. Errors become :class:`LicqError`."""
    source = io.BytesIO(sys.stdin.buffer.read()) if str(path) == "-" else path
    try:
        with Image.open(source) as im:
            frames = getattr(im, "n_frames", 1)
            deep = any(isinstance(t[3], str) and ";16" in t[3] for t in (im.tile or []) if len(t) > 3)
            im.load()
            image = ImageOps.exif_transpose(im) or im
    except FileNotFoundError:
        raise LicqError(f"image not found: {path}") from None
    except IsADirectoryError:
        raise LicqError(f"cannot read image {path}: is a directory") from None
    except UnidentifiedImageError:  # its message repeats the path
        raise LicqError(f"cannot read image {path}: not an image file Pillow knows") from None
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise LicqError(f"cannot read image {path}: {' '.join(str(exc).split())}") from None
    if frames > 1:
        warnings.warn(f"{path}: animated image of {frames} frames: only the first is coded", LicqWarning,
                      stacklevel=2)
    if deep and image.mode in ("RGB", "RGBA"):
        warnings.warn(f"{path}: 16-bit samples reduced to 8 bits", LicqWarning, stacklevel=2)
    return image


def to_rgb_array(image: Image.Image | np.ndarray) -> tuple[np.ndarray, int]:
    """Return (H×W×3 uint8 array, layout code: 0 RGB, 1 grayscale), warning on any loss."""
    if isinstance(image, np.ndarray):
        arr = image
        if arr.ndim == 2:
            arr = arr[:, :, None]
        if arr.ndim != 3 or arr.shape[2] not in (1, 3):
            raise LicqError(f"array image must be HxW, HxWx1 or HxWx3, got shape {image.shape}")
        if arr.dtype != np.uint8:
            raise LicqError(f"array image must be uint8, got {arr.dtype}")
        if arr.shape[2] == 1:
            return np.repeat(arr, 3, axis=2), 1
        return np.ascontiguousarray(arr), 0
    if not isinstance(image, Image.Image):
        raise LicqError(f"expected a PIL image, a numpy array or a path, got {type(image).__name__}")
    mode = image.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in image.info):
        warnings.warn(f"{mode} image: alpha channel dropped", LicqWarning, stacklevel=3)
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        warnings.warn(f"{mode} image: reduced to 8 bits", LicqWarning, stacklevel=3)
        a = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if mode.startswith("I;16") or a.max() > 255 else 255.0
        gray = np.clip(np.round(a * 255.0 / peak), 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2), 1
    if mode == "F":
        warnings.warn("float image: clipped to [0, 255] and rounded to 8 bits", LicqWarning, stacklevel=3)
        gray = np.clip(np.round(np.asarray(image)), 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2), 1
    if mode in GRAY_MODES:
        gray = np.array(image.convert("L"))
        if mode != "L":
            warnings.warn(f"{mode} image: coded as 8-bit grayscale", LicqWarning, stacklevel=3)
        return np.repeat(gray[:, :, None], 3, axis=2), 1
    if mode not in ("RGB", "RGBA", "P"):
        warnings.warn(f"{mode} image: converted to RGB", LicqWarning, stacklevel=3)
    return np.array(image.convert("RGB")), 0


def from_rgb_array(arr: np.ndarray, layout: int) -> Image.Image:
    """The decoded image in the layout the input had (grayscale comes back as ``L``)."""
    if layout == 1:
        return Image.fromarray(arr[:, :, 0].copy(), mode="L")
    return Image.fromarray(arr, mode="RGB")


#: image formats decode writes: lossless ones, and lossy ones (with their settings) behind --allow-lossy
LOSSLESS_FORMATS = {".png": "PNG", ".ppm": "PPM", ".pnm": "PPM", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF"}
LOSSY_FORMATS = {".jpg": ("JPEG", {"quality": 95, "subsampling": 0}), ".jpeg": ("JPEG", {"quality": 95, "subsampling": 0}),
                 ".webp": ("WEBP", {"quality": 95})}


def output_format(path: str | Path, allow_lossy: bool = False) -> tuple[str, dict]:
    """The format (and its save settings) of a decoded image written to ``path``: from the suffix; PNG for
    ``-`` and special files. A lossy format without ``allow_lossy`` and an unknown suffix are refused."""
    suffix = Path(str(path)).suffix.lower()
    if suffix in LOSSLESS_FORMATS:
        return LOSSLESS_FORMATS[suffix], {}
    if suffix in LOSSY_FORMATS:
        if not allow_lossy:
            raise LicqError(f"{path}: {LOSSY_FORMATS[suffix][0]} would compress the decoded image again, lossily; "
                            "write .png, or pass --allow-lossy")
        return LOSSY_FORMATS[suffix]
    if is_special(path):
        return "PNG", {}
    raise LicqError(f"{path}: unknown image suffix {suffix or '(none)'!r}; use one of "
                    f"{', '.join(sorted(LOSSLESS_FORMATS))} (or {', '.join(sorted(LOSSY_FORMATS))} with --allow-lossy)")


def save_image(image: Image.Image, path: str | Path, fmt: str | None = None, **params) -> None:
    """Save in ``fmt`` (default: the suffix's format, PNG if none is recognised), atomically, or
    in place for ``-`` and special files (:func:`licq.atomic.atomic_write_bytes`)."""
    fmt = fmt or Image.registered_extensions().get(Path(path).suffix.lower(), "PNG")
    for key in ("icc_profile", "exif"):  # the metadata the file carried
        if image.info.get(key):
            params.setdefault(key, image.info[key])
    buf = io.BytesIO()
    try:
        image.save(buf, format=fmt, **params)
    except OSError as exc:
        raise LicqError(f"cannot write {path}: {exc.strerror or exc}") from None
    except (ValueError, KeyError) as exc:
        raise LicqError(f"cannot write {path}: {exc}") from None
    atomic_write_bytes(path, buf.getvalue())
