"""A vLLM start-up log (V0 and V1, 0.4 to 0.34) -> the settings it shows and the numbers it measured. Pure.

The one log reader of kvplan: ``kvplan explain`` and ``benchmarks/accuracy.py`` both use ``parse_log``. It reads
logs as ``vllm serve``, the ``LLM`` class, api-for-open-llm and NIM write them, under docker / k8s prefixes
(timestamps, pod names, ``vllm-1  | ``), with ANSI colours and Windows line ends, and excerpts joined by ``|``.

Lines read (any order, any prefix such as ``INFO 06-23 14:21:48 [gpu_worker.py:232]``; the last value wins):

* the engine config line ``Initializing an LLM engine (v0.4.2) with config: model='...', dtype=torch.bfloat16,
  max_seq_len=8192, ..., tensor_parallel_size=1, ..., quantization=None, enforce_eager=False,
  kv_cache_dtype=auto, ..., enable_prefix_caching=False`` (``a V0 / a V1 LLM engine`` from 0.7);
  ``vLLM API server version 0.x.y``; ``non-default args: {...}`` and ``args: Namespace(...)`` (read by a small
  scanner, never evaluated); command-line flags; api-for-open-llm's ``SETTINGS: {...}``; NIM's ``NIM_*``
* ``Model loading took 14.9888 GiB`` / ``Loading model weights took 14.9888 GB`` (GiB in the code)
* the profile: V0 0.7+ / V1 ``total_gpu_memory (22.07GiB) x gpu_memory_utilization (0.90)``, ``model weights
  take``, ``non_torch_memory takes``, ``activation peak memory takes``, ``the rest of the memory reserved for KV
  Cache is``; V0 0.6.4 ``Memory profiling results: total_gpu_memory=... kv_cache_size=...``; V1 0.2x
  ``Free memory on device (78.66/79.18 GiB) on startup. Desired GPU memory utilization is (0.9, 71.26 GiB).
  Actual usage is 15.0 GiB for weight, 1.77 GiB for peak activation, 0.22 GiB for non-torch memory, and 0.98
  GiB for CUDAGraph memory``; ``Graph capturing finished in 2 secs, took 0.11 GiB``
* ``Available KV cache memory: 51.63 GiB``, ``GPU KV cache size: 410,128 tokens``, ``Maximum concurrency for
  131,072 tokens per request: 3.13x``, ``# GPU blocks: 1952, # CPU blocks: 2048`` (``# cuda blocks``)
* 0.34's extensible KV cache, sized after warm-up: ``Memory after warmup: 61.56 GiB free, ...; 7290 KV cache blocks
  (56.95 GiB) fit within the requested 79.18 GiB`` and ``Extended KV cache to 7290 blocks (56.95 GiB).`` (the
  ``Available KV cache memory`` line before them is only the reserved capacity)
* the GPU: ``total capacity`` in torch's out-of-memory text, the free-memory messages, ``device_name=...``
* the errors (``ErrorKind``), in every release's wording.

Speed: the raw bytes are searched for a few literal gates with ``bytes.find`` (C speed); only the lines a gate hits
are decoded, checked for the anchors of each kind of line and read by its regular expressions, every one of which
has bounded repeats, so time stays linear in the input (50 MB of a server's log: ~0.35 s of CPU,
benchmarks/explain_speed.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from kvplan.core import engine_args

ErrorKind = Literal[
    "max_model_len",  # V1 "To serve at least one request with the model's max seq len", V0 "The model's max seq len"
    "no_memory",  # "No available memory for the cache blocks"
    "free_memory",  # "Free memory on device ... on startup is less than desired GPU memory utilization"
    "mamba_blocks",  # "max_num_seqs (N) exceeds available Mamba cache blocks (M)"
    "oom_loading", "oom_profiling", "oom_graphs", "oom",  # CUDA out of memory, by the phase it hit
    "unsupported_architecture",  # "Model architectures [...] are not supported" and later wordings
    "other",
]
Source = Literal["vllm serve", "LLM class", "api-for-open-llm", "NIM"]

_NUM = r"(-?[0-9](?:[0-9,]{0,20}[0-9])?(?:\.[0-9]{1,12})?)"  # bounded: a run of digits never backtracks far
_WINDOW_BEFORE = 512  # characters read before an anchor on its line (the start of the sentence)
_WINDOW_AFTER = 65_536  # and after it (an engine config line of 0.26 is ~6 KB; a dict of args may be longer)


@dataclass(frozen=True, kw_only=True)
class LogError:
    kind: ErrorKind
    text: str
    max_model_len: int | None = None
    needed_gib: float | None = None
    available_gib: float | None = None
    estimated_max_model_len: int | None = None
    kv_tokens: int | None = None  # V0: "maximum number of tokens that can be stored in KV cache (N)"
    total_gib: float | None = None  # free-memory / OOM messages: the device total
    requested_gib: float | None = None  # free-memory message: total x utilization
    utilization: float | None = None
    max_num_seqs: int | None = None  # Mamba check
    mamba_blocks: int | None = None
    tried_gib: float | None = None  # OOM: "Tried to allocate"
    architectures: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class LogSettings:
    """The settings the log shows, named as DeploySettings names them (``engine_args.SETTINGS``)."""

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
    kv_cache_memory_bytes: int | None = None
    num_gpu_blocks_override: int | None = None
    disable_hybrid_kv_cache_manager: bool | None = None
    mamba_ssm_cache_dtype: str | None = None


@dataclass(frozen=True, kw_only=True)
class LogReading:
    engine: Literal["v0", "v1"] | None  # from the wording; None when nothing tells
    settings: LogSettings
    vllm_version: str | None = None  # "(v0.4.2)" in the config line, or "vLLM API server version 0.9.2"
    source: Source | None = None
    model: str | None = None
    architecture: str | None = None
    gpu_name: str | None = None
    model_loading_gib: float | None = None
    available_kv_cache_gib: float | None = None
    total_gpu_memory_gib: float | None = None
    total_source: str | None = None  # "vLLM" (its memory lines: cudaMemGetInfo) or "torch out-of-memory text"
    free_at_init_gib: float | None = None  # V1's start-up free memory (free-memory error or suggestion line)
    requested_gib: float | None = None  # total x utilization as vLLM printed it
    non_torch_gib: float | None = None
    activation_peak_gib: float | None = None
    cuda_graph_gib: float | None = None  # what capture took ("Graph capturing finished ... took")
    cuda_graph_estimate_gib: float | None = None  # V1 0.20+: "Estimated CUDA graph memory: X GiB total"
    kv_cache_tokens: int | None = None
    max_concurrency: float | None = None
    max_concurrency_len: int | None = None
    gpu_blocks: int | None = None
    cpu_blocks: int | None = None
    extensible_kv_gib: float | None = None  # 0.34's extensible KV cache: what it committed after warm-up
    free_after_warmup_gib: float | None = None  # 0.34: "Memory after warmup: X GiB free"
    errors: tuple[LogError, ...] = field(default_factory=tuple)
    found: tuple[str, ...] = ()  # the kinds of line read, in the order first seen
    releases_cited: tuple[str, ...] = ()  # releases_from_source_lines of the log's [file:line] prefixes
    releases_worded: tuple[str, ...] = ()  # the releases that print a line the log holds (WORDING_0_6_4)

    @property
    def failed(self) -> bool:
        return bool(self.errors)

    @property
    def usable(self) -> bool:
        """Whether the log said anything kvplan can plan with or explain."""
        return bool(self.found)


class _State:
    """What has been read so far; the last value read wins."""

    def __init__(self, data: bytes = b"") -> None:
        self.data = data
        self.lo = 0  # where the segment being read starts in ``data``
        self.values: dict[str, object] = {}
        self.settings: dict[str, object] = {}
        self.app_settings: dict[str, object] = {}  # api-for-open-llm's SETTINGS, applied when its marker is seen
        self.errors: list[LogError] = []
        self.found: dict[str, None] = {}
        self.engine_hint: Literal["v0", "v1"] | None = None
        self.v0_wording = False
        self.v1_wording = False
        self.cited: list[tuple[str, int]] = []  # ("gpu_worker", 560): where the KV-cache lines were printed
        self.worded: tuple[str, ...] = ()

    def before(self, size: int) -> str:
        """Up to ``size`` bytes of the log before the current segment (an error's traceback), normalised."""
        return normalise(self.data[max(0, self.lo - size): self.lo])

    def after(self, size: int) -> str:
        """The log from the current segment's start on, ``size`` bytes at most, normalised."""
        return normalise(self.data[self.lo: self.lo + size])

    def put(self, what: str, **values: object) -> None:
        self.found.setdefault(what, None)
        for key, value in values.items():
            if value is not None:
                self.values[key] = value

    def setting(self, name: str, raw: object, what: str) -> None:
        key = engine_args.setting_for(name)
        if key is None:
            return
        value = engine_args.coerce(key, raw)
        if value is not None:
            self.settings[key] = value
            self.found.setdefault(what, None)


def _num(text: str) -> float:
    return float(text.replace(",", ""))


def _int(text: str) -> int:
    return int(float(text.replace(",", "")))


def _last(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    found: re.Match[str] | None = None
    for found in pattern.finditer(text):  # noqa: B007 - the last match wins
        pass
    return found


# --- the extractors: each reads one kind of line from a window of text around its anchors -------------------

_LOADING = re.compile(r"(?:Model loading|Loading model weights) took " + _NUM + r" ?(GiB|GB)")


def _loading(seg: str, st: _State) -> None:
    m = _last(_LOADING, seg)
    if m:
        st.put("model loading", model_loading_gib=_num(m.group(1)))
        if m.group(0).startswith("Loading model weights"):
            st.v0_wording = True


_AVAILABLE = re.compile(r"Available KV cache memory: " + _NUM + r" ?GiB")
_V0_REST = re.compile(r"reserved for KV Cache is " + _NUM + r" ?GiB")
_V0_KV_SIZE = re.compile(r"kv_cache_size=" + _NUM + r" ?GiB")


def _available(seg: str, st: _State) -> None:
    for pattern, v0 in ((_AVAILABLE, False), (_V0_REST, False), (_V0_KV_SIZE, True)):
        m = _last(pattern, seg)
        if m:
            st.put("available KV cache memory", available_kv_cache_gib=_num(m.group(1)))
            st.v1_wording |= pattern is _AVAILABLE
            st.v0_wording |= v0 or pattern is _V0_REST


_TOTAL = re.compile(r"total_gpu_memory[ =(]{1,3}" + _NUM + r" ?GiB")
_UTIL = re.compile(r"gpu_memory_utilization[ =(]{1,3}" + _NUM)
_WEIGHTS_TAKE = re.compile(r"model weights take " + _NUM + r" ?GiB")
_NON_TORCH = re.compile(r"non_torch_memory(?: takes |=)" + _NUM + r" ?GiB")
_PEAK = re.compile(r"activation peak memory takes " + _NUM + r" ?GiB")
_PEAK_TORCH = re.compile(r"peak_torch_memory=" + _NUM + r" ?GiB")
_INITIAL = re.compile(r"initial_memory_usage=" + _NUM + r" ?GiB")
# Only 0.6.4 and 0.6.4.post1 print "Memory profiling results: ... initial_memory_usage=... peak_torch_memory=..."
# (worker.py; read in the 0.6.3.post1, 0.6.4, 0.6.4.post1, 0.6.5 and 0.6.6.post1 wheels): the release that counts
# all non-torch memory, its CUDA context included, against the KV cache (kvplan.core.overheads).
WORDING_0_6_4 = ("0.6.4", "0.6.4.post1")


def _profile(seg: str, st: _State) -> None:
    if m := _last(_TOTAL, seg):
        st.put("memory profile", total_gpu_memory_gib=_num(m.group(1)))
    if m := _last(_UTIL, seg):
        st.setting("gpu_memory_utilization", m.group(1), "memory profile")
    if m := _last(_WEIGHTS_TAKE, seg):
        st.put("memory profile", profile_weights_gib=_num(m.group(1)))
        st.v0_wording = True  # V0's worker.py wording (V1 logs it at debug level only)
    if m := _last(_NON_TORCH, seg):
        st.put("memory profile", non_torch_gib=_num(m.group(1)))
    if m := _last(_PEAK, seg):
        st.put("memory profile", activation_peak_gib=_num(m.group(1)))
    if (m := _last(_PEAK_TORCH, seg)) and (i := _last(_INITIAL, seg)):
        # 0.6.4 (worker.py determine_num_available_blocks): peak_torch_memory is torch's allocated peak, weights
        # included; initial_memory_usage is all the memory in use before the profile (weights and the non-torch
        # memory, its CUDA context too). The activation is the peak less the torch memory before it: the initial
        # usage less the non-torch memory (printed after the profile; it barely moves at TP 1).
        non_torch = _last(_NON_TORCH, seg)
        before = _num(i.group(1)) - (_num(non_torch.group(1)) if non_torch else 0.0)
        st.put("memory profile", activation_peak_gib=round(_num(m.group(1)) - before, 2))
    if _last(_INITIAL, seg):
        st.worded = WORDING_0_6_4


_CAPACITY = re.compile(r"KV cache size: " + _NUM + r" tokens")
_CONCURRENCY = re.compile(r"Maximum concurrency for " + _NUM + r" tokens per request: " + _NUM + r"x")


def _capacity(seg: str, st: _State) -> None:
    if m := _last(_CAPACITY, seg):
        st.put("KV cache size", kv_cache_tokens=_int(m.group(1)))
        st.v1_wording = True
    if m := _last(_CONCURRENCY, seg):
        st.put("maximum concurrency", max_concurrency=_num(m.group(2)), max_concurrency_len=_int(m.group(1)))


_BLOCKS = re.compile(r"(?:GPU|CUDA|cuda) blocks: " + _NUM + r"(?:, # CPU blocks: " + _NUM + r")?")


def _blocks(seg: str, st: _State) -> None:
    if m := _last(_BLOCKS, seg):
        st.put("GPU blocks", gpu_blocks=_int(m.group(1)), cpu_blocks=_int(m.group(2)) if m.group(2) else None)
        st.v0_wording = True


# vLLM 0.34's extensible KV cache (v1/worker/extensible_kv_cache.py: measure_kv_cache_blocks logs the sizing,
# extend_kv_cache the commit). Its blocks are num_gpu_blocks (GPUWorker.extend_kv_cache sets it), and they, not the
# earlier "Available KV cache memory" (the capacity reserved before warm-up), are the KV cache vLLM runs with.
_WARMUP = re.compile(r"Memory after warmup: " + _NUM + r" GiB free,[^;\n]{0,400}; (\d{1,12}) KV cache blocks \("
                     + _NUM + r" GiB\) fit within the requested " + _NUM + r" GiB")
_EXTENDED = re.compile(r"Extended KV cache to (\d{1,12}) blocks \(" + _NUM + r" GiB\)")


def _extensible(seg: str, st: _State) -> None:
    if m := _last(_WARMUP, seg):
        st.put("memory after warm-up (extensible KV cache)", free_after_warmup_gib=_num(m.group(1)),
               gpu_blocks=int(m.group(2)), extensible_kv_gib=_num(m.group(3)), requested_gib=_num(m.group(4)))
        st.v1_wording = True
    if m := _last(_EXTENDED, seg):
        st.put("extended KV cache", gpu_blocks=int(m.group(1)), extensible_kv_gib=_num(m.group(2)))
        st.v1_wording = True


_GRAPHS = re.compile(r"Graph capturing finished in [0-9.]{1,12} secs?, took " + _NUM + r" ?GiB")
_GRAPHS_ESTIMATE = re.compile(r"Estimated CUDA graph memory: " + _NUM + r" ?GiB")


def _graphs(seg: str, st: _State) -> None:
    if m := _last(_GRAPHS, seg):
        st.put("CUDA graphs", cuda_graph_gib=_num(m.group(1)))
    if m := _last(_GRAPHS_ESTIMATE, seg):
        st.put("CUDA graphs", cuda_graph_estimate_gib=_num(m.group(1)))


# V1 0.2x, after capture (gpu_worker.py _compile_or_warm_up_model): the four terms of the non-KV memory
_ACTUAL = re.compile(r"Actual usage is " + _NUM + r" GiB for weight, " + _NUM + r" GiB for peak activation, "
                     + _NUM + r" GiB for non-torch memory, and " + _NUM + r" GiB for CUDAGraph memory")
_FREE_OK = re.compile(r"Free memory on device \(" + _NUM + "/" + _NUM + r" GiB\) on startup\. Desired GPU memory "
                      r"utilization is \(" + _NUM + ", " + _NUM + r" GiB\)")


def _suggestion(seg: str, st: _State) -> None:
    if m := _last(_ACTUAL, seg):
        st.put("memory usage line", profile_weights_gib=_num(m.group(1)), activation_peak_gib=_num(m.group(2)),
               non_torch_gib=_num(m.group(3)), cuda_graph_gib=_num(m.group(4)))
    if m := _last(_FREE_OK, seg):
        st.put("memory usage line", free_at_init_gib=_num(m.group(1)), total_gpu_memory_gib=_num(m.group(2)),
               requested_gib=_num(m.group(4)))
        st.setting("gpu_memory_utilization", m.group(3), "memory usage line")


_MAX_LEN_V1 = re.compile(
    r"To serve at least one request with the models?'s? max seq len \((\d{1,12})\),? \(" + _NUM + r" GiB KV "
    r"cache is needed, which is larger than the available KV cache memory \(" + _NUM + r" GiB\)"
    r"(?:\. Based on the available memory, the estimated maximum model length is (\d{1,12}))?")
_MAX_LEN_V0 = re.compile(r"The model's max seq len \((\d{1,12})\) is larger than the maximum number of tokens that "
                         r"can be stored in KV cache \((\d{1,12})\)")
_NO_MEMORY = re.compile(r"No available memory for the cache blocks[^\n|]{0,300}|"
                        r"Cannot auto-fit max_model_len: not enough GPU memory available to serve even a single "
                        r"token[^\n|]{0,300}")  # --max-model-len auto's no-memory error (0.34's wording too)
_FREE_LOW = re.compile(r"Free memory on device \S{0,40} ?\(" + _NUM + r"/" + _NUM + r" GiB\) on startup is less "
                       r"than desired GPU memory utilization \(" + _NUM + r", " + _NUM + r" GiB\)")
_MAMBA = re.compile(r"max_num_seqs \((\d{1,9})\) exceeds available Mamba cache blocks(?: \((\d{1,12})\))?"
                    r"[^\n|]{0,300}")


def _errors(seg: str, st: _State) -> None:
    for m in _MAX_LEN_V1.finditer(seg):
        st.v1_wording = True
        st.errors.append(LogError(kind="max_model_len", text=m.group(0), max_model_len=int(m.group(1)),
                                  needed_gib=_num(m.group(2)), available_gib=_num(m.group(3)),
                                  estimated_max_model_len=int(m.group(4)) if m.group(4) else None))
    for m in _MAX_LEN_V0.finditer(seg):
        st.v0_wording = True
        st.errors.append(LogError(kind="max_model_len", text=m.group(0), max_model_len=int(m.group(1)),
                                  kv_tokens=int(m.group(2))))
    for m in _NO_MEMORY.finditer(seg):
        st.errors.append(LogError(kind="no_memory", text=m.group(0).strip()))
    for m in _FREE_LOW.finditer(seg):
        st.errors.append(LogError(kind="free_memory", text=m.group(0), available_gib=_num(m.group(1)),
                                  total_gib=_num(m.group(2)), utilization=_num(m.group(3)),
                                  requested_gib=_num(m.group(4))))
        st.put("free-memory check", free_at_init_gib=_num(m.group(1)), total_gpu_memory_gib=_num(m.group(2)),
               requested_gib=_num(m.group(4)))
        st.setting("gpu_memory_utilization", m.group(3), "free-memory check")
    for m in _MAMBA.finditer(seg):
        st.errors.append(LogError(kind="mamba_blocks", text=m.group(0).strip(), max_num_seqs=int(m.group(1)),
                                  mamba_blocks=int(m.group(2)) if m.group(2) else None))
    if any(e for e in st.errors):
        st.found.setdefault("error", None)


_OOM = re.compile(r"(?:CUDA out of memory|OutOfMemoryError)[^\n|]{0,600}")
_OOM_TOTAL = re.compile(r"total capacity of " + _NUM + r" ?GiB|" + _NUM + r" ?GiB total capacity")
_OOM_TRIED = re.compile(r"Tried to allocate " + _NUM + r" ?(GiB|MiB)")


# What start-up was doing, by the words its log lines and traceback frames use (looked for, last one wins, in the
# text just before an out-of-memory error)
_PHASE_WORDS: dict[str, tuple[str, ...]] = {
    "oom_loading": ("load_model", "Starting to load model", "Loading safetensors", "Loading model from scratch",
                    "load_weights", "Loading weights"),
    "oom": ("Model loading took", "Loading model weights took", "Graph capturing finished", "init engine",
            "Starting vLLM API server", "Application startup complete"),
    "oom_profiling": ("profile_run", "determine_available_memory", "determine_num_available_blocks",
                      "_dummy_sampler_run", "profile_cudagraph_memory", "Memory profiling takes"),
    "oom_graphs": ("capture_model", "Capturing CUDA graph", "Capturing cudagraph", "Capturing the model",
                   "capture_cudagraphs", "Capturing CUDA graphs"),
}
_LOOK_BACK = 32_768


def _oom_phase(before: str) -> ErrorKind:
    best, where = "oom", -1
    for kind, words in _PHASE_WORDS.items():
        at = max(before.rfind(word) for word in words)
        if at > where:
            best, where = kind, at
    return best  # type: ignore[return-value]


def _oom(seg: str, st: _State) -> None:
    for m in _OOM.finditer(seg):
        text = m.group(0)
        total = _OOM_TOTAL.search(text)
        tried = _OOM_TRIED.search(text)
        kind = _oom_phase(st.before(_LOOK_BACK) + seg[: m.start()])
        total_gib = _num(total.group(1) or total.group(2)) if total else None
        st.errors.append(LogError(
            kind=kind, text=text.strip(), total_gib=total_gib,
            tried_gib=(_num(tried.group(1)) / (1024 if tried.group(2) == "MiB" else 1)) if tried else None))
        if total_gib is not None:
            st.put("out-of-memory text", oom_total_gib=total_gib)
        else:
            st.put("out-of-memory text")
        st.found.setdefault("error", None)


_ARCH_UNSUPPORTED = re.compile(
    r"Model architectures? \[([^\]\n]{0,400})\] (?:are|is) not supported[^\n|]{0,120}|"
    r"Model architectures \[([^\]\n]{0,400})\] failed to be inspected[^\n|]{0,120}|"
    r"has model type `([\w.\-]{1,80})` but Transformers does not recognize this architecture[^\n|]{0,120}|"
    r"'([\w.\-]{1,80})' is not a registered model in the Transformers library[^\n|]{0,120}")
_ARCH_RESOLVED = re.compile(r"Resolved architecture: ([\w.\-]{1,80})")


def _architecture(seg: str, st: _State) -> None:
    if m := _last(_ARCH_RESOLVED, seg):
        st.put("architecture", architecture=m.group(1))
    for m in _ARCH_UNSUPPORTED.finditer(seg):
        names = next(g for g in m.groups() if g is not None)
        archs = tuple(a.strip().strip("'\"") for a in names.split(",") if a.strip())
        st.errors.append(LogError(kind="unsupported_architecture", text=m.group(0).strip(), architectures=archs))
        st.found.setdefault("error", None)


_ENGINE_LINE = re.compile(r"Initializing an? (?:(V[01]) )?LLM engine(?: \(v([0-9][0-9A-Za-z.+\-]{0,40})\))? "
                          r"with config: ")
# "vLLM API server version 0.9.2" up to 0.1x; "vLLM server version 0.34.0, serving model ..." from 0.2x
# (entrypoints/common/startup.py log_version_and_model, 0.33 and 0.34)
_SERVER_VERSION = re.compile(r"vLLM (?:API )?(?:server )?version:? v?([0-9]\.[0-9]{1,3}(?:\.[0-9A-Za-z.+\-]{1,40})?)")


def _engine_config(seg: str, st: _State) -> None:
    m = _last(_ENGINE_LINE, seg)
    if m is None:
        return
    if m.group(1):
        st.engine_hint = "v1" if m.group(1) == "V1" else "v0"
    if m.group(2):
        st.put("engine config", vllm_version=m.group(2))
    pairs = _scan_pairs(seg, m.end(), "=")
    for key, raw in pairs:
        if key == "model" and isinstance(raw, str):
            st.put("engine config", model=raw)
        elif key != "model":
            st.setting(key, raw, "engine config")
    st.found.setdefault("engine config", None)


def _server_version(seg: str, st: _State) -> None:
    if m := _last(_SERVER_VERSION, seg):
        st.put("vLLM version", vllm_version=m.group(1))
        if "API server" in m.group(0):
            st.put("vLLM version", source="vllm serve")


_DICT_START = re.compile(r"non-default args: \{")
_NAMESPACE_START = re.compile(r"\bargs: Namespace\(")


def _args(seg: str, st: _State) -> None:
    for pattern, sep, what in ((_DICT_START, ":", "non-default args"), (_NAMESPACE_START, "=", "args")):
        m = _last(pattern, seg)
        if m is None:
            continue
        for key, raw in _scan_pairs(seg, m.end(), sep):
            if key in ("model", "model_tag") and isinstance(raw, str) and raw:
                st.put(what, model=raw)
            else:
                st.setting(key, raw, what)
        if what == "args" or "'model_tag'" in seg:  # `vllm serve MODEL` stores the positional as model_tag
            st.put(what, source="vllm serve")


_FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9\-]{1,60}|-tp|-pp)(?:[ =](?!-)([^\s'\"|]{1,200}))?")
_SERVE = re.compile(r"vllm serve (?!-)([^\s'\"|]{1,300})|vllm\.entrypoints\.openai\.api_server")


# vLLM's own advice quotes flags it did not get ("Replace gpu_memory_utilization config with `--kv-cache-memory=N`",
# "The current --gpu-memory-utilization=0.9000 is equivalent to ..."): those lines are not the command line
_ADVICE = ("Replace gpu_memory_utilization", "is equivalent to --", "memory profiling is enabled")


def _flags(seg: str, st: _State) -> None:
    if any(words in seg for words in _ADVICE):
        return
    for m in _FLAG.finditer(seg):
        flag, value = m.group(1), m.group(2)
        if flag.startswith("--no-"):
            if engine_args.setting_for(flag[5:]) and engine_args.SETTINGS.get(
                    engine_args.setting_for(flag[5:]) or "") == "bool":
                st.setting(flag[5:], False, "command line")
            continue
        key = engine_args.setting_for(flag)
        if flag == "--model" and value:
            st.put("command line", model=value)
        if key is None:
            continue
        if engine_args.SETTINGS[key] == "bool":
            st.setting(flag, True if value is None or engine_args.coerce(key, value) is None else value,
                       "command line")
        elif value is not None:
            st.setting(flag, value, "command line")
    if serve := _last(_SERVE, seg):
        st.put("command line", source="vllm serve", model=serve.group(1))


_NIM = re.compile(r"\b(NIM_[A-Z_]{2,40})[ =:]{1,3}([0-9][0-9.]{0,20})")


def _nim(seg: str, st: _State) -> None:
    for m in _NIM.finditer(seg):
        st.put("NIM settings", source="NIM")
        key = engine_args.NIM_ENV.get(m.group(1))
        if key:
            st.setting(key, m.group(2), "NIM settings")


_AOL_KEY = re.compile(r'"(context_length|model_path|model_name|gpu_memory_utilization|tensor_parallel_size|'
                      r'max_num_seqs|max_num_batched_tokens|quantization_method|dtype|enforce_eager|engine)": '
                      r'("[^"\n]{0,400}"|[0-9.\-]{1,20}|true|false|null)')


def _api_for_open_llm(seg: str, st: _State) -> None:
    """api-for-open-llm logs its Settings once at start-up as indented JSON (``SETTINGS: {`` then one key a line,
    api/config.py): read the block that follows, up to its closing brace (bounded)."""
    if "SETTINGS: {" not in seg:
        return
    st.values["app_marker"] = True  # usable only through a setting it gives
    block = st.after(_WINDOW_AFTER)
    end = re.search(r"\n[^\n]{0,80}\}", block)
    for m in _AOL_KEY.finditer(block[: end.start() if end else len(block)]):
        st.app_settings[m.group(1)] = m.group(2).strip('"')


_GPU_NAME = re.compile(r"device_name=(NVIDIA_[A-Za-z0-9_\-]{2,60})|GPU \d{1,3}: ((?:NVIDIA|Tesla)[^()\n|]{2,60}) "
                       r"\(UUID")


def _gpu_name(seg: str, st: _State) -> None:
    if m := _last(_GPU_NAME, seg):
        name = m.group(1).replace("_", " ") if m.group(1) else m.group(2).strip()
        st.put("GPU name", gpu_name=name)


_MAX_MODEL_LEN_USED = re.compile(r"Using max model len (\d{1,12})")
# --max-model-len auto (-1): the length vLLM fitted to the KV cache, after the engine config line printed the
# model's own (v1/core/kv_cache_planning.py _auto_fit_max_model_len, 0.34; kv_cache_utils.py before)
_AUTO_REDUCED = re.compile(r"--max-model-len auto reduced max_model_len from \d{1,12} to (\d{1,12})")
# SchedulerConfig (V1): "Chunked prefill is enabled with max_num_batched_tokens=16384." - the value vLLM settled on
_BATCHED_USED = re.compile(r"Chunked prefill is enabled with max_num_batched_tokens=(\d{1,12})")


def _max_len_used(seg: str, st: _State) -> None:
    if m := _last(_MAX_MODEL_LEN_USED, seg):
        st.setting("max_model_len", m.group(1), "max model len")
    if m := _last(_AUTO_REDUCED, seg):
        st.setting("max_model_len", m.group(1), "max model len (auto-fit)")
    if m := _last(_BATCHED_USED, seg):
        st.setting("max_num_batched_tokens", m.group(1), "scheduler config")


_LOOSE_BOOL = re.compile(r"\b(enable_prefix_caching|enforce_eager|enable_chunked_prefill)\s{0,3}=\s{0,3}(True|False)\b")


def _loose(seg: str, st: _State) -> None:
    """``name=True`` outside a config line (an excerpt that elides the line's start)."""
    if "with config: " in seg:
        return
    for m in _LOOSE_BOOL.finditer(seg):
        st.setting(m.group(1), m.group(2), "engine config")


def _serve_marker(seg: str, st: _State) -> None:
    st.put("vLLM API server", source="vllm serve")


def _v1_marker(seg: str, st: _State) -> None:
    st.v1_wording = True
    for module, line in _CITED.findall(seg):
        st.cited.append((module, int(line)))


Extractor = Callable[[str, _State], None]
# anchor (a literal of the line, found with str.find) -> the extractors that read such a line
_ANCHORS: tuple[tuple[str, tuple[Extractor, ...]], ...] = (
    ("loading took", (_loading,)),
    ("weights took", (_loading,)),
    ("Available KV cache memory", (_available,)),
    ("reserved for KV Cache", (_available,)),
    ("kv_cache_size=", (_available, _profile)),
    ("total_gpu_memory", (_profile,)),
    ("weights take", (_profile,)),
    ("non_torch_memory", (_profile,)),
    ("activation peak memory", (_profile,)),
    ("emory profiling", (_profile,)),
    ("KV cache size:", (_capacity,)),
    ("Maximum concurrency", (_capacity,)),
    (" blocks: ", (_blocks,)),
    ("Memory after warmup", (_extensible,)),
    ("Extended KV cache to", (_extensible,)),
    ("Graph capturing", (_graphs,)),
    ("CUDA graph memory", (_graphs,)),
    ("Actual usage is", (_suggestion,)),
    ("Free memory on device", (_suggestion, _errors)),
    ("max seq len", (_errors,)),
    ("No available memory", (_errors,)),
    ("Cannot auto-fit", (_errors,)),
    ("auto reduced", (_max_len_used,)),
    ("Mamba cache blocks", (_errors,)),
    ("out of memory", (_oom,)),
    ("OutOfMemoryError", (_oom,)),
    ("rchitecture", (_architecture,)),
    ("not a registered model", (_architecture,)),
    ("with config: ", (_engine_config,)),
    ("ersion", (_server_version,)),
    ("non-default args", (_args,)),
    ("args: Namespace(", (_args,)),
    ("--", (_flags,)),
    ("-tp", (_flags,)),
    ("-pp", (_flags,)),
    ("vllm serve", (_flags,)),
    ("api_server", (_flags,)),
    ("NIM_", (_nim,)),
    ("SETTINGS: {", (_api_for_open_llm,)),
    ("device_name=", (_gpu_name,)),
    ("(UUID", (_gpu_name,)),
    ("Using max model len", (_max_len_used,)),
    ("Chunked prefill is enabled", (_max_len_used,)),
    ("Starting vLLM API server", (_serve_marker,)),
    ("Available routes are", (_serve_marker,)),
    ("_caching=", (_loose,)),
    ("_eager=", (_loose,)),
    ("_prefill=", (_loose,)),
    ("gpu_worker.py", (_v1_marker,)),
    ("kv_cache_utils.py", (_v1_marker,)),
    ("EngineCore", (_v1_marker,)),
)
_ORDER = {fn: i for i, fn in enumerate(dict.fromkeys(fn for _, fns in _ANCHORS for fn in fns))}

# The first pass looks for these byte strings only (each a C-speed scan of the whole input); every line they hit is
# decoded and checked for all the anchors above. Each anchor's line holds at least one gate: "emory" covers the
# memory lines and errors (OutOfMemoryError, gpu_memory_utilization), "--" and "vllm" command lines.
# Seventeen scans of 50 MB take ~0.3 s of CPU; lines only other anchors name ("vLLM API server version", "(UUID",
# "Using max model len") are read when a gate hits them (the engine config line says the same).
_GATES: tuple[bytes, ...] = (
    b"emory", b"took ", b"oncurrency", b"cache size", b"blocks", b"max seq len", b"rchitecture",
    b"registered model", b"with config", b"args: ", b"vllm", b"--", b"NIM_", b"SETTINGS: {", b"device_name=",
    b"Chunked prefill", b"API server", b"server version",
)
_ANSI = re.compile(r"\x1b(?:\[[0-9;?]{0,40}[ -/]{0,4}[@-~]|\][^\x07\x1b]{0,400}(?:\x07|\x1b\\)|[@-Z\\-_])")


def normalise(text: str | bytes) -> str:
    """Bytes as UTF-8 (bad bytes replaced), Windows and progress-bar line ends as newlines, ANSI codes gone."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\x1b" in text:
        text = _ANSI.sub("", text)
    return text


def _as_bytes(text: str | bytes) -> bytes:
    if isinstance(text, str):
        return text.encode("utf-8", errors="replace")
    if text[:2] in (b"\xff\xfe", b"\xfe\xff"):  # PowerShell's `> file` writes UTF-16
        return text.decode("utf-16", errors="replace").encode("utf-8", errors="replace")
    return text


def _segments(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each line a gate hits, clipped to a window around the hits, in the order of the log."""
    first: dict[int, int] = {}  # line start -> first hit, last hit
    last: dict[int, int] = {}
    for gate in _GATES:
        i = data.find(gate)
        start, line_end = 0, -1
        while i != -1:
            if i > line_end:  # a new line: its bounds are looked up once per gate, so long lines stay linear
                start = data.rfind(b"\n", 0, i) + 1
                line_end = data.find(b"\n", i)
                line_end = len(data) if line_end == -1 else line_end
            if start in first:
                first[start] = min(first[start], i)
                last[start] = max(last[start], i)
            else:
                first[start], last[start] = i, i
            # the window after this hit is read anyway: the next hit of this gate on this line is looked for
            # beyond it (on the next line, from its start)
            i = data.find(gate, min(i + max(len(gate), _WINDOW_AFTER // 2), line_end + 1))
    out = []
    for start, hit in first.items():
        end = data.find(b"\n", last[start])
        end = len(data) if end == -1 else end
        out.append((max(start, hit - _WINDOW_BEFORE), min(end, last[start] + _WINDOW_AFTER)))
    out.sort()
    return out


def parse_log(text: str | bytes) -> LogReading:
    """Everything ``text`` (a log, or excerpts joined by ``|`` or newlines) says; the last value wins."""
    data = _as_bytes(text)
    st = _State(data)
    head = ""
    for lo, hi in _segments(data):
        seg = normalise(data[lo:hi])
        if lo < 200_000:
            head += seg
        st.lo = lo
        extractors = {fn for anchor, fns in _ANCHORS if anchor in seg for fn in fns}
        for extractor in sorted(extractors, key=_ORDER.__getitem__):
            extractor(seg, st)
    return _reading(head, st)


def _reading(text: str, st: _State) -> LogReading:
    v = st.values
    source = v.get("source")
    if v.get("app_marker"):
        source = "api-for-open-llm"
        for key, raw in st.app_settings.items():
            if key in ("model_path", "model_name"):
                if raw and raw != "null" and "model" not in v:
                    v["model"] = raw
            elif key != "engine" and engine_args.setting_for(key) not in st.settings:
                # what vLLM's own config line says wins over the launcher's settings
                st.setting(key, raw, "api-for-open-llm settings")
    if source is None and ("LLM(" in text[:200_000] or ("engine config" in st.found and "non-default args" in
                                                          st.found)):
        # a whole start-up log with its args line and no API-server line was written by the LLM class
        source = "LLM class"
    settings = LogSettings(**{k: st.settings.get(k) for k in LogSettings.__dataclass_fields__})  # type: ignore[arg-type]
    total = v.get("total_gpu_memory_gib", v.get("oom_total_gib"))
    return LogReading(
        engine=_engine(st),
        settings=settings,
        vllm_version=_str(v.get("vllm_version")),
        source=source,  # type: ignore[arg-type]
        model=_str(v.get("model")),
        architecture=_str(v.get("architecture")),
        gpu_name=_str(v.get("gpu_name")),
        model_loading_gib=_float(v.get("model_loading_gib", v.get("profile_weights_gib"))),
        available_kv_cache_gib=_float(v.get("available_kv_cache_gib")),
        total_gpu_memory_gib=_float(total),
        total_source=None if total is None else "vLLM" if "total_gpu_memory_gib" in v else "torch out-of-memory text",
        free_at_init_gib=_float(v.get("free_at_init_gib")),
        requested_gib=_float(v.get("requested_gib")),
        non_torch_gib=_float(v.get("non_torch_gib")),
        activation_peak_gib=_float(v.get("activation_peak_gib")),
        cuda_graph_gib=_float(v.get("cuda_graph_gib")),
        cuda_graph_estimate_gib=_float(v.get("cuda_graph_estimate_gib")),
        kv_cache_tokens=_intv(v.get("kv_cache_tokens")),
        max_concurrency=_float(v.get("max_concurrency")),
        max_concurrency_len=_intv(v.get("max_concurrency_len")),
        gpu_blocks=_intv(v.get("gpu_blocks")),
        cpu_blocks=_intv(v.get("cpu_blocks")),
        extensible_kv_gib=_float(v.get("extensible_kv_gib")),
        free_after_warmup_gib=_float(v.get("free_after_warmup_gib")),
        errors=tuple(dict.fromkeys(st.errors)),  # each worker of a TP group prints the same error
        found=tuple(st.found),
        releases_cited=_releases(st.cited),
        releases_worded=st.worded,
    )


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _intv(value: object) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def _engine(st: _State) -> Literal["v0", "v1"] | None:
    if st.engine_hint:
        return st.engine_hint
    version = st.values.get("vllm_version")
    if isinstance(version, str) and re.match(r"0\.[0-7]\.", version):
        return "v0"  # V1 came in 0.8
    if st.v0_wording:
        return "v0"
    if st.v1_wording or "available KV cache memory" in st.found:
        return "v1"
    return None


# --- a scanner for Python reprs: "{'k': v, ...}", "Namespace(k=v, ...)", "k=v, k=v" (never evaluated) --------

_TOKEN = re.compile(r"""\s{0,64}(?:('(?:[^'\\\n]|\\.){0,4096}'|"(?:[^"\\\n]|\\.){0,4096}")|([{}\[\]()<>,:=])|"""
                    r"""([^\s{}\[\]()<>,:='"]{1,256}))""")
_OPEN = {"{": "}", "[": "]", "(": ")", "<": ">"}
_MAX_TOKENS = 20_000


def _scan_pairs(text: str, pos: int, sep: str) -> list[tuple[str, object]]:
    """The top-level ``key<sep>scalar`` pairs from ``pos`` until the enclosing bracket closes (or the text ends).

    Scalars come back as str for quoted strings, else as the bare token (``True``, ``8192``, ``torch.bfloat16``);
    nested values are skipped. Bounded: at most ``_MAX_TOKENS`` tokens are read.
    """
    pairs: list[tuple[str, object]] = []
    depth = 0
    key: str | None = None
    expecting_value = False
    value: object = None
    value_tokens = 0
    for _ in range(_MAX_TOKENS):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            break
        pos = m.end()
        quoted, punct, bare = m.groups()
        if punct in _OPEN:
            depth += 1
            value_tokens += 2  # a nested value: not a scalar
            continue
        if punct in ("}", "]", ")", ">"):
            if depth == 0:
                break
            depth -= 1
            continue
        if depth > 0:
            continue
        if punct == ",":
            if key is not None and expecting_value and value_tokens == 1:
                pairs.append((key, value))
            key, expecting_value, value, value_tokens = None, False, None, 0
            continue
        if punct == sep and key is not None and not expecting_value:
            expecting_value = True
            continue
        if bare in ("...", "\u2026"):  # an excerpt's elision
            continue
        token: object = quoted[1:-1] if quoted else bare
        if not expecting_value:
            key = str(token) if (quoted or bare) else None
        else:
            value, value_tokens = token, value_tokens + 1
    if key is not None and expecting_value and value_tokens == 1:
        pairs.append((key, value))
    return pairs


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
_CITED = re.compile(r"\[(gpu_worker|kv_cache_utils)\.py:(\d{1,6})\]\s{0,8}(?:Available KV cache memory|GPU KV cache "
                    r"size|Maximum concurrency)")


def releases_from_source_lines(text: str) -> tuple[str, ...]:
    """The releases whose KV-cache log lines sit where ``text`` says they were printed, oldest first.

    Empty when the log quotes none of them (or a build that matches no release, such as a dev build).
    """
    return _releases([(module, int(line)) for module, line in _CITED.findall(text)])


def _releases(cited: list[tuple[str, int]]) -> tuple[str, ...]:
    candidates: set[str] | None = None
    for module, line in cited:
        which = 0 if module == "gpu_worker" else 1
        hits = {release for release, lines in _KV_LOG_LINES.items() if line in lines[which]}
        candidates = hits if candidates is None else candidates & hits
    return tuple(sorted(candidates or (), key=lambda v: tuple(int(x) for x in v.replace("post", "").split(".") if x)))
