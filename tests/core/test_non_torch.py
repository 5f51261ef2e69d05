"""Non-torch memory from vLLM 0.11 (kvplan.core.non_torch), rule by rule, with the vLLM file, function and release
each one was read from, and the H100 lines of benchmarks/gpu-runs/public-issues.jsonl that measured the rest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kvplan.core import non_torch
from kvplan.core.architectures import model_spec_from_config
from kvplan.core.engine import EngineConfig, resolve_engine
from kvplan.core.estimate import Estimate
from kvplan.core.model import ModelSpec
from kvplan.core.overheads import estimate_non_torch
from kvplan.core.settings import DeploySettings
from kvplan.core.units import GiB, MiB
from kvplan.gpu.catalog import catalog_gpu_spec
from kvplan.sources import catalog

PUBLIC = Path(__file__).resolve().parents[2] / "benchmarks/gpu-runs/public-issues.jsonl"


def _model(name: str = "meta-llama/Llama-3.1-8B-Instruct") -> ModelSpec:
    entry = catalog.find(name)
    assert entry is not None
    return model_spec_from_config(entry.config)


def _engine(version: str, *, tp: int = 1, pp: int = 1, gpu: str = "h100",
            model: ModelSpec | None = None, **extra: object) -> EngineConfig:
    settings = DeploySettings(vllm_version=version, tensor_parallel_size=tp, pipeline_parallel_size=pp,
                              **extra)  # type: ignore[arg-type]
    return resolve_engine(model or _model(), settings, catalog_gpu_spec(gpu, tp * pp))


def _term(version: str, *, enforce_eager: bool = False, **kw: object) -> Estimate:
    model = kw.pop("model", None) or _model()
    engine = _engine(version, model=model, **kw)  # type: ignore[arg-type]
    return estimate_non_torch(engine, model, enforce_eager=enforce_eager)


def _gib(estimate: Estimate) -> float:
    return round(estimate.value_bytes / GiB, 2)


def test_single_gpu_growth_is_measured_per_release() -> None:
    """Rule 1. v1/worker/gpu_worker.py ``Worker.init_device`` (0.11-0.34): distributed init, then the snapshot;
    ``memory_profiling`` (utils/mem_utils.py) reports the rest: 0.13-0.14 GiB on 0.11.0 (lines 0-3, 7, 8), 0.24-0.27
    on 0.19.0 (lines 12-19, 25, 28, 29, 32, 33). Releases between them were not read: a value spanning both."""
    assert _gib(_term("0.11.0")) == 0.13 and _term("0.11.0").error_bytes == int(0.05 * GiB)
    assert _gib(_term("0.19.0")) == 0.25
    between = _term("0.15.0")
    assert between.value_bytes - between.error_bytes <= 0.13 * GiB <= 0.25 * GiB <= between.value_bytes \
        + between.error_bytes
    assert "not measured" in _term("0.21.0").source  # V1 runner; 0.22+ runs Llama on Model Runner V2
    # measured on H100s only: another GPU keeps the former +- 0.30 GiB
    assert _term("0.19.0", gpu="a100-80gb").error_bytes == int(0.30 * GiB)


def test_before_0_11_keeps_the_calibrated_v1_term() -> None:
    """V1 up to 0.10 snapshots before creating the communicators (gpu_worker.py 0.10: init_gpu_memory first)."""
    assert _term("0.10.1").value_bytes == int(0.67 * GiB)
    assert _term("0.10.1", tp=2, gpu="l40s").value_bytes == int(0.67 * GiB + 0.02 * GiB)


def test_pipeline_stages_measured_on_0_19() -> None:
    """Rule 2. 0.19.0 logged 0.07 GiB at PP 2 and PP 4 (lines 20, 21) against 0.25 at TP 1; no fusion workspace
    there (config/vllm.py ``enable_allreduce_rms_fusion`` requires PP 1 in 0.17-0.20)."""
    assert _gib(_term("0.19.0", pp=2)) == 0.07
    assert _gib(_term("0.19.0", pp=4)) == 0.07
    assert _term("0.11.0", pp=2).value_bytes == 0  # 0.13 - 0.18, floored; offset not measured there
    assert _term("0.11.0", pp=2).error_bytes > _term("0.19.0", pp=2).error_bytes


def test_tp_group_communicator_after_the_snapshot() -> None:
    """Rule 3. base_device_communicator.py ``all_gather`` (0.11-0.34) goes through torch.distributed on
    ``device_group``: ProcessGroupNCCL creates its communicator at that first collective, after the snapshot.
    0.11.0 TP 2 logged 0.54 (line 4; 0.14 at TP 1): 0.13 + 0.37 = 0.50 +- 0.08."""
    term = _term("0.11.0", tp=2, model=_model("Qwen/Qwen3-32B"))
    assert _gib(term) == 0.50 and abs(term.value_bytes - 0.54 * GiB) <= term.error_bytes
    eager = _term("0.19.0", tp=2, enforce_eager=True)
    assert _gib(eager) == 0.62  # no compiled model, no fusion workspace: 0.25 + 0.37


def test_fusion_workspace_rounded_to_the_multicast_granularity() -> None:
    """Rule 4, 0.17-0.26. compilation/passes/fusion/allreduce_rms_fusion.py ``AllReduceFusionPass`` (0.19) creates
    FlashInfer's trtllm workspace through flashinfer_all_reduce.py ``_create_workspace``; FlashInfer 0.6.6's
    ``SymmDeviceMemory._get_allocation_prop`` (flashinfer/comm/mnnvl.py) rounds each of its 3 buffers to the
    multicast granularity: 1.5 GiB on an H100 at TP 2 and 4 whatever the model (lines 22-24, 26, 27, 30, 31)."""
    for tp in (2, 4, 8):
        workspace = non_torch.fi_allreduce_workspace(_engine("0.19.0", tp=tp), _model(), enforce_eager=False)
        assert workspace.value_bytes == 3 * 512 * MiB
    assert _gib(_term("0.19.0", tp=2)) == 2.12  # logged 2.06-2.07
    assert _gib(_term("0.19.0", tp=4)) == 2.12  # logged 2.13-2.17
    gpt_oss = _model("openai/gpt-oss-20b")  # hidden 2,880: exact sizes 90 + 2 + 270 MiB, still 3 granules
    assert non_torch.fi_allreduce_workspace(_engine("0.19.0", tp=2, model=gpt_oss), gpt_oss,
                                            enforce_eager=False).value_bytes == 3 * 512 * MiB


@pytest.mark.parametrize(("version", "kw", "why"), [
    ("0.16.0", {"tp": 2}, "fuse_allreduce_rms off by default before 0.17 (config/vllm.py 0.16)"),
    ("0.19.0", {"tp": 2, "pp": 2}, "0.17-0.20 enable_allreduce_rms_fusion requires PP 1 (vllm#35426)"),
    ("0.19.0", {"tp": 3}, "flashinfer_max_size: world sizes 2, 4, 8 only (config/compilation.py)"),
    ("0.19.0", {"tp": 2, "gpu": "h100-pcie"}, "multicast query fails without NVSwitch: vLLM goes on without it"),
    ("0.19.0", {"tp": 2, "gpu": "l40s"}, "SM 8.9: not Hopper / Blackwell"),
    ("0.19.0", {"tp": 2, "gpu": "a100-80gb"}, "SM 8.0"),
])
def test_no_fusion_workspace_where_vllm_does_not_create_it(version: str, kw: dict[str, object], why: str) -> None:
    engine = _engine(version, **kw)  # type: ignore[arg-type]
    workspace = non_torch.fi_allreduce_workspace(engine, _model(), enforce_eager=False)
    assert workspace.value_bytes == 0 and workspace.error_bytes == 0, why


def test_fusion_workspace_with_pipeline_stages_from_0_21() -> None:
    """0.21 dropped the PP 1 / DP 1 conditions of ``enable_allreduce_rms_fusion`` (config/vllm.py 0.21-0.34)."""
    workspace = non_torch.fi_allreduce_workspace(_engine("0.21.0", tp=2, pp=2), _model(), enforce_eager=False)
    assert workspace.value_bytes == 3 * 512 * MiB
    assert non_torch.fi_allreduce_workspace(_engine("0.19.0", tp=2), _model(), enforce_eager=True).value_bytes == 0


def test_fusion_workspace_mnnvl_from_0_25() -> None:
    """From 0.25 ``_resolve_fi_ar_backend`` (flashinfer_all_reduce.py, read in 0.26-0.34) picks mnnvl:
    ``MNNVLAllReduceFusionWorkspace`` (flashinfer/comm/trtllm_mnnvl_ar.py 0.6.14-0.6.18), 3 Lamport buffers of
    max(one-shot, two-shot 2 x ceil(tokens / tp) x tp x hidden x 2 B) in torch symmetric memory. Llama-3.1-8B, H100
    TP 2, 8,192 tokens: 3 x 128 MiB, + half a 512 MiB granule +- half (the rounding not read)."""
    model = _model()
    engine = _engine("0.28.0", tp=2, max_num_batched_tokens=8192)
    workspace = non_torch.fi_allreduce_workspace(engine, model, enforce_eager=False)
    assert (workspace.value_bytes, workspace.error_bytes) == ((384 + 256) * MiB, 256 * MiB)
    # Model Runner V2 (0.27+: L4 TP 2 lines fit without the TP group's communicator) gets only the workspace on
    # top of its growth and the penalty state of every sampling rank: 1,024 sequences x (128,256 + 4,008) x int32
    penalties = 1024 * (128256 + 4008) * 4
    assert engine.max_num_seqs == 1024
    assert estimate_non_torch(engine, model).value_bytes == (int(0.22 * GiB + 0.02 * GiB) + penalties
                                                             + (384 + 256) * MiB)
    # 0.24 still picks trtllm on one node: 3 granules
    assert non_torch.fi_allreduce_workspace(_engine("0.24.0", tp=2), model,
                                            enforce_eager=False).value_bytes == 3 * 512 * MiB


def test_trtllm_fallback_without_nvswitch_from_0_27() -> None:
    """Without multicast mnnvl is unavailable and 0.26+ falls back to trtllm on one node; FlashInfer 0.6.16.post3+
    (vLLM 0.27+) no longer queries the multicast granularity for it (mnnvl.py ``_get_allocation_prop``), so it may
    be created: not read, 0 +- its exact size (``trtllm_create_ipc_workspace_for_all_reduce_fusion``, 2 MiB
    aligned: 128 MiB + 2 MiB of flags + 384 MiB of Lamport buffers)."""
    workspace = non_torch.fi_allreduce_workspace(_engine("0.28.0", tp=2, gpu="h100-pcie",
                                                         max_num_batched_tokens=8192), _model(), enforce_eager=False)
    assert (workspace.value_bytes, workspace.error_bytes) == (0, (128 + 2 + 384) * MiB)
    tp4 = non_torch.fi_allreduce_workspace(_engine("0.28.0", tp=4, gpu="h100-pcie"), _model(), enforce_eager=False)
    assert tp4.error_bytes == (8 + 2 + 24) * MiB  # 2 MiB at TP 4: 256 tokens


def test_model_runner_v2_up_to_0_26_gets_the_tp_terms() -> None:
    """The V2 runner profiles through the same ``Worker.determine_available_memory``: TP 1 keeps its measured
    0.22 GiB (h100-vllm-0.26.0.jsonl); TP 2 adds the communicator and the (mnnvl, 0.26) workspace."""
    assert _gib(_term("0.26.0")) == 0.22
    assert _term("0.26.0", tp=2).value_bytes == int(0.22 * GiB) + int(0.37 * GiB) + (384 + 256) * MiB


def _public_lines() -> list[dict[str, object]]:
    lines = [json.loads(text) for text in PUBLIC.read_text().splitlines() if text.strip()]
    return [dict(line, index=i) for i, line in enumerate(lines)
            if line.get("vllm_version") in ("0.11.0", "0.19.0") and line.get("non_torch_gib") is not None]


@pytest.mark.parametrize("line", _public_lines(), ids=lambda line: f"line{line['index']}")
def test_logged_h100_lines_inside_the_error(line: dict[str, object]) -> None:
    """The lines the measured terms were set on (benchmarks/accuracy.py CALIBRATION_LINES): each within the
    stated error."""
    entry = catalog.find(str(line["model"]))
    if entry is None:
        pytest.skip("model not in the catalog")
    model = model_spec_from_config(entry.config)
    tp, pp = int(line["tensor_parallel_size"] or 1), int(line["pipeline_parallel_size"] or 1)  # type: ignore[call-overload]
    engine = resolve_engine(model, DeploySettings(vllm_version=str(line["vllm_version"]), tensor_parallel_size=tp,
                                                  pipeline_parallel_size=pp), catalog_gpu_spec("h100", tp * pp))
    term = estimate_non_torch(engine, model, enforce_eager=bool(line.get("enforce_eager")))
    assert abs(term.value_bytes / GiB - float(line["non_torch_gib"])) <= term.error_bytes / GiB + 0.005  # type: ignore[arg-type]
