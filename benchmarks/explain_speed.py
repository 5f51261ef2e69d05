"""How long `kvplan explain` takes on a 50 MB log (target: <= 1 s; printed, not asserted).

    python benchmarks/explain_speed.py [--mb 50]

The log is a real vLLM 0.26 start-up (benchmarks/gpu-runs/h100-vllm-0.26.0/llama-default.log) followed by a
server's running output (metrics lines, access-log lines, a few warnings) up to the size asked, under a k8s
timestamp prefix with CRLF line ends, as `kubectl logs` of a long-running pod gives it. Printed: the parse alone,
and the whole command (parse, model from the catalog, re-plan, fixes, JSON). A second figure shows an adversarial
log where every line holds an anchor the parser must look at (still linear, slower).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import time
from pathlib import Path

from kvplan.core.vllm_logs import parse_log

ROOT = Path(__file__).resolve().parent.parent
START = ROOT / "benchmarks" / "gpu-runs" / "h100-vllm-0.26.0" / "llama-default.log"
RUNNING = (
    "INFO 11-26 10:{m:02d}:{s:02d} [loggers.py:236] Engine 000: Avg prompt throughput: 1843.2 tokens/s, Avg generation "
    "throughput: 912.7 tokens/s, Running: 37 reqs, Waiting: 0 reqs, GPU KV cache usage: 41.3%, Prefix cache hit "
    "rate: 63.9%\n"
    "INFO:     10.42.3.17:{port} - \"POST /v1/chat/completions HTTP/1.1\" 200 OK\n"
    "INFO:     10.42.3.18:{port} - \"GET /metrics HTTP/1.1\" 200 OK\n"
    "WARNING 11-26 10:{m:02d}:{s:02d} [protocol.py:58] The following fields were present in the request but ignored: "
    "{{'stream_options'}}\n"
)


def build(megabytes: float, adversarial: bool = False) -> bytes:
    head = START.read_text()
    chunks = [head]
    size = len(head)
    target = int(megabytes * 1_000_000)
    i = 0
    while size < target:
        if adversarial:
            block = "".join(f"INFO [gpu_worker.py:560] Available KV cache memory: {i % 90}.{j:02d} GiB\n"
                            for j in range(20))
        else:
            block = RUNNING.format(m=(i // 60) % 60, s=i % 60, port=40000 + i % 20000)
        chunks.append(block)
        size += len(block)
        i += 1
    text = "".join(f"2026-11-26T10:00:00.{n % 1000:03d}Z {line}\r\n"
                   for n, line in enumerate("".join(chunks).splitlines()))
    return text.encode()[:target]


def timed(data: bytes) -> tuple[tuple[float, float], tuple[float, float]]:
    """((wall, CPU) seconds of the parse, (wall, CPU) of the whole explain). CPU time is what an idle machine's
    wall clock would show; on a shared machine the wall clock is longer."""
    import kvplan.cli.app  # noqa: F401 - the app registers its commands first (cli modules import it)
    from kvplan.cli.explain import explain_bytes

    wall, cpu = time.perf_counter(), time.process_time()
    parse_log(data)
    parse = (time.perf_counter() - wall, time.process_time() - cpu)
    wall, cpu = time.perf_counter(), time.process_time()
    with contextlib.redirect_stdout(io.StringIO()):
        explain_bytes(data, label="bench.log", model="meta-llama/Llama-3.1-8B-Instruct", config=None, gpu="h100",
                      gpu_memory=None, vllm_version=None, revision=None, record=False, json_output=True,
                      environ={**os.environ, "HF_HUB_OFFLINE": "1"})
    return parse, (time.perf_counter() - wall, time.process_time() - cpu)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=50.0)
    args = parser.parse_args()
    for label, adversarial in (("realistic", False), ("adversarial (every line an anchor)", True)):
        data = build(args.mb, adversarial)
        (parse_wall, parse_cpu), (whole_wall, whole_cpu) = timed(data)
        lines = data.count(b"\n")
        print(f"{label}: {len(data) / 1e6:.1f} MB, {lines:,} lines: parse {parse_cpu:.2f} s CPU ({parse_wall:.2f} s "
              f"wall); explain (parse + re-plan + JSON) {whole_cpu:.2f} s CPU ({whole_wall:.2f} s wall); target <= 1 s")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average {load:.1f} on {os.cpu_count()} CPUs (wall time above CPU time means a busy machine)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
