"""Behaviour check for refactors: a fixed-seed encode of a 96x96 crop and the golden files.

Prints one JSON line: the crop's bytes and digests (the encoder's output and its decoded pixels)
and each golden file's pixel digest. Two commits that print the same line (same machine, same
thread count) encode and decode identically on these inputs::

    OMP_NUM_THREADS=1 python benchmarks/behaviour_check.py
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from PIL import Image

import lnic
from lnic.bench.data import default_dataset_dir
from lnic.bench.provenance import git_commit

ROOT = Path(__file__).resolve().parents[1]


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def main() -> None:
    kodak = default_dataset_dir()
    if kodak is None:
        raise SystemExit("the Kodak images were not found: put shared/ beside the checkout")
    image = np.asarray(Image.open(kodak / "kodim01.png").convert("RGB"))
    crop = np.ascontiguousarray(image[200:296, 300:396])
    data = lnic.encode(crop, quality=4, preset="fast")
    golden = {
        p.name: _digest(lnic.decode(p.read_bytes()).tobytes())
        for p in sorted((ROOT / "tests" / "data").glob("*.lnic"))
    }
    record = {
        "commit": git_commit(),
        "crop_bytes": len(data),
        "crop_sha256": _digest(data),
        "rec_sha256": _digest(lnic.decode(data).tobytes()),
        "golden": golden,
    }
    print(json.dumps(record))


if __name__ == "__main__":
    main()
