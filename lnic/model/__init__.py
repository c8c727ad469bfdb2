"""The per-image decoder: latent pyramid, autoregressive entropy model, upsampling, synthesis.

This package is the decoder's definition: exact integer forms of every component (numpy only,
no torch), so decoding is bit-exact on any machine, and the named parts a decoder is made of
(:mod:`lnic.model.parts`). It imports nothing of lnic but :mod:`lnic.format`. The float forms the
encoder trains live in :mod:`lnic.encoder.nets`; the fast fixed-point decoder in
:mod:`lnic.decoder`.
"""
