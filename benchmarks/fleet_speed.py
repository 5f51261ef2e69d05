"""How long the two tables of `kvplan recommend` take (offline, no GPU).

    python benchmarks/fleet_speed.py [--repeat N] [--gpu KEY] [--model REF]

* ``catalog on one GPU``: every bundled model on one catalog GPU (default h100) at 0.9, as
  ``kvplan recommend --gpu h100 --gpu-util 0.9`` plans it: models resolved offline (HF cache, else the
  catalog), each planned at TP 1/2/4/8 until one meets the default 4K minimum, plus its fp8-KV plan;
* ``one model across the fleet``: one model (default meta-llama/Llama-3.1-8B-Instruct, and DeepSeek-V3, which
  needs pipeline stages across nodes) on every catalog GPU x TP 1/2/4/8 (+ PP), as ``kvplan recommend MODEL``
  without a GPU plans it, at its limit and 16 requests in flight.

Targets (issue 19): each <= 0.5 s. Prints the best and median of ``--repeat`` runs (the first run of each is
also the cold one: the caches of kv_cache_groups and the hybrid alignment start empty in a new process).
No timed assertion anywhere: these are figures to read.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from kvplan.cli.fleet_run import resolve_box, run_box, run_fleet
from kvplan.core.settings import DeploySettings
from kvplan.sources.catalog import names

ENV = {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": "/nonexistent-kvplan-bench", "KVPLAN_CACHE_DIR": "/nonexistent-kvplan"}


def _time(action: Callable[[], object], repeat: int) -> str:
    """Wall and CPU seconds: cold (the first run), best and median; on a shared machine CPU time is the steadier."""
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        action()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return (f"wall cold {walls[0]:.3f} s, best {min(walls):.3f}, median {statistics.median(walls):.3f}; "
            f"CPU best {min(cpus):.3f} s, median {statistics.median(cpus):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--gpu", default="h100")
    parser.add_argument("--model", action="append")
    args = parser.parse_args()
    settings = DeploySettings(gpu_memory_utilization=0.9)
    box = resolve_box(gpu=args.gpu, gpu_memory_bytes=None, gpu_count=None, utilization=0.9, environ=ENV)
    refs = names()
    counts: dict[str, int] = {}

    def catalog() -> None:
        result = run_box(box, settings, refs, ENV, min_context=4096, concurrency=None, max_params=None,
                         family=None, fixed_tp=None, utilization=0.9)
        counts["fits"] = sum(r.fits for r in result.rows)
        counts["rows"] = len(result.rows)

    figures = _time(catalog, args.repeat)
    print(f"catalog on one GPU ({args.gpu}, {counts['rows']} models, {counts['fits']} fit): {figures} "
          "(target <= 0.5 s)")

    from kvplan.api import plan_inputs

    for ref in args.model or ["meta-llama/Llama-3.1-8B-Instruct", "deepseek-ai/DeepSeek-V3"]:
        inputs = plan_inputs(ref, settings, revision=None, environ=ENV)
        rows: dict[str, int] = {}

        def fleet(ref: str = ref, inputs: object = inputs, rows: dict[str, int] = rows) -> None:
            from kvplan.api import PlanInputs

            assert isinstance(inputs, PlanInputs)
            result = run_fleet(ref, inputs.model, inputs.weights, settings, None, target_length=None,
                               concurrency=16, environ=ENV)
            rows["n"] = len(result.rows)

        figures = _time(fleet, args.repeat)
        print(f"one model across the fleet ({ref}, {rows['n']} rows): {figures} (target <= 0.5 s)")


if __name__ == "__main__":
    main()
