"""Cold start-up time of the CLI, and the gate over 1,000 deployments, offline.

Prints the median (and min/max) wall time, and the median CPU time (user + system, what a loaded machine
does not inflate), of N fresh processes each. Targets: a cold `kvplan check` <= 0.15 s; `kvplan gate` over
1,000 deployments <= 1 s (each distinct model/GPU/settings planned once). Byte-code is written to a temporary
cache and one warm-up run precedes the timed ones, as an installed kvplan has its .pyc files.
Usage: python benchmarks/speed.py [--runs N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CASES = {
    "kvplan --help": ["-m", "kvplan", "--help"],
    "kvplan check (catalog, offline, --json)": [
        "-m", "kvplan", "check", "Qwen/Qwen2.5-7B-Instruct", "--gpu", "a10g", "--max-model-len", "32768", "--json"],
    "  same through the Typer app (no fast path)": [
        "-c", "from kvplan.cli.app import main; main()", "check", "Qwen/Qwen2.5-7B-Instruct", "--gpu", "a10g",
        "--max-model-len", "32768", "--json"],
    "kvplan check (catalog, offline, human view)": [
        "-m", "kvplan", "check", "meta-llama/Llama-3.3-70B-Instruct", "--gpu", "h100", "-tp", "2", "--kv-cache-dtype",
        "fp8"],
}
MODELS = ["Qwen/Qwen2.5-7B-Instruct", "meta-llama/Llama-3.1-8B-Instruct", "google/gemma-3-4b-it", "Qwen/Qwen3-8B",
          "mistralai/Mistral-7B-v0.1"]


def manifests(folder: Path) -> dict[str, Path]:
    """1,000 deployments: 10 distinct (5 models x 2 lengths) repeated, and 1,000 distinct lengths."""
    repeated = ['[defaults]\ngpu = "a10g"\n']
    distinct = ['[defaults]\ngpu = "a10g"\n']
    for i in range(1000):
        model = MODELS[i % 5]
        length = (4096, 8192)[i // 5 % 2]
        repeated.append(f'[[deployment]]\nname = "d{i}"\nmodel = "{model}"\nmax_model_len = {length}\n')
        distinct.append(f'[[deployment]]\nname = "d{i}"\nmodel = "{model}"\nmax_model_len = {2048 + i}\n')
    out = {"repeated": folder / "repeated.toml", "distinct": folder / "distinct.toml"}
    out["repeated"].write_text("\n".join(repeated))
    out["distinct"].write_text("\n".join(distinct))
    return out


def time_case(args: list[str], runs: int, env: dict[str, str]) -> dict[str, float]:
    walls, cpus = [], []
    subprocess.run([sys.executable, *args], env=env, capture_output=True)  # warm-up: writes the byte-code
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, *args], env=env, capture_output=True)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if done.returncode not in (0, 1):
            raise SystemExit(f"{args}: exit {done.returncode}: {done.stderr.decode()[-300:]}")
    return {"median_s": statistics.median(walls), "min_s": min(walls), "max_s": max(walls),
            "cpu_median_s": statistics.median(cpus)}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--json", action="store_true")
    ns = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(HF_HUB_OFFLINE="1", COLUMNS="120", PYTHONPYCACHEPREFIX=str(Path(tmp) / "pyc"))
        files = manifests(Path(tmp))
        cases = dict(CASES)
        cases["kvplan gate: 1,000 deployments, 10 distinct"] = ["-m", "kvplan", "gate", str(files["repeated"]),
                                                                "--json"]
        cases["kvplan gate: 1,000 deployments, all distinct"] = ["-m", "kvplan", "gate", str(files["distinct"]),
                                                                 "--json"]
        results = {"python -c pass (interpreter floor)": time_case(["-c", "pass"], ns.runs, env)}
        for name, args in cases.items():
            runs = ns.runs if "gate" not in name else max(3, ns.runs // 5)
            results[name] = time_case(args, runs, env)
    if ns.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{'case':48} {'median':>8} {'min':>8} {'max':>8} {'cpu':>8}   (cold runs; targets: check <= 0.150 s, "
          "gate 1,000 <= 1.0 s)")
    for name, row in results.items():
        print(f"{name:48} {row['median_s']:8.3f} {row['min_s']:8.3f} {row['max_s']:8.3f} {row['cpu_median_s']:8.3f}")


if __name__ == "__main__":
    main()
