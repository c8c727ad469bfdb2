"""Regenerate the golden bitstreams ``tests/data/golden*.lnic`` and print their decoded hashes.

Run only for a deliberate format change (bump ``FORMAT_VERSION`` first), then paste the printed
hashes into ``tests/test_golden.py``:

    OMP_NUM_THREADS=1 python tests/data/make_golden.py            # a fresh encode
    OMP_NUM_THREADS=1 python tests/data/make_golden.py --recode   # the previous version's files

``--recode`` re-codes the latents of the previous version's files (``golden-v4.lnic``,
``golden_synthetic-v4.lnic``) with this version's coder: a change of the latent coding alone
then keeps every pixel, which the golden test checks.

Two files:

* ``golden.lnic``: a 32x24 (W x H) crop of Kodak kodim23, coded by the real encoder at quality 4
  with a short preset (the training itself is float and may differ between machines; the
  committed file is the reference, not the encoder's output).
* ``golden_synthetic.lnic``: a 40x37 grayscale file assembled from random integer networks and
  latents (no training), with escape codes, four latent grids and activations that reach the
  clamps, so the golden test covers paths a short real encode does not.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
CROP = (slice(200, 224), slice(300, 332))  # rows, columns: 24 x 32


def pixel_hash(image: np.ndarray) -> str:
    """SHA-256 of the decoded pixels: shape, then the C-order uint8 samples."""
    header = ("x".join(str(s) for s in image.shape)).encode()
    return hashlib.sha256(header + b":" + np.ascontiguousarray(image).tobytes()).hexdigest()


def synthetic_bitstream(
    height: int = 37,
    width: int = 40,
    channels: int = 1,
    seed: int = 2024,
    spread: float = 6.0,
    check: bool = True,
) -> bytes:
    """Random integer networks + latents (with escapes) packed as a valid .lnic file.

    The defaults make ``golden_synthetic.lnic``; other sizes serve the determinism test and the
    large-image memory benchmark (decoding cost depends on size and architecture only).
    """
    from lnic.bitstream.container import pack_file
    from lnic.bitstream.header import Header
    from lnic.bitstream.latent_coding import decode_latents, encode_latents
    from lnic.bitstream.weights import encode_weights
    from lnic.model.architecture import Architecture
    from lnic.model.latents import grid_shapes, num_levels
    from lnic.model.parts import DecoderWeights, SynthesisWeights, UpsamplingWeights
    from lnic.model.quantized import QuantizedLinear

    rng = np.random.default_rng(seed)
    arch = Architecture(levels=num_levels(height, width), channels=channels)
    shapes = grid_shapes(height, width, arch.levels)

    def module(layer_shapes, e_w, e_b, scale):
        return [
            QuantizedLinear(
                rng.integers(-scale, scale + 1, s.weight),
                rng.integers(-scale, scale + 1, s.bias),
                e_w,
                e_b,
            )
            for s in layer_shapes
        ]

    layer_shapes = arch.weight_shapes()
    arm = module(layer_shapes.arm, 8, 6, 300)
    n_up = arch.levels - 1
    taps = np.array([[-6, -18, 58, 222]] * n_up) + rng.integers(-4, 5, (n_up, 4))
    # pre-filters of unit gain (180 + 2 (40 - 8 + 6) = 256 = 2^8), each grid's a little different
    pre = np.array([[180, 40, -8, 6]] * arch.levels) + rng.integers(-4, 5, (arch.levels, 4))
    up = UpsamplingWeights(
        up=QuantizedLinear(taps, np.zeros(0, dtype=np.int64), 8, 0),
        pre=QuantizedLinear(pre, np.zeros(0, dtype=np.int64), 8, 0),
    )
    synth = SynthesisWeights(*module(layer_shapes.synthesis.layers(), 12, 13, 250))
    synth.lin2.bias[:] = 1 << 12  # output around mid-grey (0.5)
    grids = [np.round(rng.laplace(0, spread, s)) for s in shapes]
    (h1, w1), (h2, w2) = shapes[0], shapes[1]
    grids[0][min(3, h1 - 1), min(4, w1 - 1)] = 900
    grids[0][min(20, h1 - 1), min(30, w1 - 1)] = -300
    grids[1][min(5, h2 - 1), min(7, w2 - 1)] = 77
    grids[-1][0, 0] = -4096
    latents, escapes = encode_latents(grids, arm)
    assert escapes, "the synthetic file must contain escape codes"
    if check:
        back = decode_latents(latents, escapes, shapes, arm)
        assert all(np.array_equal(a, b) for a, b in zip(grids, back))
    weights = encode_weights(DecoderWeights(arm, up, synth))
    return pack_file(Header(width, height, arch, 0, 0, 0), weights, latents, escapes)


def _recode_previous() -> int:
    import lnic
    from lnic.bitstream.recode import recode

    for name in ("golden.lnic", "golden_synthetic.lnic"):
        old = (HERE / name.replace(".lnic", "-v4.lnic")).read_bytes()
        data = recode(old)
        (HERE / name).write_bytes(data)
        same = pixel_hash(lnic.decode(data)) == pixel_hash(lnic.decode(old))
        print(f"{name}: {len(data)} bytes (was {len(old)}), same pixels: {same}")
    return 0


def main() -> int:
    if "--recode" in sys.argv[1:]:
        return _recode_previous()
    import lnic
    from lnic.bench.data import default_dataset_dir
    from lnic.encoder.encode import encode_array
    from lnic.encoder.presets import NoisePhase, Preset, StraightThroughPhase

    kodak = default_dataset_dir()
    if kodak is None:
        print("the Kodak images are not found (set LNIC_SHARED)", file=sys.stderr)
        return 1
    source = np.asarray(Image.open(kodak / "kodim23.png").convert("RGB"))
    crop = np.ascontiguousarray(source[CROP])
    preset = Preset("golden", (NoisePhase(60), StraightThroughPhase(5)))
    result = encode_array(crop, quality=4, preset=preset, seed=0)
    (HERE / "golden.lnic").write_bytes(result.bitstream)
    decoded = lnic.decode(result.bitstream)
    print(f"golden.lnic: {len(result.bitstream)} bytes, PSNR {result.psnr_rgb:.2f} dB")
    print(f'GOLDEN_PIXELS_SHA256 = "{pixel_hash(decoded)}"')
    data = synthetic_bitstream()
    (HERE / "golden_synthetic.lnic").write_bytes(data)
    print(f"golden_synthetic.lnic: {len(data)} bytes")
    print(f'SYNTHETIC_PIXELS_SHA256 = "{pixel_hash(lnic.decode(data))}"')
    return 0


if __name__ == "__main__":
    sys.exit(main())
