"""``OUT/run.json``: how a benchmark folder's rows were made.

It holds every command run into the folder, the dataset, the machine, the commit, and per codec
its description, library versions, sweep, commit (and preset for lnic). A run merges its entries
into the file, so a folder filled by several runs keeps each codec's own.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from lnic.bench.codecs import Codec, LnicCodec, codec_name
from lnic.bench.provenance import git_commit, machine_info
from lnic.bench.results import atomic_write_text, locked_folder

__all__ = ["RUN_INFO", "run_info_for", "update_run_info"]

log = logging.getLogger(__name__)

RUN_INFO = "run.json"


def update_run_info(out_dir: Path, updates: dict[str, object]) -> dict[str, object]:
    """Merge ``updates`` into ``OUT/run.json`` (the ``codecs`` entry is merged per codec)."""
    with locked_folder(out_dir):
        return _merge(out_dir / RUN_INFO, updates)


def _merge(path: Path, updates: dict[str, object]) -> dict[str, object]:
    info: dict[str, object] = {}
    if path.exists():
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            log.warning("%s unreadable, starting a new one", path)
    codecs = dict(info.get("codecs", {}) or {})
    codecs.update(updates.get("codecs", {}) or {})  # type: ignore[arg-type]
    commands = list(info.get("commands", []) or [])
    if updates.get("command") and updates["command"] not in commands:
        commands.append(updates["command"])
    info.update({k: v for k, v in updates.items() if k not in ("codecs", "command")})
    info["codecs"] = codecs
    info["commands"] = commands
    atomic_write_text(path, json.dumps(info, indent=2) + "\n")
    return info


def _codec_entry(codec: Codec, settings: list[str], commit: str) -> dict[str, object]:
    try:
        version = codec.version()
    except ImportError as exc:  # lnic's API can be missing while the harness runs
        version = f"unavailable ({exc})"
    entry: dict[str, object] = {
        "description": codec.description,
        "version": version,
        "settings": settings,
        "commit": commit,
    }
    if isinstance(codec, LnicCodec):
        entry["preset"] = codec.preset
    return entry


def run_info_for(
    codecs: Sequence[Codec],
    settings: dict[str, list[str]],
    dataset: str,
    command: str,
    crop: int | None = None,
) -> dict[str, object]:
    """The ``run.json`` entries of a run: command, commit, machine, and each codec's version."""
    commit = git_commit()
    return {
        "command": command,
        "commit": commit,
        "dataset": dataset,
        "crop": crop,
        "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "codecs": {codec_name(c): _codec_entry(c, settings[codec_name(c)], commit) for c in codecs},
    }
