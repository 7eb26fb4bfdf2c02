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

import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

from .atomic import atomic_path
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
    """Open and fully decode an image file; errors become :class:`LicqError`."""
    try:
        with Image.open(path) as im:
            im.load()
            return im
    except FileNotFoundError:
        raise LicqError(f"image not found: {path}") from None
    except IsADirectoryError:
        raise LicqError(f"cannot read image {path}: is a directory") from None
    except UnidentifiedImageError:  # its message repeats the path
        raise LicqError(f"cannot read image {path}: not an image file Pillow knows") from None
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise LicqError(f"cannot read image {path}: {' '.join(str(exc).split())}") from None


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


def save_image(image: Image.Image, path: str | Path) -> None:
    """Save atomically; the format follows the suffix (PNG if none is recognised)."""
    path = Path(path)
    fmt = Image.registered_extensions().get(path.suffix.lower(), "PNG")
    with atomic_path(path) as tmp:
        try:
            image.save(tmp, format=fmt)
        except OSError as exc:  # its message would name the temporary file
            raise LicqError(f"cannot write {path}: {exc.strerror or exc}") from None
        except (ValueError, KeyError) as exc:
            raise LicqError(f"cannot write {path}: {exc}") from None
