"""Cold start-up time of the CLI: `kvplan --help` and `kvplan check` on a catalog model, offline.

Prints the median (and min/max) wall time of N fresh processes each. Target: <= 0.3 s on a 2-core machine.
Usage: python benchmarks/speed.py [--runs N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

CASES = {
    "kvplan --help": ["--help"],
    "kvplan check (catalog, offline, --json)": [
        "check", "Qwen/Qwen2.5-7B-Instruct", "--gpu", "a10g", "--max-model-len", "32768", "--json"],
    "kvplan check (catalog, offline, human view)": [
        "check", "meta-llama/Llama-3.3-70B-Instruct", "--gpu", "h100", "-tp", "2", "--kv-cache-dtype", "fp8"],
}


def time_case(args: list[str], runs: int) -> list[float]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", COLUMNS="120")
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "kvplan", *args], env=env, capture_output=True)
        times.append(time.perf_counter() - start)
        if done.returncode not in (0, 1):
            raise SystemExit(f"{args}: exit {done.returncode}: {done.stderr.decode()[-300:]}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--json", action="store_true")
    ns = parser.parse_args()
    baseline = time_case_python(ns.runs)
    results = {}
    for name, args in CASES.items():
        times = time_case(args, ns.runs)
        results[name] = {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times)}
    results["python -c pass (interpreter floor)"] = baseline
    if ns.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{'case':48} {'median':>8} {'min':>8} {'max':>8}   ({ns.runs} cold runs each, target <= 0.300 s)")
    for name, row in results.items():
        print(f"{name:48} {row['median_s']:8.3f} {row['min_s']:8.3f} {row['max_s']:8.3f}")


def time_case_python(runs: int) -> dict[str, float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - start)
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times)}


if __name__ == "__main__":
    main()
