"""What the probability table's resolution costs, on real files: exact, no training.

The coder reads each latent's probabilities from a shipped table indexed by the ARM's mean in
1/16 steps (``MU_FRAC_BITS``) and its log-scale in 1/8 steps (``LOG_SCALE_STEP_BITS``), so both
sides agree bit for bit. The ARM itself computes both with 8 fractional bits. This script decodes
a file's latents and ARM, and gives the latents' code length under

- ``table``: the table the file is coded with (2^16 in format 4 files, 2^20 from format 5:
  the file's latent section, up to the coder's few bytes);
- ``laplace``: a discretised Laplace on the table's own grid of means and log-scales (what the
  table's integer frequencies lose against the distribution they stand for);
- ``finer_mu``, ``finer_scale``: the mean in 1/64 steps, or the log-scale in 1/32 steps;
- ``finer``: a discretised Laplace at the ARM's mean and log-scale rounded to 1/64 and 1/32
  (what a 4x finer table would give; probabilities floored as the table's);
- ``exact``: the same at the ARM's full 8-bit outputs;
- ``table20``, ``table24``: the same table with its probabilities in 20 or 24 bits (format 4's
  were 16 (every symbol keeps at least one count: at 16 bits the 48 unlikely symbols of a row
  hold 48/65536 of the mass, so a latent that is certainly zero still costs 0.00106 bits);
  ``coded20``, ``coded24``: the real range-coded section under those tables.

The gap between ``table`` and ``finer`` is what a format change to a finer table would save on
these latents, before any retraining.

    python benchmarks/table_precision.py FILE.lnic [FILE.lnic ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from csv_rows import emit_json_line

from lnic.bitstream.container import unpack_file
from lnic.bitstream.latent_coding import decode_latents
from lnic.bitstream.latent_coding.encode import encode_latents, latent_symbols
from lnic.bitstream.latent_coding.symbols import coder_rows
from lnic.bitstream.prob_table import bits_table, compute_frequency_table
from lnic.bitstream.weights import decode_weights
from lnic.encoder.nets.entropy import laplace_bits as encoder_laplace_bits
from lnic.format import ARM_ACT_FRAC_BITS, SYMBOL_RADIUS
from lnic.model.arm import LOG_SCALE_MAX, LOG_SCALE_MIN, arm_outputs, gather_context
from lnic.model.latents import grid_shapes


def laplace_bits(
    x: np.ndarray, mu: np.ndarray, log_scale: np.ndarray, prob_bits: int
) -> np.ndarray:
    """-log2 of the mass of [x - 1/2, x + 1/2] under Laplace(mu, e^log_scale) (the encoder's
    rate, :func:`lnic.encoder.nets.entropy.laplace_bits`), floored as a table of precision
    ``prob_bits``."""
    clipped = np.clip(log_scale, LOG_SCALE_MIN, LOG_SCALE_MAX)
    t = [torch.from_numpy(np.ascontiguousarray(v, dtype=np.float64)) for v in (x, mu, clipped)]
    return np.minimum(encoder_laplace_bits(*t).numpy(), prob_bits)


def table_bits(prob_bits: int) -> np.ndarray:
    """-log2 of the table's probabilities were they integers summing to 2**prob_bits."""
    return -np.log2(compute_frequency_table(prob_bits) / 2.0**prob_bits)


def measure(path: Path, precisions: tuple[int, ...]) -> dict:
    sections = unpack_file(path.read_bytes())
    h = sections.header
    weights = decode_weights(sections.weights, h.arch.weight_shapes())
    grids = decode_latents(
        sections.latents,
        sections.escapes,
        grid_shapes(h.height, h.width, h.arch.levels),
        weights.arm,
        h.prob_bits,
    )
    x = arm_outputs(weights.arm, gather_context([g.astype(np.float64) for g in grids]))
    mu, log_scale = x[:, 0] / 2.0**ARM_ACT_FRAC_BITS, x[:, 1] / 2.0**ARM_ACT_FRAC_BITS
    flat = np.concatenate([g.ravel() for g in grids]).astype(np.float64)
    sym = latent_symbols(grids, weights.arm)
    index = (sym.mu_frac, sym.scale_idx, sym.residual + SYMBOL_RADIUS)
    table = bits_table(h.prob_bits)[index]
    plain = sym.escape < 0  # escapes cost the same under every model: compare the rest
    out: dict = {"file": path.name, "latent_section_bytes": len(sections.latents)}
    mu16, mu64 = np.round(mu * 16) / 16, np.round(mu * 64) / 64
    s8, s32 = np.round(log_scale * 8) / 8, np.round(log_scale * 32) / 32
    models = {
        "table": table,
        # the table's grid, unquantized probabilities; then finer grids
        "laplace": laplace_bits(flat, mu16, s8, h.prob_bits),
        "finer_mu": laplace_bits(flat, mu64, s8, h.prob_bits),
        "finer_scale": laplace_bits(flat, mu16, s32, h.prob_bits),
        "finer": laplace_bits(flat, mu64, s32, h.prob_bits),
        "exact": laplace_bits(flat, mu, log_scale, h.prob_bits),
    }
    for bits in precisions:
        models[f"table{bits}"] = table_bits(bits)[index]
        rows = coder_rows(compute_frequency_table(bits) / 2.0**bits)
        coded, _ = encode_latents(grids, weights.arm, rows)
        out[f"coded{bits}_bytes"] = len(coded)  # real range-coded bytes
    for name, bits in models.items():
        out[f"{name}_bytes"] = round(float(bits[plain].sum() / 8), 1)
    for name in list(models)[1:]:
        out[f"{name}_saves"] = round(1 - out[f"{name}_bytes"] / out["table_bytes"], 4)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument(
        "--precisions",
        default="20,24",
        help="table probability bits to try (format 4: 16, format 5: 20)",
    )
    ap.add_argument("--out", type=Path, help="append one JSON line per file here")
    args = ap.parse_args()
    precisions = tuple(int(b) for b in args.precisions.split(",") if b)
    for path in args.files:
        emit_json_line(measure(path, precisions), args.out)


if __name__ == "__main__":
    main()
