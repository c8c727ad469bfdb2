"""The per-image decoder: latent pyramid, autoregressive entropy model, upsampling, synthesis.

Each component has a float ``torch`` form (trained by the encoder) and an exact integer form
(run by the decoder and by the encoder's final pass), so decoding is bit-exact on any machine.
"""
