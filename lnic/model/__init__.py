"""The per-image decoder: latent pyramid, autoregressive entropy model, upsampling, synthesis.

This package is the decoder's definition: exact integer forms of every component (numpy only,
no torch), so decoding is bit-exact on any machine. The float forms the encoder trains live in
:mod:`lnic.encoder.nets`.
"""
