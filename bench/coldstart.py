"""Cold-start import cost of the Lambda entry point, against the floor of its unavoidable imports.

Prints the median wall time of ``import app`` over fresh interpreter processes, next to the median
of ``import chalice, pynamodb.models, pydantic`` measured in the same run (interleaved, so machine
load affects both alike), their ratio against the target, and the top contributors from
``python -X importtime``, and ends with one JSON line. Exit status 1 when the ratio misses the target.

    python -m bench.coldstart [--runs 21] [--target 1.3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLOOR = "import chalice, pynamodb.models, pydantic"
APP = "import app"
_TIMER = "import time; _t = time.perf_counter(); {stmt}; print(time.perf_counter() - _t)"


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # Lambda runs with compiled bytecode
    env["PYTHONPATH"] = str(ROOT)
    return env


def time_import(statement: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _TIMER.format(stmt=statement)], cwd=ROOT, env=_environment(), check=True, capture_output=True, text=True
    ).stdout
    return float(out.strip().splitlines()[-1])


def top_contributors(statement: str, count: int) -> list[tuple[int, int, str]]:
    """(self µs, cumulative µs, module) of the slowest modules by self time."""
    err = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement], cwd=ROOT, env=_environment(), check=True, capture_output=True, text=True
    ).stderr
    rows = []
    for line in err.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(.+)", line)
        if match:
            rows.append((int(match[1]), int(match[2]), match[3][1:] + match[4]))
    return sorted(rows, reverse=True)[:count]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--target", type=float, default=1.3)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args(argv)

    for statement in (FLOOR, APP):  # warm the bytecode cache and the page cache
        time_import(statement)
    floor, app = [], []
    for _ in range(args.runs):
        floor.append(time_import(FLOOR))
        app.append(time_import(APP))
    floor_ms, app_ms = statistics.median(floor) * 1000, statistics.median(app) * 1000
    ratio = app_ms / floor_ms

    print(f"cold-start imports, median of {args.runs} fresh processes ({sys.executable})")
    print(f"  floor  {FLOOR:<45} {floor_ms:7.1f} ms")
    print(f"  app    {APP:<45} {app_ms:7.1f} ms")
    print(f"  ratio  app / floor = {ratio:.2f}  (target <= {args.target:.2f}): {'met' if ratio <= args.target else 'MISSED'}")
    print(f"\ntop {args.top} modules by self time in `{APP}` (python -X importtime; µs):")
    print(f"  {'self':>8} {'cumulative':>11}  module")
    for self_us, cumulative_us, module in top_contributors(APP, args.top):
        print(f"  {self_us:>8} {cumulative_us:>11}  {module}")
    print(json.dumps({"benchmark": "coldstart", "app_ms": round(app_ms, 1), "floor_ms": round(floor_ms, 1), "ratio": round(ratio, 2)}))
    return 0 if ratio <= args.target else 1


if __name__ == "__main__":
    raise SystemExit(main())
