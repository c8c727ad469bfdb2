"""A/B of two checkouts' decoders on the same .lnic files (``benchmarks/large_images.md``).

Fresh processes alternate between the checkouts ``--rounds`` times; each decodes every file
twice and reports the second decode's wall and CPU seconds, and its peak memory (``VmHWM``)::

    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/large_images_ab.py \\
        --old ../main --new . DIR/768x512.lnic DIR/3840x2160.lnic
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

_CHILD = r"""
import json, sys, time
from lnic.decoder import decode_bytes
out = {}
for path in sys.argv[1:]:
    data = open(path, "rb").read()
    decode_bytes(data, max_pixels=None)
    c, t = time.process_time(), time.perf_counter()
    decode_bytes(data, max_pixels=None)
    out[path] = {"wall": time.perf_counter() - t, "cpu": time.process_time() - c}
status = open("/proc/self/status").read().split("\n")
out["peak_mib"] = next(int(x.split()[1]) for x in status if x.startswith("VmHWM")) // 1024
print(json.dumps(out))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", required=True, help="checkout of the first decoder")
    parser.add_argument("--new", required=True, help="checkout of the second decoder")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    files = [os.path.abspath(f) for f in args.files]
    for r in range(args.rounds):
        for name, checkout in (("old", args.old), ("new", args.new)):
            env = dict(os.environ, PYTHONPATH=os.path.abspath(checkout))
            run = subprocess.run(
                [sys.executable, "-c", _CHILD, *files],
                capture_output=True,
                text=True,
                env=env,
                cwd="/",
                check=True,
            )
            print(json.dumps({"round": r, "decoder": name, **json.loads(run.stdout)}), flush=True)


if __name__ == "__main__":
    main()
