"""Shared helpers of the benchmarks: percentiles and table rows. The emulator runs in its own process
(:func:`tests.emulator.process.emulator_subprocess`, re-exported as ``emulator_process``)."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.emulator.process import emulator_subprocess as emulator_process  # noqa: E402

__all__ = ["emulator_process", "percentile", "print_rows", "row"]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values`` by linear interpolation (statistics.quantiles)."""
    if len(values) == 1:
        return values[0]
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[max(0, min(98, round(q) - 1))]


def row(metric: str, values_ms: Sequence[float], unit: str = "ms", baseline: str = "") -> dict[str, Any]:
    """One table row: p50 and p95 of ``values_ms``."""
    return {
        "metric": metric,
        "p50": percentile(values_ms, 50),
        "p95": percentile(values_ms, 95),
        "unit": unit,
        "n": len(values_ms),
        "baseline": baseline,
    }


def print_rows(rows: list[dict[str, Any]], as_json: bool = False) -> None:
    """Print rows as an aligned table (or JSON lines for ``bench/report``)."""
    if as_json:
        for r in rows:
            print(json.dumps(r))
        return
    width = max(len(r["metric"]) for r in rows)
    print(f"{'metric':<{width}}  {'p50':>10}  {'p95':>10}  unit    n     baseline")
    for r in rows:
        print(
            f"{r['metric']:<{width}}  {r['p50']:>10.3f}  {r['p95']:>10.3f}  {r['unit']:<6}  {r['n']:<5} {r['baseline']}"
        )


def pip_download(requirement: str, into: Path, *, wheel: bool) -> Path:
    """Download one distribution of ``requirement`` (``name==version``, no dependencies) into the
    folder ``into`` with this interpreter's pip: the wheel when ``wheel``, else the sdist. Returns
    the downloaded file. Raises ``subprocess.CalledProcessError`` when pip fails."""
    kind = ["--only-binary", ":all:"] if wheel else ["--no-binary", ":all:"]
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", *kind, requirement, "-d", str(into), "-q"],
                   check=True, stdout=subprocess.DEVNULL)
    (found,) = into.glob("*.whl" if wheel else "*.tar.gz")
    return found
