"""Values of ``lnic bench``'s options, checked: codecs, sweeps, CSV layout, image names.

Each function raises :class:`lnic.errors.InputError` with a one-line message naming the option.
"""

from __future__ import annotations

from lnic.bench.codecs import Codec, CodecUnavailable, LnicCodec, codec_name, get_codec
from lnic.bench.results import COLUMN_SETS, COLUMNS, REQUIRED_COLUMNS
from lnic.errors import InputError

__all__ = ["build_codecs", "parse_columns", "parse_names", "parse_settings"]


def build_codecs(specs: list[str]) -> list[Codec]:
    """Build the codecs of ``--codecs`` and check that the classical ones can run here."""
    try:
        codecs = [get_codec(spec) for spec in specs]
    except ValueError as exc:
        raise InputError(str(exc)) from None
    names = [codec_name(c) for c in codecs]
    if len(set(names)) != len(names):
        raise InputError(f"a codec is listed twice in --codecs: {','.join(names)}")
    for codec in codecs:
        if isinstance(codec, LnicCodec):
            continue  # lnic's API may not be importable yet; failures are reported per row
        try:
            codec.check_available()
        except (CodecUnavailable, ImportError) as exc:
            raise InputError(f"codec {codec_name(codec)} cannot run here: {exc}") from None
    return codecs


def parse_settings(specs: list[str], codecs: list[Codec]) -> dict[str, list[str]]:
    """Resolve ``--settings`` values into a validated sweep per codec name."""
    names = [codec_name(c) for c in codecs]
    by_name = dict(zip(names, codecs, strict=True))
    out = {name: c.settings for name, c in by_name.items()}
    for spec in specs:
        target, sep, values = spec.partition("=")
        if sep:
            key = target.strip()
            if key not in by_name:  # "lnic:fast=..." for the codec named lnic-fast
                try:
                    key = codec_name(get_codec(key))
                except ValueError:
                    pass
            if key not in by_name:
                raise InputError(f"--settings {spec!r}: {target!r} is not among --codecs")
            targets = [key]
        else:
            values, targets = target, names
        items = [v.strip() for v in values.split(",") if v.strip()]
        if not items:
            raise InputError(f"--settings {spec!r}: no values")
        for name in targets:
            try:
                out[name] = list(dict.fromkeys(by_name[name].validate_setting(v) for v in items))
            except ValueError as exc:
                raise InputError(f"--settings {spec!r}: {exc}") from None
    return out


def parse_columns(spec: str | None) -> tuple[str, ...] | None:
    """The layout ``--columns`` names (None: each file keeps its own)."""
    if not spec:
        return None
    if spec in COLUMN_SETS:
        return COLUMN_SETS[spec]
    names = [c.strip() for c in spec.split(",") if c.strip()]
    unknown = [c for c in names if c not in COLUMNS]
    if unknown:
        raise InputError(
            f"--columns: unknown {', '.join(unknown)} (sets: {', '.join(COLUMN_SETS)}; "
            f"columns: {','.join(COLUMNS)})"
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise InputError(f"--columns: needs {', '.join(missing)}")
    return tuple(c for c in COLUMNS if c in names)


def parse_names(spec: str | None) -> list[str] | None:
    """The names of a comma-separated option (None when not given)."""
    return [n.strip() for n in spec.split(",") if n.strip()] if spec else None
