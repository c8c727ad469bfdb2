"""Images for ``lnic bench``: a folder of PNGs, the quick crops, and where shared data lives."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "IMAGE_SUFFIXES",
    "BenchImage",
    "default_anchors_dir",
    "default_dataset_dir",
    "image_key",
    "list_images",
    "load_image",
    "quick_images",
    "select_images",
]

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".ppm", ".bmp", ".tif", ".tiff")
QUICK_CROP = 192  # MS-SSIM needs at least 161 pixels a side


@dataclass
class BenchImage:
    """An image of the benchmark: a name (file stem) and its (H, W, 3) uint8 pixels."""

    name: str
    rgb: np.ndarray


def image_key(name: str) -> str:
    """Name used to match images across files: the file stem (``kodim01.png`` -> ``kodim01``)."""
    base = os.path.basename(str(name).strip())
    stem, ext = os.path.splitext(base)
    return stem if ext.lower() in IMAGE_SUFFIXES else base


def shared_dir() -> Path | None:
    """The shared data folder: ``$LNIC_SHARED`` if set, else ``shared/`` beside the checkout
    (``<repo>/../shared``) if present."""
    env = os.environ.get("LNIC_SHARED")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[2]
    cand = repo.parent / "shared"
    return cand if cand.is_dir() else None


def default_dataset_dir() -> Path | None:
    """The shared Kodak folder, if it can be found (``$LNIC_SHARED`` or ``../shared``)."""
    shared = shared_dir()
    cand = shared / "datasets" / "kodak" if shared else None
    return cand if cand is not None and cand.is_dir() else None


def default_anchors_dir() -> Path | None:
    """The shared anchors folder, if it can be found (``$LNIC_SHARED`` or ``../shared``)."""
    shared = shared_dir()
    cand = shared / "anchors" if shared else None
    return cand if cand is not None and cand.is_dir() else None


def list_images(folder: str | os.PathLike[str]) -> list[Path]:
    """Image files of a folder (not recursive), sorted by name."""
    p = Path(folder)
    if not p.is_dir():
        raise FileNotFoundError(f"dataset folder not found: {p}")
    files = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
    if not files:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {p}")
    return files


def select_images(files: list[Path], names: Sequence[str]) -> list[Path]:
    """The files of ``names`` (file stems, as :func:`image_key` gives), in the order of ``names``.

    Raises ``FileNotFoundError`` naming the images that are not among ``files``.
    """
    by_name = {image_key(f.name): f for f in files}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise FileNotFoundError(f"images not in the dataset: {', '.join(missing)}")
    return [by_name[n] for n in dict.fromkeys(names)]


def load_image(path: str | os.PathLike[str]) -> BenchImage:
    """Load one image as 8-bit RGB (grayscale is replicated, alpha dropped)."""
    from PIL import Image

    with Image.open(path) as im:
        if im.mode not in ("RGB", "L", "RGBA", "LA", "P"):
            log.warning("%s: mode %s converted to 8-bit RGB", path, im.mode)
        rgb = np.ascontiguousarray(np.asarray(im.convert("RGB"), dtype=np.uint8))
    return BenchImage(image_key(Path(path).name), rgb)


def iter_images(folder: str | os.PathLike[str], limit: int | None = None) -> Iterator[BenchImage]:
    """Load the images of a folder one by one (the first ``limit`` if given)."""
    files = list_images(folder)
    for f in files[:limit] if limit else files:
        yield load_image(f)


def _synthetic(seed: int, size: int) -> np.ndarray:
    """A smooth test picture with edges and texture, for ``--quick`` without a dataset."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    base = np.stack(
        [
            128 + 90 * np.sin(2 * np.pi * (xx * (1 + seed) + 0.3 * yy)),
            128 + 90 * np.cos(2 * np.pi * (yy * 2 - 0.5 * xx)),
            128 + 60 * np.sin(6 * np.pi * xx * yy),
        ],
        axis=-1,
    )
    base[(xx - 0.5) ** 2 + (yy - 0.5) ** 2 < 0.08] *= 0.5
    base += rng.normal(0, 6, base.shape)
    return np.clip(base, 0, 255).astype(np.uint8)


def quick_images(folder: str | os.PathLike[str] | None, count: int = 2) -> list[BenchImage]:
    """``count`` centre crops of ``QUICK_CROP`` pixels, or synthetic pictures without a folder."""
    out = []
    if folder is not None:
        for img in iter_images(folder, limit=count):
            h, w = img.rgb.shape[:2]
            c = min(QUICK_CROP, h, w)
            top, left = (h - c) // 2, (w - c) // 2
            crop = np.ascontiguousarray(img.rgb[top : top + c, left : left + c])
            out.append(BenchImage(img.name, crop))
    else:
        for i in range(count):
            out.append(BenchImage(f"synthetic{i + 1:02d}", _synthetic(i, QUICK_CROP)))
    return out
