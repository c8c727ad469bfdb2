"""Shared fixtures: small crops of Kodak images, found by the benchmarks' own dataset lookup
(``$LNIC_SHARED``, else ``../shared`` beside the checkout)."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="module")
def kodak23() -> np.ndarray:
    from PIL import Image

    from lnic.bench.data import default_dataset_dir

    kodak = default_dataset_dir()
    if kodak is None or not (kodak / "kodim23.png").exists():
        pytest.skip(
            "shared Kodak images not found (set LNIC_SHARED or put shared/ beside the checkout)"
        )
    return np.asarray(Image.open(kodak / "kodim23.png").convert("RGB"))


@pytest.fixture(scope="module")
def small_image(kodak23) -> np.ndarray:
    """A 64x48 (H x W) crop with some texture."""
    return np.ascontiguousarray(kodak23[200:264, 300:348])


@pytest.fixture(scope="module")
def tiny_preset():
    from lnic.encoder.presets import NoisePhase, Preset, StraightThroughPhase

    return Preset("test", (NoisePhase(120), StraightThroughPhase(10)))
