"""The training kernels built for the other CPUs' vector widths compute the same values.

The kernels pick their vector width and register tiles from the CPU they are built on
(``lnic/encoder/native/common.h``, ``dense.h``): 16 lanes and 4-output tiles with AVX-512, 8
lanes and 2-output tiles with AVX2, 4 lanes without AVX. CI and a development machine run only
one of these, so each other configuration is built here through ``-DLANES`` and ``-DTILE_OUT``
(which the headers accept for this) and the numerical tests of ``test_native.py`` run against
it in a subprocess, with its own library cache.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lnic.encoder.native import library

NUMERICAL = (
    "equals or equal_torch or equal_the or bit_for_bit or same_bits or thread_count"
    " or average_to_the_exact"
)
"""The tests of test_native.py that compare the kernels' values (with torch, or among
themselves), by name."""

CONFIGURATIONS = {
    "sse (4 lanes, 2-output tiles)": "-DLANES=4 -DTILE_OUT=2",
    "avx-512 (16 lanes, 4-output tiles)": "-DLANES=16 -DTILE_OUT=4",
}


@pytest.mark.skipif(library() is None, reason="the native kernels are not available here")
@pytest.mark.skipif(shutil.which(os.environ.get("CC", "gcc")) is None, reason="no C compiler")
@pytest.mark.parametrize("defines", CONFIGURATIONS.values(), ids=CONFIGURATIONS.keys())
def test_kernels_built_for_another_vector_width_pass_the_numerical_tests(
    tmp_path: Path, defines: str
) -> None:
    compiler = shutil.which(os.environ.get("CC", "gcc"))
    wrapper = tmp_path / "cc"
    wrapper.write_text(f'#!/bin/sh\nexec "{compiler}" "$@" {defines}\n')
    wrapper.chmod(0o755)
    env = {**os.environ, "CC": str(wrapper), "LNIC_CACHE_DIR": str(tmp_path / "cache")}
    tests = Path(__file__).with_name("test_native.py")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", str(tests)]
        + ["-k", NUMERICAL],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and "skipped" not in run.stdout.splitlines()[-1]
