"""Range coding of the latent pyramid, driven by the integer ARM and the fixed table.

Order: one global schedule of steps (:mod:`.schedule`). Grid k (0 = finest, L-1 = coarsest)
codes its anti-diagonal wavefront ``t = x + 2*y`` (:data:`ARM_WAVEFRONT_SLOPE`) at step
``t + GRID_LAG * (L - 1 - k)``; a step codes the wavefronts of all grids scheduled there,
coarsest grid first, each by increasing ``y``. No latent depends on another of its own step, so
the decoder evaluates the ARM on a whole step at once: about ``W + 2H`` sequential steps for the
whole pyramid (1,796 for a 768x512 image).

A latent ``v`` with integer-ARM outputs ``mu_q`` (mean in 1/16) and ``s`` is coded as the symbol
of the residual ``r = clip(v - (mu_q >> 4), -R, R)`` (zigzag order, :mod:`.symbols`) with table
row ``(mu_q & 15, s)``. The residuals +-R are escapes: ``|v - (mu_q >> 4)| - R`` follows as an
order-0 exp-Golomb code in a separate bit section (:mod:`.escapes`).

The encoder's side is :mod:`.encode`. The decoder's (:mod:`.decode`) folds the ARM into float64
matrices (:mod:`.plan`), keeps the grids in buffers where a step's context windows are strided
views (:mod:`.window`, :mod:`.buffers`, :mod:`.coarser`), prepares every step once
(:mod:`.steps`) and runs them in a numpy loop (:mod:`.numpy_loop`) or a compiled one
(:mod:`.compiled_loop`, numba), whichever :mod:`.loop_choice` expects to finish first;
:mod:`.clamps` checks that a pass without the ARM's clamps was exact. Every section must be
consumed exactly (:mod:`.escapes`, :func:`.decode.decode_latents`).
"""

from lnic.bitstream.latent_coding.decode import decode_latents
from lnic.bitstream.latent_coding.encode import encode_latents, latent_bits

__all__ = ["decode_latents", "encode_latents", "latent_bits"]
