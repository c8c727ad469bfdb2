"""The decoder's C kernels built without AVX decode the same pixels.

Where the CPU has AVX the kernels floor with one rounding instruction; elsewhere (older x86,
other architectures) with an exact add-and-subtract sequence. A development machine or CI runs
only one of the two, so the other is built here (a compiler wrapper that appends ``-mno-avx``,
with its own library cache) and the decoding tests that compare the C kernels with the numpy
code run against it in a subprocess.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lnic.decoder import c_kernels

TESTS = ("test_synthesis_bands.py", "test_latent_kernels.py")


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="an x86 flag")
@pytest.mark.skipif(shutil.which(os.environ.get("CC", "gcc")) is None, reason="no C compiler")
@pytest.mark.skipif(c_kernels.load() is None, reason="the C decoder kernels do not build here")
def test_the_c_kernels_built_without_avx_decode_the_same_pixels(tmp_path: Path) -> None:
    compiler = shutil.which(os.environ.get("CC", "gcc"))
    wrapper = tmp_path / "cc"
    wrapper.write_text(f'#!/bin/sh\nexec "{compiler}" "$@" -mno-avx\n')
    wrapper.chmod(0o755)
    env = {**os.environ, "CC": str(wrapper), "LNIC_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("LNIC_NATIVE_DECODE", None)
    here = Path(__file__).parent
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider"]
        + [str(here / name) for name in TESTS]
        + ["-k", "bands or blocks or (loops and not compiled)"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert " passed" in run.stdout
    built = sorted(p.name.split("-")[0] for p in (tmp_path / "cache").glob("*.so"))
    assert built == ["latent", "pixels"]
