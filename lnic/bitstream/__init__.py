"""The .lnic format: header, network weights (exp-Golomb) and range-coded latents.

Every constant of the format lives in :mod:`lnic.format`; ``container`` reads and writes whole
files, ``header`` the fixed-size header, ``weights`` the quantized networks and
``latent_coding`` the latents.
"""
