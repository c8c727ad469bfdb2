"""The encoder: fits latents and a decoder to one image, quantizes and codes them.

The encoder needs PyTorch, which a plain ``pip install lnic`` leaves out (decoding does not
need it). Importing this package imports no torch, so that :func:`require_torch` can say how to
install it instead of failing with an import traceback.
"""

from __future__ import annotations

from lnic.errors import LnicError

ENCODE_EXTRA = "pip install 'lnic[encode]'"
"""How to install what the encoder needs, as the missing-torch message says it."""


def require_torch() -> None:
    """Raise :class:`lnic.errors.LnicError` (one line naming the ``encode`` extra) when PyTorch
    cannot be imported; do nothing otherwise."""
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise LnicError(
            f"encoding needs PyTorch, which is not installed (install the encoder: {ENCODE_EXTRA})"
        ) from exc
