"""Shared fixtures: small crops of Kodak images (from ../shared beside the checkout)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
KODAK = SHARED / "datasets" / "kodak"


@pytest.fixture(scope="session")
def kodak23() -> np.ndarray:
    from PIL import Image

    path = KODAK / "kodim23.png"
    if not path.exists():
        pytest.skip("shared Kodak images not found beside the checkout")
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.fixture(scope="session")
def small_image(kodak23) -> np.ndarray:
    """A 64x48 (H x W) crop with some texture."""
    return np.ascontiguousarray(kodak23[200:264, 300:348])


@pytest.fixture(scope="session")
def tiny_preset():
    from lnic.encoder.presets import Preset

    return Preset("test", noise_steps=120, ste_steps=10)
