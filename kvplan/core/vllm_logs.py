"""A vLLM start-up log (V0 and V1 wordings) -> the settings it shows and the numbers it measured. Pure.

Lines read (any order, any prefix such as ``INFO 06-23 14:21:48 [gpu_worker.py:232]``):

* ``Model loading took 14.9888 GiB`` / ``Loading model weights took 14.9888 GB`` (GiB in the code)
* ``Available KV cache memory: 51.63 GiB`` (V1); V0: ``the rest of the memory reserved for KV Cache is
  4.60GiB`` or ``kv_cache_size=3.81GiB``; ``total_gpu_memory (22.07GiB) x gpu_memory_utilization (0.90)``
  or ``total_gpu_memory=23.58GiB``; ``non_torch_memory takes 0.05GiB``; ``activation peak memory takes``
* ``GPU KV cache size: 410,128 tokens``, ``Maximum concurrency for 131,072 tokens per request: 3.13x``
* ``# GPU blocks: 1952, # CPU blocks: 2048`` (also ``# cuda blocks``, ``# CUDA blocks``)
* ``Graph capturing finished in 2 secs, took 0.11 GiB``
* the errors: V1 ``To serve at least one request with the model's max seq len`` (and the old
  ``models's`` spelling), V0 ``The model's max seq len (...) is larger than the maximum number of tokens``,
  ``No available memory for the cache blocks``, ``Free memory on device ... on startup is less than``
* flags: ``--tensor-parallel-size``/``-tp``, ``--gpu-memory-utilization``, ``--max-model-len``,
  ``--max-num-seqs``, ``--max-num-batched-tokens``, ``--kv-cache-dtype``, ``--block-size``, ``--dtype``,
  ``--enforce-eager``, ``--enable-chunked-prefill``, and the ``non-default args: {...}`` dict.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

ErrorKind = Literal["max_model_len", "no_memory", "free_memory", "mamba_blocks", "other"]

_NUM = r"(-?[0-9](?:[0-9,]*[0-9])?(?:\.[0-9]+)?)"


@dataclass(frozen=True, kw_only=True)
class LogError:
    kind: ErrorKind
    text: str
    max_model_len: int | None = None
    needed_gib: float | None = None
    available_gib: float | None = None
    estimated_max_model_len: int | None = None
    kv_tokens: int | None = None  # V0: "maximum number of tokens that can be stored in KV cache (N)"


@dataclass(frozen=True, kw_only=True)
class LogSettings:
    tensor_parallel_size: int | None = None
    pipeline_parallel_size: int | None = None
    gpu_memory_utilization: float | None = None
    max_model_len: int | None = None
    max_num_seqs: int | None = None
    max_num_batched_tokens: int | None = None
    kv_cache_dtype: str | None = None
    dtype: str | None = None
    block_size: int | None = None
    enforce_eager: bool | None = None
    enable_chunked_prefill: bool | None = None
    quantization: str | None = None
    enable_prefix_caching: bool | None = None


@dataclass(frozen=True, kw_only=True)
class LogReading:
    engine: Literal["v0", "v1"] | None  # from the wording; None when nothing tells
    settings: LogSettings
    model_loading_gib: float | None = None
    available_kv_cache_gib: float | None = None
    total_gpu_memory_gib: float | None = None
    non_torch_gib: float | None = None
    activation_peak_gib: float | None = None
    cuda_graph_gib: float | None = None
    kv_cache_tokens: int | None = None
    max_concurrency: float | None = None
    max_concurrency_len: int | None = None
    gpu_blocks: int | None = None
    cpu_blocks: int | None = None
    errors: tuple[LogError, ...] = field(default_factory=tuple)

    @property
    def failed(self) -> bool:
        return bool(self.errors)


def _num(text: str) -> float:
    return float(text.replace(",", ""))


def _int(text: str) -> int:
    return int(float(text.replace(",", "")))


def _last(pattern: str, text: str, flags: int = re.IGNORECASE) -> re.Match[str] | None:
    found = list(re.finditer(pattern, text, flags))
    return found[-1] if found else None


def _float_of(pattern: str, text: str) -> float | None:
    match = _last(pattern, text)
    return _num(match.group(1)) if match else None


def _int_of(pattern: str, text: str) -> int | None:
    match = _last(pattern, text)
    return _int(match.group(1)) if match else None


_MAX_LEN_V1 = re.compile(
    r"To serve at least one request with the models?'s? max seq len \((\d+)\),? \((" + _NUM[1:-1] + r") GiB KV "
    r"cache is needed, which is larger than the available KV cache memory \((" + _NUM[1:-1] + r") GiB\)"
    r"(?:\. Based on the available memory, the estimated maximum model length is (\d+))?",
    re.IGNORECASE,
)
_MAX_LEN_V0 = re.compile(
    r"The model's max seq len \((\d+)\) is larger than the maximum number of tokens that can be stored in KV "
    r"cache \((\d+)\)", re.IGNORECASE)


def _errors(text: str) -> tuple[LogError, ...]:
    out: list[LogError] = []
    for m in _MAX_LEN_V1.finditer(text):
        out.append(LogError(kind="max_model_len", text=m.group(0), max_model_len=int(m.group(1)),
                            needed_gib=_num(m.group(2)), available_gib=_num(m.group(3)),
                            estimated_max_model_len=int(m.group(4)) if m.group(4) else None))
    for m in _MAX_LEN_V0.finditer(text):
        out.append(LogError(kind="max_model_len", text=m.group(0), max_model_len=int(m.group(1)),
                            kv_tokens=int(m.group(2))))
    for m in re.finditer(r"No available memory for the cache blocks[^\n|]*", text, re.IGNORECASE):
        out.append(LogError(kind="no_memory", text=m.group(0).strip()))
    for m in re.finditer(r"Free memory on device \S+ \(" + _NUM + r"/" + _NUM + r" GiB\) on startup is less "
                         r"than desired GPU memory utilization \(" + _NUM + r", " + _NUM + r" GiB\)",
                         text, re.IGNORECASE):
        out.append(LogError(kind="free_memory", text=m.group(0), available_gib=_num(m.group(1))))
    for m in re.finditer(r"max_num_seqs \(\d+\) exceeds available Mamba cache blocks[^\n|]*", text, re.IGNORECASE):
        out.append(LogError(kind="mamba_blocks", text=m.group(0).strip()))
    return tuple(out)


_FLAG_INT = {
    "tensor_parallel_size": r"(?:--tensor-parallel-size|-tp)[ =](\d+)",
    "pipeline_parallel_size": r"(?:--pipeline-parallel-size|-pp)[ =](\d+)",
    "max_model_len": r"--max-model-len[ =](\d+)",
    "max_num_seqs": r"--max-num-seqs[ =](\d+)",
    "max_num_batched_tokens": r"--max-num-batched-tokens[ =](\d+)",
    "block_size": r"--block-size[ =](\d+)",
}


def _dict_value(text: str, key: str) -> str | None:
    match = _last(r"['\"]" + key + r"['\"]\s*:\s*['\"]?([A-Za-z0-9_.\-]+)", text)
    return match.group(1) if match else None


def _settings(text: str) -> LogSettings:
    values: dict[str, object] = {}
    for name, pattern in _FLAG_INT.items():
        found = _int_of(pattern, text)
        if found is None and (raw := _dict_value(text, name)) is not None and raw.lstrip("-").isdigit():
            found = int(raw)
        values[name] = found
    util = _float_of(r"--gpu-memory-utilization[ =]" + _NUM, text)
    if util is None:
        util = _float_of(r"gpu_memory_utilization[ =(]+" + _NUM, text)
    values["gpu_memory_utilization"] = util
    for name, flag in (("kv_cache_dtype", "--kv-cache-dtype"), ("dtype", "--dtype"),
                       ("quantization", "--quantization")):
        match = _last(flag + r"[ =]([A-Za-z0-9_]+)", text, 0)
        values[name] = match.group(1) if match else _dict_value(text, name)
    eager = re.search(r"--enforce-eager\b|['\"]enforce_eager['\"]\s*:\s*True", text)
    values["enforce_eager"] = True if eager else None
    chunked = re.search(r"--enable-chunked-prefill\b|['\"]enable_chunked_prefill['\"]\s*:\s*True", text)
    values["enable_chunked_prefill"] = True if chunked else None
    # the flag, the non-default args dict, or the engine's config line (the value vLLM settled on)
    prefix = _last(r"--(no-)?enable-prefix-caching\b|['\"]?enable_prefix_caching['\"]?\s*[:=]\s*(True|False)", text, 0)
    values["enable_prefix_caching"] = (None if prefix is None
                                       else not prefix.group(1) and prefix.group(2) != "False")
    return LogSettings(**values)  # type: ignore[arg-type]


def _engine(text: str) -> Literal["v0", "v1"] | None:
    if re.search(r"# (?:GPU|CUDA) blocks|# cuda blocks|Loading model weights took|model weights take|"
                 r"the rest of the memory reserved for KV Cache|The model's max seq len \(\d+\) is larger",
                 text, re.IGNORECASE):
        return "v0"
    if re.search(r"Available KV cache memory|KV cache size: [0-9,]+ tokens|To serve at least one request|"
                 r"gpu_worker\.py|kv_cache_utils\.py|EngineCore", text, re.IGNORECASE):
        return "v1"
    return None


def parse_log(text: str) -> LogReading:
    """Everything ``text`` (a log, or excerpts joined by ``|`` or newlines) says; the last value wins."""
    loading = _float_of(r"(?:Model loading|Loading model weights) took " + _NUM + r" ?G", text)
    available = _float_of(r"Available KV cache memory: " + _NUM + r" ?GiB", text)
    if available is None:
        available = _float_of(r"reserved for KV Cache is " + _NUM + r" ?GiB", text)
    if available is None:
        available = _float_of(r"kv_cache_size=" + _NUM + r" ?GiB", text)
    total = _float_of(r"total_gpu_memory[ =(]+" + _NUM + r" ?GiB", text)
    concurrency = _last(r"Maximum concurrency for " + _NUM + r" tokens per request: " + _NUM + r"x", text)
    blocks = _last(r"# (?:GPU|CUDA|cuda) blocks: " + _NUM + r"(?:, # CPU blocks: " + _NUM + r")?", text)
    return LogReading(
        engine=_engine(text),
        settings=_settings(text),
        model_loading_gib=loading,
        available_kv_cache_gib=available,
        total_gpu_memory_gib=total,
        non_torch_gib=_float_of(r"non_torch_memory(?: takes |=)" + _NUM + r" ?GiB", text),
        activation_peak_gib=_float_of(r"activation peak memory takes " + _NUM + r" ?GiB", text),
        cuda_graph_gib=_float_of(r"Graph capturing finished in [0-9.]+ secs?, took " + _NUM + r" ?GiB", text),
        kv_cache_tokens=_int_of(r"KV cache size: " + _NUM + r" tokens", text),
        max_concurrency=_num(concurrency.group(2)) if concurrency else None,
        max_concurrency_len=_int(concurrency.group(1)) if concurrency else None,
        gpu_blocks=_int(blocks.group(1)) if blocks else None,
        cpu_blocks=_int(blocks.group(2)) if blocks and blocks.group(2) else None,
        errors=_errors(text),
    )

# Where each V1 release prints its KV-cache lines, as "[file:line]" in the log prefix: the line of the logger call
# for "Available KV cache memory" (v1/worker/gpu_worker.py) and for "GPU KV cache size" / "Maximum concurrency"
# (v1/core/kv_cache_utils.py), read in every official wheel from 0.8.0 to 0.33.0. A log that quotes them names
# the release that wrote it (to the patch release when the lines moved between patches).
_KV_LOG_LINES: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "0.8.0": ((), (537, 540)),
    "0.8.1": ((), (537, 540)),
    "0.8.2": ((), (566, 569)),
    "0.8.3": ((), (578, 581)),
    "0.8.4": ((), (634, 637)),
    "0.8.5": ((), (634, 637)),
    "0.8.5.post1": ((), (634, 637)),
    "0.9.0": ((), (637, 640)),
    "0.9.0.1": ((), (637, 640)),
    "0.9.1": ((227,), (715, 719, 870, 874)),
    "0.9.2": ((232,), (716, 720, 873, 877)),
    "0.10.0": ((255,), (833, 837, 997, 1001)),
    "0.10.1": ((276,), (849, 853, 1013, 1017)),
    "0.10.1.1": ((276,), (849, 853, 1013, 1017)),
    "0.10.2": ((298,), (864, 868, 1028, 1032)),
    "0.11.0": ((298,), (1087, 1091)),
    "0.11.1": ((359,), (1229, 1234)),
    "0.11.2": ((359,), (1229, 1234)),
    "0.12.0": ((359,), (1286, 1291)),
    "0.13.0": ((375,), (1291, 1296)),
    "0.14.0": ((358,), (1305, 1310)),
    "0.14.1": ((358,), (1305, 1310)),
    "0.15.0": ((356,), (1307, 1312)),
    "0.15.1": ((356,), (1307, 1312)),
    "0.16.0": ((373,), (1307, 1312)),
    "0.17.0": ((424,), (1314, 1319)),
    "0.17.1": ((424,), (1314, 1319)),
    "0.18.0": ((456,), (1316, 1321)),
    "0.18.1": ((456,), (1316, 1321)),
    "0.19.0": ((436,), (1319, 1324)),
    "0.19.1": ((436,), (1319, 1324)),
    "0.20.0": ((440,), (1711, 1716)),
    "0.20.1": ((440,), (1708, 1709)),
    "0.20.2": ((440,), (1708, 1709)),
    "0.21.0": ((462,), (1710, 1711)),
    "0.22.0": ((466,), (1733, 1734)),
    "0.22.1": ((466,), (1733, 1734)),
    "0.23.0": ((480,), (1744, 1745)),
    "0.24.0": ((508,), (2146, 2147)),
    "0.25.0": ((538,), (2146, 2147)),
    "0.25.1": ((538,), (2146, 2147)),
    "0.26.0": ((560,), (2177, 2178)),
    "0.27.0": ((563,), (2235, 2236)),
    "0.27.1": ((563,), (2235, 2236)),
    "0.28.0": ((578,), (1869,)),
    "0.29.0": ((625,), (2032,)),
    "0.30.0": ((640,), (2395,)),
    "0.31.0": ((692,), (2464,)),
    "0.32.0": ((759,), (2327,)),
    "0.33.0": ((772,), (1147,)),
}
_CITED = re.compile(r"\[(gpu_worker|kv_cache_utils)\.py:(\d+)\]\s*(?:Available KV cache memory|GPU KV cache size"
                    r"|Maximum concurrency)")


def releases_from_source_lines(text: str) -> tuple[str, ...]:
    """The releases whose KV-cache log lines sit where ``text`` says they were printed, oldest first.

    Empty when the log quotes none of them (or a build that matches no release, such as a dev build).
    """
    candidates: set[str] | None = None
    for module, line in _CITED.findall(text):
        which = 0 if module == "gpu_worker" else 1
        hits = {release for release, lines in _KV_LOG_LINES.items() if int(line) in lines[which]}
        candidates = hits if candidates is None else candidates & hits
    return tuple(sorted(candidates or (), key=lambda v: tuple(int(x) for x in v.replace("post", "").split(".") if x)))
