"""Re-coding a file's latents under this format version's table.

A version that changes only the latent coding (version 5's finer table) leaves the latents, the
networks and so the pixels of a file as they are: decoding the latents with the file's table and
coding them again with this version's gives the same image in a current file. The golden files
(``tests/data/make_golden.py --recode``) and the decode benchmark's files are made this way.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from lnic.bitstream.container import pack_file, unpack_file
from lnic.bitstream.latent_coding import decode_latents, encode_latents
from lnic.bitstream.weights import decode_weights
from lnic.format import FORMAT_VERSION
from lnic.model.latents import grid_shapes


def recode(data: bytes) -> bytes:
    """``data`` (a whole file of any readable version) with its latents coded by this version's
    coder: same weights, latents and pixels; header of this version, metadata kept."""
    s = unpack_file(data)
    h = s.header
    arm = decode_weights(s.weights, h.arch.weight_shapes()).arm
    shapes = grid_shapes(h.height, h.width, h.arch.levels)
    grids = decode_latents(s.latents, s.escapes, shapes, arm, h.prob_bits)
    latents, escapes = encode_latents([g.astype(np.int64) for g in grids], arm)
    header = replace(h, version=FORMAT_VERSION)
    return pack_file(header, s.weights, latents, escapes, s.icc_profile)
