"""The reference step runner (lnic.bench.refstep)."""

from __future__ import annotations

import pytest

from lnic.bench import refstep


def test_reference_steps_runs_the_shared_script_in_fresh_processes(tmp_path, monkeypatch):
    script = tmp_path / "bench" / "refstep.py"
    script.parent.mkdir()
    script.write_text("import os\nprint('x')\nprint(0.25 + len(os.environ.get('EXTRA', '')))\n")
    monkeypatch.setenv("LNIC_SHARED", str(tmp_path))
    assert refstep.reference_steps(2) == [0.25, 0.25]
    assert refstep.reference_steps(1, env={"EXTRA": "ab", "PATH": ""}) == [2.25]
    assert refstep.reference_steps(0) == []


def test_a_missing_reference_script_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("LNIC_SHARED", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="refstep.py"):
        refstep.reference_steps(1)


def test_times_are_multiples_of_the_median_reference_step():
    assert refstep.in_reference_steps(300.0, [0.5, 0.7, 0.9], [1.1, 1.3, 1.5]) == 300.0 / 1.0
    assert refstep.in_reference_steps(10.0, [2.0], [3.0]) == 4.0
