"""The project's error types. Everything a user can trigger ends in an :class:`LnicError`."""

from __future__ import annotations


class LnicError(Exception):
    """Base class of every error lnic raises on purpose; the CLI prints it as one line."""


class InputError(LnicError):
    """The input image (or argument) cannot be coded: not an image, unsupported mode, too small."""


class BitstreamError(LnicError):
    """A bitstream is malformed, truncated, of another format or of an unsupported version."""


class SelfCheckError(LnicError):
    """The encoder decoded its own bitstream and got a different image than it optimised."""
