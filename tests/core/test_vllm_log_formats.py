"""The log parser across releases, launchers and log plumbing (prefixes, ANSI colours, CRLF), and under fuzzing."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kvplan.core.vllm_logs import normalise, parse_log

SEED_LOG = Path(__file__).resolve().parents[1] / "data" / "logs" / "qwen7b-chat-v0-api-for-open-llm.log"

V0_CONFIG_04 = (
    'INFO 05-10 08:12:24 llm_engine.py:100] Initializing an LLM engine (v0.4.2) with config: '
    "model='Qwen/Qwen-7B-Chat', speculative_config=None, tokenizer='Qwen/Qwen-7B-Chat', "
    'skip_tokenizer_init=False, tokenizer_mode=auto, revision=None, tokenizer_revision=None, '
    'trust_remote_code=True, dtype=torch.bfloat16, max_seq_len=8192, download_dir=None, '
    'load_format=LoadFormat.AUTO, tensor_parallel_size=1, disable_custom_all_reduce=False, quantization=None, '
    'enforce_eager=False, kv_cache_dtype=auto, quantization_param_path=None, device_config=cuda, '
    "decoding_config=DecodingConfig(guided_decoding_backend='outlines'), seed=0, "
    'served_model_name=Qwen/Qwen-7B-Chat)'
)
V0_CONFIG_07 = (
    "INFO 02-11 10:02:41 llm_engine.py:234] Initializing a V0 LLM engine (v0.7.2) with config: "
    "model='/models/DeepSeek-R1-Distill-Qwen-32B-AWQ', speculative_config=None, tokenizer='/models/x', "
    "skip_tokenizer_init=False, tokenizer_mode=auto, revision=None, override_neuron_config=None, "
    "tokenizer_revision=None, trust_remote_code=False, dtype=torch.float16, max_seq_len=16384, download_dir=None, "
    "load_format=LoadFormat.AUTO, tensor_parallel_size=2, pipeline_parallel_size=1, "
    "disable_custom_all_reduce=False, quantization=awq_marlin, enforce_eager=True, kv_cache_dtype=fp8, "
    "device_config=cuda, decoding_config=DecodingConfig(guided_decoding_backend='xgrammar'), seed=0, "
    "served_model_name=x, num_scheduler_steps=1, multi_step_stream_outputs=True, enable_prefix_caching=False, "
    "chunked_prefill_enabled=False, use_async_output_proc=False, disable_mm_preprocessor_cache=False, "
    "mm_processor_kwargs=None, pooler_config=None, compilation_config={\"splitting_ops\":[],\"compile_sizes\":[],"
    "\"cudagraph_capture_sizes\":[256,248],\"max_capture_size\":256}, use_cached_outputs=False, "
)


def test_v0_0_4_engine_config_line() -> None:
    r = parse_log(V0_CONFIG_04)
    s = r.settings
    assert (r.vllm_version, r.model, r.engine) == ("0.4.2", "Qwen/Qwen-7B-Chat", "v0")
    assert (s.dtype, s.max_model_len, s.tensor_parallel_size, s.quantization, s.enforce_eager, s.kv_cache_dtype) == (
        "bfloat16", 8192, 1, None, False, "auto")


def test_v0_0_7_engine_config_line() -> None:
    r = parse_log(V0_CONFIG_07)
    s = r.settings
    assert (r.vllm_version, r.engine) == ("0.7.2", "v0")
    assert (s.dtype, s.max_model_len, s.tensor_parallel_size, s.pipeline_parallel_size) == ("float16", 16384, 2, 1)
    assert (s.quantization, s.enforce_eager, s.kv_cache_dtype, s.enable_prefix_caching) == (
        "awq_marlin", True, "fp8", False)


def test_v1_engine_config_line_and_args_from_the_h100_log() -> None:
    runs = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu-runs"
    log = runs / "h100-vllm-0.26.0" / "llama1b-serve-like.log"
    r = parse_log(log.read_text())
    s = r.settings
    assert (r.engine, r.vllm_version, r.architecture) == ("v1", "0.26.0", "LlamaForCausalLM")
    assert (s.max_num_seqs, s.max_num_batched_tokens, s.gpu_memory_utilization) == (256, 2048, 0.85)
    assert (s.enable_prefix_caching, s.enable_chunked_prefill, s.enforce_eager) == (True, True, False)
    # the suggestion line's --kv-cache-memory=... is vLLM's advice, not a flag it was given
    assert s.kv_cache_memory_bytes is None
    assert (r.free_at_init_gib, r.total_gpu_memory_gib, r.requested_gib) == (78.66, 79.18, 67.3)


def test_non_default_args_dict_is_scanned_not_evaluated() -> None:
    r = parse_log("INFO 08-01 [utils.py:326] non-default args: {'model_tag': 'Qwen/Qwen3-8B', 'host': '0.0.0.0', "
                  "'model': 'Qwen/Qwen3-8B', 'max_model_len': 32768, 'enforce_eager': True, "
                  "'compilation_config': {'level': 3, 'cudagraph_capture_sizes': [1, 2]}, "
                  "'kv_cache_dtype': 'fp8_e4m3', 'gpu_memory_utilization': 0.85, 'tensor_parallel_size': 2, "
                  "'chat_template': '{% for m in messages %}{{ m[\"content\"] }}, {% endfor %}', "
                  "'speculative_config': {'method': 'ngram'}, 'block_size': 32, '__import__': 'os'}")
    s = r.settings
    assert r.model == "Qwen/Qwen3-8B"
    assert (s.max_model_len, s.enforce_eager, s.kv_cache_dtype, s.gpu_memory_utilization) == (32768, True, "fp8_e4m3",
                                                                                             0.85)
    assert (s.tensor_parallel_size, s.block_size) == (2, 32)


def test_namespace_args_of_the_old_api_server() -> None:
    r = parse_log("INFO 03-01 12:00:00 api_server.py:149] args: Namespace(host=None, port=8000, "
                  "allowed_origins=['*'], model='/models/Qwen1.5-7B-Chat', tokenizer=None, dtype='auto', "
                  "max_model_len=16384, tensor_parallel_size=2, block_size=16, gpu_memory_utilization=0.95, "
                  "max_num_seqs=64, enforce_eager=False, kv_cache_dtype='auto', quantization=None)")
    s = r.settings
    assert (r.model, r.source) == ("/models/Qwen1.5-7B-Chat", "vllm serve")
    assert (s.max_model_len, s.tensor_parallel_size, s.block_size, s.gpu_memory_utilization, s.max_num_seqs) == (
        16384, 2, 16, 0.95, 64)


def test_api_for_open_llm_settings_and_the_seed_log() -> None:
    r = parse_log(SEED_LOG.read_bytes())
    s = r.settings
    assert (r.source, r.model, r.vllm_version, r.engine) == ("api-for-open-llm", "Qwen/Qwen-7B-Chat", "0.4.2", "v0")
    # CONTEXT_LEN=-1 means unset: the engine line's max_seq_len is what vLLM used
    assert (s.max_model_len, s.gpu_memory_utilization, s.max_num_seqs, s.dtype) == (8192, 0.9, 256, "bfloat16")
    assert (r.model_loading_gib, r.gpu_blocks, r.cpu_blocks) == (14.382, 282, 512)
    (error,) = r.errors
    assert (error.kind, error.max_model_len, error.kv_tokens) == ("max_model_len", 8192, 4512)


def test_the_briefs_wording_of_the_loading_line() -> None:
    assert parse_log("INFO model_runner.py:1] Model loading took 14.38 GB and 5.2 seconds").model_loading_gib == 14.38


@pytest.mark.parametrize("prefix", [
    "",
    "vllm-1  | ",  # docker compose
    "2024-05-10T08:12:43.123456789Z ",  # kubectl logs --timestamps
    "[pod/vllm-7d9f8b6c4-x2x7q/vllm] ",  # kubectl logs -l ... --prefix
    "(EngineCore_DP0 pid=123) ",  # V1 engine core process
    "\x1b[32mINFO\x1b[0m ",  # ANSI colours
])
@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
def test_prefixes_colours_and_line_ends(prefix: str, line_end: str) -> None:
    lines = [
        "INFO 06-23 14:21:40 [core.py:1] Initializing a V1 LLM engine (v0.9.2) with config: model='m', "
        "dtype=torch.bfloat16, max_seq_len=40960, tensor_parallel_size=1, enforce_eager=False",
        "INFO 06-23 14:21:45 [gpu_model_runner.py:1] Model loading took 15.2683 GiB and 6.1 seconds",
        "INFO 06-23 14:21:48 [gpu_worker.py:232] Available KV cache memory: \x1b[1m51.63 GiB\x1b[0m",
        "INFO 06-23 14:21:48 [kv_cache_utils.py:716] GPU KV cache size: 410,128 tokens",
        "INFO 06-23 14:21:48 [kv_cache_utils.py:720] Maximum concurrency for 40,960 tokens per request: 10.01x",
    ]
    r = parse_log(line_end.join(prefix + line for line in lines).encode())
    assert (r.vllm_version, r.engine, r.model, r.settings.max_model_len) == ("0.9.2", "v1", "m", 40960)
    assert (r.model_loading_gib, r.available_kv_cache_gib, r.kv_cache_tokens) == (15.2683, 51.63, 410128)
    assert (r.max_concurrency, r.max_concurrency_len) == (10.01, 40960)
    assert r.releases_cited == ("0.9.2",)


def test_v0_0_7_multi_line_profile_with_k8s_prefix_on_each_line() -> None:
    text = "\n".join("2025-02-11T10:03:00Z " + line for line in (
        "INFO 02-11 10:03:00 worker.py:267] Memory profiling takes 4.81 seconds",
        "the current vLLM instance can use total_gpu_memory (14.56GiB) x gpu_memory_utilization (0.50) = 7.28GiB",
        "model weights take 2.89GiB; non_torch_memory takes 0.01GiB; PyTorch activation peak memory takes 2.02GiB; "
        "the rest of the memory reserved for KV Cache is 2.36GiB.",
        "INFO 02-11 10:03:01 executor_base.py:110] # CUDA blocks: 5517, # CPU blocks: 9362",
    ))
    r = parse_log(text)
    assert (r.total_gpu_memory_gib, r.settings.gpu_memory_utilization, r.model_loading_gib) == (14.56, 0.5, 2.89)
    assert (r.non_torch_gib, r.activation_peak_gib, r.available_kv_cache_gib) == (0.01, 2.02, 2.36)
    assert (r.gpu_blocks, r.engine) == (5517, "v0")


@pytest.mark.parametrize(("before", "kind"), [
    ("INFO [gpu_model_runner.py:1] Starting to load model Qwen/Qwen3-32B...\n", "oom_loading"),
    ("INFO Model loading took 61.0 GiB\n  File \"vllm/v1/worker/gpu_worker.py\", line 1, in "
     "determine_available_memory\n    self.model_runner.profile_run()\n", "oom_profiling"),
    ("INFO Model loading took 15.0 GiB\nINFO Available KV cache memory: 54.0 GiB\n"
     "Capturing CUDA graph shapes:  40%|████      | 27/67\n", "oom_graphs"),
])
def test_cuda_out_of_memory_by_phase(before: str, kind: str) -> None:
    oom = ("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.96 GiB. GPU 0 has a total capacity of "
           "79.10 GiB of which 1.05 GiB is free. Including non-PyTorch memory, this process has 78.04 GiB memory in "
           "use.")
    r = parse_log(before + oom)
    (error,) = r.errors
    assert error.kind == kind and error.total_gib == 79.10 and error.tried_gib == 1.96
    assert (r.total_gpu_memory_gib, r.total_source) == (79.10, "torch out-of-memory text")


def test_old_torch_out_of_memory_wording() -> None:
    r = parse_log("torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 224.00 MiB (GPU 0; 23.65 GiB "
                  "total capacity; 22.71 GiB already allocated; 97.06 MiB free; 22.75 GiB reserved in total by "
                  "PyTorch)")
    (error,) = r.errors
    assert error.kind == "oom" and error.total_gib == 23.65 and error.tried_gib == pytest.approx(224 / 1024)


@pytest.mark.parametrize(("text", "archs"), [
    ("ValueError: Model architectures ['QWenLMHeadModel'] are not supported for now. Supported architectures: "
     "['AquilaModel', 'BaiChuanForCausalLM']", ("QWenLMHeadModel",)),
    ("ValueError: Model architectures ['Qwen3NextForCausalLM'] failed to be inspected. Please check the logs for "
     "more details.", ("Qwen3NextForCausalLM",)),
    ("ValueError: The checkpoint you are trying to load has model type `qwen3_5` but Transformers does not "
     "recognize this architecture.", ("qwen3_5",)),
])
def test_unsupported_architecture(text: str, archs: tuple[str, ...]) -> None:
    (error,) = parse_log(text).errors
    assert error.kind == "unsupported_architecture" and error.architectures == archs


def test_free_memory_error_and_mamba_error_numbers() -> None:
    r = parse_log("ValueError: Free memory on device cuda:0 (15.32/22.04 GiB) on startup is less than desired GPU "
                  "memory utilization (0.88, 19.39 GiB). Decrease GPU memory utilization or reduce GPU memory used by "
                  "other processes.\nValueError: max_num_seqs (256) exceeds available Mamba cache blocks (146). Each "
                  "decode sequence requires one Mamba cache block")
    free, mamba = r.errors
    assert (free.available_gib, free.total_gib, free.utilization, free.requested_gib) == (15.32, 22.04, 0.88, 19.39)
    assert (mamba.max_num_seqs, mamba.mamba_blocks) == (256, 146)


def test_a_tp_group_prints_one_error_once() -> None:
    line = "ValueError: No available memory for the cache blocks. Try increasing `gpu_memory_utilization`."
    assert len(parse_log("\n".join([line] * 8)).errors) == 1


def test_normalise() -> None:
    assert normalise(b"a\r\nb\rc\x1b[31md\x1b[0m\xff") == "a\nb\ncd\ufffd"


# --- fuzzing: never a crash, nothing invented from noise, time linear in the input ---------------------------

@given(st.binary(max_size=4000))
def test_random_bytes_never_crash(data: bytes) -> None:
    """(Hypothesis mines the parser's own literals, so its "random" bytes may spell real anchors: uniformly random
    bytes are checked for being unusable below.)"""
    reading = parse_log(data)
    assert reading.usable == bool(reading.found)


@given(st.text(max_size=3000))
def test_random_text_never_crashes(text: str) -> None:
    parse_log(text)


@given(st.lists(st.sampled_from([
    "Available KV cache memory: ", "# GPU blocks: ", "max seq len (", "non-default args: {", "with config: ",
    "--max-model-len ", "NIM_MAX_MODEL_LEN=", "SETTINGS: {", '"context_length": ', "CUDA out of memory",
    "Model architectures [", "1", "9" * 30, ",", "'", "{", "(", "\x1b[", "\r", "\n", " GiB", "=", ":", "-", "...",
]), max_size=200))
def test_fragments_of_real_lines_never_crash(parts: list[str]) -> None:
    parse_log("".join(parts))


def test_random_bytes_are_not_usable() -> None:
    rng = random.Random(17)
    for _ in range(20):
        assert not parse_log(bytes(rng.randrange(256) for _ in range(5000))).usable


def _time(text: str) -> float:
    start = time.perf_counter()
    parse_log(text)
    return time.perf_counter() - start


@pytest.mark.parametrize("line", [
    "9" * 10_000_000,  # one 10 MB line of digits
    "Available KV cache memory: " + "1," * 5_000_000,  # an anchor, then a 10 MB number-like run
    "--" * 5_000_000,  # 10 MB of flag starts
    "non-default args: {" + "{'a': [" * 1_000_000,  # deep nesting
    "\x1b[" * 3_000_000,  # unterminated ANSI codes
])
def test_ten_megabyte_lines_stay_linear(line: str) -> None:
    """A 10 MB line takes about ten times a 1 MB one (linear), and well under the time of a quadratic scan."""
    small = line[: len(line) // 10]
    t_small = max(_time(small), 1e-3)
    t_big = _time(line)
    assert t_big < 30 * t_small + 1.0, (t_small, t_big)


def test_truncated_log_still_reads_what_it_has() -> None:
    text = SEED_LOG.read_text()
    cut = text[: text.index("# GPU blocks") + 20]  # cut inside the blocks line
    r = parse_log(cut)
    assert r.model_loading_gib == 14.382 and not r.errors
