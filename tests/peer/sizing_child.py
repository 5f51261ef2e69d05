"""vLLM's own KV sizing for many tiny models in ONE process, without a full engine start.

Run in vLLM's interpreter with the repository root on ``PYTHONPATH``::

    echo '[{"name": "c1", "engine_args": {...}}, ...]' | /venv-vllm/bin/python -m tests.peer.sizing_child

For each request it does what vLLM 0.32's engine core does up to the block count, with vLLM's own
objects, and stops before allocating anything:

- ``EngineArgs(**engine_args).create_engine_config()``: the same VllmConfig a start builds (the platform's
  hybrid block-size alignment, ``verify_and_update_config`` of the model class, ...);
- the platform's executor (``Executor.get_class``): worker ``init_device`` and ``load_model`` with dummy
  weights, so every attention / Mamba / short-conv layer registers itself as in a start;
- then the steps of ``EngineCore._initialize_kv_caches`` (v1/engine/core.py, 0.32.0, lines 261-360):
  ``register_all_kvcache_specs``, the workers' ``get_kv_cache_spec``, the non-causal flip, the KV layout,
  ``determine_available_memory`` (``kv_cache_memory_bytes`` on the CPU worker), ``get_kv_cache_configs``,
  ``generate_scheduler_kv_cache_config``, the block-size update and ``update_kv_cache_capacity``.

Skipped: ``initialize_from_config`` (the KV tensors) and the warm-up, which decide nothing about sizes. One
process serves many models, so vLLM's import (about 10 s) is paid once; the distributed state is torn down
between models. Prints one ``KVPLAN_SIZING {json}`` line per request, in order, flushed as each ends, and
stops after the first one that fails (the parent reruns a failure that was not first in its process, so every
error recorded is what vLLM says in a fresh process).
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from typing import Any

from kvplan.probe.child import kv_cache_group_rows  # standard library only at import

PREFIX = "KVPLAN_SIZING "


def size_one(engine_args: dict[str, Any]) -> dict[str, Any]:
    import vllm.envs as envs
    from vllm.distributed.parallel_state import cleanup_dist_env_and_memory
    from vllm.engine.arg_utils import EngineArgs
    from vllm.usage.usage_lib import UsageContext
    from vllm.v1.attention.backends.utils import resolve_kv_cache_layout
    from vllm.v1.core.kv_cache_utils import (
        generate_scheduler_kv_cache_config,
        get_kv_cache_configs,
        update_kv_cache_capacity,
    )
    from vllm.v1.core.single_type_kv_cache_manager import register_all_kvcache_specs
    from vllm.v1.executor import Executor

    envs.disable_envs_cache()
    executor = None
    try:
        vllm_config = EngineArgs(**engine_args).create_engine_config(UsageContext.LLM_CLASS)
        executor = Executor.get_class(vllm_config)(vllm_config)
        register_all_kvcache_specs(vllm_config)
        specs = executor.get_kv_cache_specs()
        if any(getattr(s, "non_causal", False) for worker in specs for s in worker.values()):
            vllm_config.scheduler_config.enable_chunked_prefill = False
            vllm_config.cache_config.enable_prefix_caching = False
        layout = resolve_kv_cache_layout(
            vllm_config, executor.get_supported_kv_cache_layouts(), [s for w in specs for s in w.values()]
        )
        executor.set_kv_cache_layout(layout.name)
        available = executor.determine_available_memory() if any(specs) else [0] * len(specs)
        configs = get_kv_cache_configs(vllm_config, specs, available)
        scheduler_config = generate_scheduler_kv_cache_config(configs)
        cache = vllm_config.cache_config
        cache.num_gpu_blocks = scheduler_config.num_blocks
        groups = scheduler_config.kv_cache_groups
        if groups:
            participating = [g.kv_cache_spec.block_size for g in groups if g.kv_cache_spec.prefix_cacheable]
            cache.block_size = min(participating or [g.kv_cache_spec.block_size for g in groups])
            update_kv_cache_capacity(vllm_config, scheduler_config)
        vllm_config.validate_block_size()
        exact = getattr(cache, "kv_cache_max_concurrency", None)
        return {
            "num_blocks": cache.num_gpu_blocks,
            "block_size": cache.block_size,
            "max_model_len": vllm_config.model_config.max_model_len,
            "kv_cache_dtype": str(cache.cache_dtype),
            "model_dtype": str(vllm_config.model_config.dtype).removeprefix("torch."),
            "engine_kv_cache_tokens": getattr(cache, "kv_cache_size_tokens", None),
            "kv_cache_tokens": getattr(cache, "kv_cache_size_tokens", None),
            "max_concurrency_exact": exact,
            "max_concurrency": round(exact, 2) if exact is not None else None,
            "max_concurrency_len": vllm_config.model_config.max_model_len,
            "mamba_block_size": getattr(cache, "mamba_block_size", None),
            "enable_prefix_caching": cache.enable_prefix_caching,
            "available_kv_cache_bytes": int(available[0]) if available else None,
            "groups": kv_cache_group_rows(scheduler_config),
        }
    finally:
        # Also after a model that failed half-built: its process groups would otherwise stay, and the next model
        # would find "model parallel initialized" without the expert-parallel group it needs.
        try:
            if executor is not None:
                executor.shutdown()
        finally:
            cleanup_dist_env_and_memory()


def run_one(request: dict[str, Any]) -> dict[str, Any]:
    from kvplan.probe.child import _error_payload, estimated_max_model_len

    started = time.monotonic()
    out: dict[str, Any] = {"name": request.get("name")}
    try:
        import vllm

        out["vllm_version"] = str(vllm.__version__)
        out["device"] = "cpu"
        out.update(size_one(dict(request["engine_args"])))
        out["status"] = "ok"
    except Exception as exc:
        error = _error_payload(exc)
        out["status"] = "engine_error" if error["kind"] != "crash" else "crash"
        out["error"] = error
        out["traceback_tail"] = traceback.format_exc().splitlines()[-12:]
        est = estimated_max_model_len(error["message"])
        if est is not None:
            out["estimated_max_model_len"] = est
    out["elapsed_s"] = round(time.monotonic() - started, 2)
    return out


def main() -> None:
    os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
    requests = json.loads(sys.stdin.read())
    for request in requests:
        for key, value in (request.get("env") or {}).items():
            os.environ[str(key)] = str(value)
        result = run_one(request)
        for key in request.get("env") or {}:
            os.environ.pop(str(key), None)
        sys.stderr.flush()
        sys.stdout.write(PREFIX + json.dumps(result, default=str) + "\n")
        sys.stdout.flush()
        if result["status"] != "ok":
            break  # a model that failed half-built may leave state behind: the parent goes on in a fresh process
    os._exit(0)  # vLLM's atexit hooks can hang interpreter shutdown; every result is out


if __name__ == "__main__":
    main()
