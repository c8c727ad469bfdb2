"""``docs/cli.md``, generated from the parser so that it never drifts from ``lnic --help``:

    python -m lnic.clidoc docs/cli.md

(``tests/test_cli_conventions.py`` checks that the committed file is up to date.)
"""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import contextmanager
from pathlib import Path

from lnic.cli import EXIT_CODES, build_parser

HELP_COLUMNS = 100
"""Width the help texts are wrapped to (argparse reads it from ``$COLUMNS``)."""

_INTRO = """\
# The `lnic` command line

Generated from the parser by `python -m lnic.clidoc docs/cli.md` (Python {python}); the same
text is what `lnic --help` and `lnic COMMAND --help` print.

Exit codes:

| code | meaning |
|---|---|
{codes}
"""


@contextmanager
def _columns(n: int):
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(n)
    try:
        yield
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def render() -> str:
    """The whole of ``docs/cli.md``."""
    codes = "\n".join(f"| {code} | {text} |" for code, text in EXIT_CODES.items())
    python = ".".join(str(v) for v in sys.version_info[:2])
    parts = [_INTRO.format(python=python, codes=codes)]
    with _columns(HELP_COLUMNS):
        parser = build_parser(with_bench=True)
        parts.append(f"## lnic\n\n```text\n{parser.format_help().rstrip()}\n```\n")
        for name, sub in _subcommands(parser).items():
            parts.append(f"## lnic {name}\n\n```text\n{sub.format_help().rstrip()}\n```\n")
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    text = render()
    if argv:
        Path(argv[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
