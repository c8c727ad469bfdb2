"""Every constant of the lnic bitstream format, in one place (specified in ``docs/format.md``).

Changing any value here changes the format: bump :data:`FORMAT_VERSION` when you do.
"""

from __future__ import annotations

MAGIC = b"LNIC"
"""First four bytes of every .lnic file."""

FORMAT_VERSION = 5
"""Format version written in the header; decoders refuse versions they do not know. What each
version changed is in the changelog of ``docs/format.md``."""

READABLE_VERSIONS = (3, 4, 5)
"""Versions a decoder reads: version 3 is version 4 without the header's flags byte (and so
without metadata sections), and version 4 is version 5 with a coarser probability table
(:data:`PROB_BITS_OF_VERSION`), so their files still decode."""

FLAGS_SINCE_VERSION = 4
"""First version whose header has the flags byte (and so may carry metadata sections)."""

FLAG_ICC_PROFILE = 1
"""Header flag bit: an ICC profile section (``u32 length | profile``) follows the header."""

KNOWN_FLAGS = FLAG_ICC_PROFILE
"""Every flag bit this version defines; a file with any other bit set is refused."""

MAX_ICC_BYTES = 1 << 24
"""Largest ICC profile a file may carry (real profiles are a few hundred bytes to a few
hundred kilobytes)."""

MAX_DIMENSION = 16384
"""Largest width or height a decoder accepts (checked before any allocation)."""

MAX_PIXELS = 40_000_000
"""Largest width * height a decoder accepts (a 3840x2160 image is 8.3 M pixels)."""

MIN_DIMENSION = 16
"""Smallest width or height the encoder accepts."""

MAX_LEVELS = 7
"""Latent grids at scales 1, 1/2, ..., 1/64 at most."""

MIN_COARSEST_SIDE = 4
"""The coarsest latent grid keeps at least this many samples along the shorter side."""

# --- Autoregressive entropy model (ARM): causal context -------------------------------------
# fmt: off
ARM_CONTEXT: tuple[tuple[int, int], ...] = (
    (-2, -2), (-2, -1), (-2, 0), (-2, 1), (-2, 2),
    (-1, -2), (-1, -1), (-1, 0), (-1, 1),
    (0, -3), (0, -2), (0, -1),
)
# fmt: on
"""(dy, dx) offsets of the already-decoded neighbours in the same grid (outside the grid: 0).
Every offset has ``dx + 2 dy < 0``, which keeps the wavefront slope at 2."""

ARM_WAVEFRONT_SLOPE = 2
"""Latents with equal ``x + 2*y`` never depend on each other (every context offset has
``dx + 2 dy < 0``): one wavefront each."""

GRID_LAG = 1
"""Grid k decodes its wavefront ``t`` at step ``t + GRID_LAG * (L - 1 - k)`` of one global
schedule: every step decodes one wavefront of every grid still in progress (coarsest first), and
the co-located coarser latent is always decoded at an earlier step."""

# --- Integer (fixed-point) ARM ----------------------------------------------------------------
ARM_ACT_FRAC_BITS = 8
"""Fractional bits of ARM activations (inputs are shifted left by this)."""

ARM_ACT_CLAMP = 1 << 22
"""ARM activations are clamped to [-ARM_ACT_CLAMP, ARM_ACT_CLAMP] after every layer."""

ARM_WEIGHT_CLAMP = 1 << 15
"""Quantized ARM weights (integers) must lie in [-ARM_WEIGHT_CLAMP, ARM_WEIGHT_CLAMP]."""

LATENT_CLAMP = 1 << 12
"""Decoded latents beyond +-LATENT_CLAMP are a bitstream error (the encoder clips to it)."""

# --- Probability table indexed by the integer ARM's outputs ---------------------------------
MU_FRAC_BITS = 4
"""The predicted mean is quantized to 1/16: ``mu = m_int + f/16``."""

LOG_SCALE_MIN = -4.5
"""Natural log of the smallest Laplace scale in the table."""

LOG_SCALE_STEP_BITS = 3
"""log-scale is quantized in steps of 1/8 (scale ratio 1.133 between entries)."""

N_SCALES = 68
"""Number of scale entries: ln(scale) from -4.5 to -4.5 + 67/8 = 3.875."""

SYMBOL_RADIUS = 24
"""Residuals ``latent - m_int`` in (-24, 24) are coded directly; +-24 are escapes."""

SYMBOL_ORDER = "zigzag"
"""Range-coder symbol of the clipped residual ``r``: ``2r - 1`` for ``r > 0``, ``-2r`` otherwise
(0, +1, -1, +2, -2, ...: the likeliest first, which shortens the decoder's search); the escapes
+R and -R are the last two symbols, ``2R - 1`` and ``2R``."""

PROB_BITS_OF_VERSION = {3: 16, 4: 16, 5: 20}
"""Precision of each readable version's table: its probabilities are integers summing to
``2**bits``, each at least 1."""

PROB_BITS = PROB_BITS_OF_VERSION[FORMAT_VERSION]
"""Precision of the table this version writes. At 2**20 a latent the model is sure of costs
0.00007 bits instead of 0.0011 at 2**16 (every symbol keeps one count), which saves 0.15-1.3%
of the latent bytes of real files; the range coder works at 24 bits, so it costs nothing to
decode, and it still bounds the shortest section a declared image needs
(``min_coded_bytes``)."""

RANGE_CODER_PRECISION = 24
"""The range coder (constriction's queue coder: 32-bit words, a 64-bit state) codes each latent
with its table row quantized to integers summing to ``2**RANGE_CODER_PRECISION``: the row's
float32 probabilities ``p`` (the table's integers over ``2**PROB_BITS``, exact), their running
float32 sum ``c_s`` before symbol ``s``, ``scale = float32(2**24 - symbols) / c_total``, and
``cdf[s] = trunc(float32(c_s * scale)) + s`` (``cdf[symbols] = 2**24``). The decoder's C
kernels reproduce it (``symbols.coder_cdf``)."""

ESCAPE_BITS_MAX = 20
"""Exp-Golomb escape values are coded with at most this many prefix bits."""

# --- Network weights --------------------------------------------------------------------------
WEIGHT_STEP_EXP_MIN = 0
WEIGHT_STEP_EXP_MAX = 15
"""Weights of a module are quantized with a step 2**-e, e in [0, 15] (written in the header)."""

# --- Integer upsampling and synthesis ---------------------------------------------------------
SYNTH_FRAC_BITS = 12
"""Fractional bits of upsampling and synthesis activations (pixel value 1.0 = 2**12)."""

SYNTH_ACT_CLAMP = 1 << 24
"""Upsampling and synthesis activations are clamped to +-2**24 (4096 x the pixel range)."""
