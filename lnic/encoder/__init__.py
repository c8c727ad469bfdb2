"""The encoder: fits latents and a decoder to one image, quantizes and codes them."""
