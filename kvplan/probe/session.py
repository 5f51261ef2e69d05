"""One probe: kvplan's prediction, vLLM's own numbers from a child process, the comparison and the record.

Library code with no terminal in it: the CLI passes ``run_engine`` (which shows progress and handles Ctrl-C).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kvplan.api import CheckReport
    from kvplan.core.settings import DeploySettings
    from kvplan.probe.compare import ProbeOutcome
    from kvplan.probe.runner import ChildResult

EngineRunner = Callable[[str, dict[str, Any], float], "ChildResult"]


def model_for_vllm(model: str) -> str:
    """A local config.json means its directory (vLLM loads directories); anything else goes as typed."""
    path = Path(model).expanduser()
    if path.is_file():
        return str(path.resolve().parent)
    return str(path.resolve()) if path.is_dir() else model


def replan(settings: DeploySettings, child: ChildResult) -> tuple[DeploySettings, list[str]]:
    """The settings vLLM really ran with: its platform (from the device it reports) and its version."""
    from kvplan.core.errors import UsageError
    from kvplan.core.settings import Platform, vllm_behaviour

    result, notes = child.result or {}, []
    device, version = result.get("device"), result.get("vllm_version")
    if device:
        platform: Platform = "cpu" if device == "cpu" else "cuda"
        if platform != settings.platform:
            notes.append(f"vLLM ran on {device}: kvplan planned again with --platform {platform}")
        settings = replace(settings, platform=platform)
    if version:
        try:
            vllm_behaviour(str(version))
        except UsageError:
            notes.append(f"vLLM {version} is not a release kvplan models; planned for {settings.vllm_version}")
        else:
            settings = replace(settings, vllm_version=str(version))
    return settings, notes


def record_measurement(model: str, revision: str | None, settings: DeploySettings, report: CheckReport,
            outcome_measured: dict[str, Any], status: str, elapsed_s: float, environ: Mapping[str, str]) -> str:
    from kvplan.probe.calibration import append_record, make_record

    kv = outcome_measured["kv_cache"]
    measured = {key: kv[key] for key in ("tokens", "num_blocks", "block_size", "max_concurrency", "max_model_len")}
    measured["available_kv_cache_bytes"] = outcome_measured["available_kv_cache_bytes"]
    measured["model_loading_bytes"] = outcome_measured["model_loading_bytes"]
    gpu = report.result.gpu
    record = make_record(
        model_ref=model, revision=revision, device=str(outcome_measured["device"]),
        gpu_total_bytes=gpu.total_bytes if gpu else None, vllm_version=str(outcome_measured["vllm_version"]),
        settings=settings, measured=measured, budget_bytes=report.result.memory.budget_bytes,
        available_error_bytes=int(outcome_measured["available_kv_cache_error_bytes"]), status=status,
        predicted_tokens=report.result.kv_cache.tokens, elapsed_s=elapsed_s,
    )
    return str(append_record(record, environ))


# Files any of which lets transformers build a tokenizer (fast, SentencePiece, BPE vocab, or a config naming one).
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "tokenizer_config.json", "vocab.json", "vocab.txt",
                   "spiece.model", "qwen.tiktoken", "tokenizer.tiktoken")


def local_dir_without_tokenizer(model: str) -> bool:
    """A local model directory (or a config.json inside one) that holds no tokenizer file."""
    path = Path(model).expanduser()
    if path.is_file():
        path = path.parent
    if not path.is_dir():
        return False  # a Hub id: vLLM fetches the tokenizer with the weights
    return not any((path / name).exists() for name in TOKENIZER_FILES)


def run_probe(model: str, settings: DeploySettings, *, gpu: str | None, gpu_memory_bytes: int | None,
              revision: str | None, vllm_python: str | None, timeout_s: float, verify_long_prompt: bool,
              load_format: str, skip_tokenizer_init: bool | None, executor: str | None,
              environ: Mapping[str, str], run_engine: EngineRunner) -> ProbeOutcome:
    """Predict, run vLLM through ``run_engine`` (the CLI adds progress), re-plan for where it ran, compare, record."""
    from kvplan import api
    from kvplan.core.errors import GpuError, UsageError
    from kvplan.probe.compare import ProbeOutcome, compare
    from kvplan.probe.engine_args import engine_args
    from kvplan.probe.runner import find_vllm_python

    python = find_vllm_python(vllm_python)

    def predict(s: DeploySettings) -> tuple[CheckReport, float]:
        # Calibration off: the probe tests kvplan's own estimate, not a number an earlier probe measured.
        started = time.perf_counter()
        report = api.check(model, s, gpu=gpu, gpu_memory_bytes=gpu_memory_bytes, revision=revision,
                           environ=environ, use_calibration=False)
        return report, time.perf_counter() - started

    report: CheckReport | None = None
    kvplan_s = 0.0
    deferred: GpuError | None = None
    try:
        report, kvplan_s = predict(settings)
    except GpuError as err:  # e.g. no NVML here and --platform not given: the engine will say where it runs
        deferred = err
    if skip_tokenizer_init is None and local_dir_without_tokenizer(model):
        # vLLM would stop with "Couldn't instantiate the backend tokenizer"; the probe sends token ids only.
        skip_tokenizer_init = True
        notes_before = ["no tokenizer files in the model directory: vLLM starts with skip_tokenizer_init"]
    else:
        notes_before = []
    args = engine_args(model_for_vllm(model), settings, revision=revision, load_format=load_format,
                       skip_tokenizer_init=skip_tokenizer_init, distributed_executor_backend=executor)
    request = {"model": args["model"], "engine_args": args, "verify_long_prompt": verify_long_prompt}
    child = run_engine(python, request, timeout_s)

    ran_with, notes = replan(settings, child)
    notes = notes_before + notes
    if report is None or ran_with != settings:
        try:
            report, kvplan_s = predict(ran_with)
        except GpuError:
            if child.status == "ok" or deferred is None:
                raise
        except UsageError as err:  # vLLM ran, but kvplan cannot plan what it ran: keep the measurement
            report = None
            notes.append(f"no prediction for what vLLM ran: {err.one_line()}")
    comparison = compare(report.result if report else None, child, verify_long_prompt=verify_long_prompt)
    record = None
    if child.status == "ok" and report is not None:
        try:
            record = record_measurement(model, revision, ran_with, report, comparison.measured, comparison.status,
                             child.elapsed_s, environ)
        except OSError as err:  # an unwritable cache must not hide the measurement
            notes.append(f"calibration record not written: {err}")
    return ProbeOutcome(report=report, comparison=comparison, child=child, engine_args=args, vllm_python=python,
                        calibration_record=record, kvplan_elapsed_s=kvplan_s, notes=tuple(notes))
