"""``python -m bench --quick`` runs end to end and reports every figure.

The figures' values are not checked (speed goals live in bench/, not in tests): only that
a clean run against the real broker, central processes and PostgreSQL measures each one
and writes the JSON, the markdown table and the chart.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.report import FIGURES

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_quick_bench_writes_every_figure(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "bench", "--quick", "--results",
                             str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"

    report = json.loads((tmp_path / "latest.json").read_text())
    assert report["meta"]["complete"] is True
    figures = {row["key"]: row for row in report["figures"]}
    assert set(figures) == set(FIGURES)
    missing = [key for key, row in figures.items() if row["value"] is None]
    assert not missing, f"figures not measured: {missing}\n{result.stderr}"
    assert report["ingest"]["committed"] > 0
    assert report["fanout"]["missed"] == 0

    table = (tmp_path / "latest.md").read_text()
    assert "not measured" not in table
    assert table.count("\n| ") >= len(FIGURES) + 1  # header + one row per figure
    if importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "latest.png").stat().st_size > 0
