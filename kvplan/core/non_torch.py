"""Non-torch memory vLLM counts before sizing the KV cache, from vLLM 0.11 (V1 GPUModelRunner; Model Runner V2).

From 0.11 (vllm PR #25359) ``Worker.init_device`` (v1/worker/gpu_worker.py, 0.11-0.34) creates the distributed
environment (pynccl, custom all-reduce, torch symmetric memory: ``CudaCommunicator.__init__``) *before* its
``MemorySnapshot``, so none of those count. What ``memory_profiling`` (utils/mem_utils.py) then reports as
``non_torch_increase`` (CUDA used minus torch reserved, snapshot to end of profile) is, per release and parallelism:

1. the single-GPU growth (CUDA context and modules loaded by the first forward), measured: 0.13 GiB on 0.11.0
   (public-issues.jsonl lines 0-3, 7, 8: 0.13-0.14 GiB), 0.25 GiB on 0.19.0 (lines 12-19, 25, 28, 29, 32, 33:
   0.24-0.27 GiB over 13 models); the same 0.19 sweep logged 0.46 GiB for granite-3.x (not in the file: no verbatim
   config), which this does not cover;
2. with pipeline stages (TP 1), less: 0.07 GiB at PP 2 and 4 on 0.19.0 (lines 20, 21) against 0.25 at TP 1: part of
   the single-GPU growth happens before the snapshot once NCCL is initialised there;
3. at TP >= 2, torch's own NCCL communicator for the TP group: vLLM's ``GroupCoordinator.all_gather`` (the logits
   gather, ``use_all_gather`` on CUDA) and FlashInfer's workspace exchange go through
   ``torch.distributed`` on ``device_group`` (base_device_communicator.py ``all_gather``, 0.11-0.34), whose
   ProcessGroupNCCL creates its communicator lazily at that first collective, i.e. after the snapshot. Measured:
   0.11.0 TP 2 0.54 vs 0.14 at TP 1 (line 4: +0.40); 0.19.0 TP 2 2.06-2.07 and TP 4 2.13-2.17 less the workspace
   below and TP 1's 0.25 (lines 22-24, 26, 27, 30, 31: +0.31-0.42): 0.37 +- 0.06 GiB;
4. the FlashInfer all-reduce + RMSNorm fusion workspace (``AllReduceFusionPass``,
   compilation/passes/fusion/allreduce_rms_fusion.py; ``_create_workspace``, flashinfer_all_reduce.py), created
   when the model is compiled, after the snapshot. On by default from 0.17 (``enable_allreduce_rms_fusion``,
   config/vllm.py: TP > 1, CUDA, FlashInfer, SM 9.0 or SM 10.x (10.0 only in 0.17-0.18), and up to 0.20 PP 1 and
   DP 1); only under torch.compile (``enforce_eager`` sets the compilation mode to NONE) and for TP 2, 4, 8
   (``flashinfer_max_size``). FlashInfer's trtllm workspace (``trtllm_create_ipc_workspace_for_all_reduce_fusion``,
   flashinfer/comm/trtllm_ar.py) is three buffers: tp x tokens x hidden x 2 B, tp x 256 x 4 B of flags and
   3 x tp x tokens x hidden x 2 B (x 4 B in fp32) of Lamport buffers, tokens = min(max size / (hidden x dtype),
   max_num_batched_tokens), max size per GPU and TP from ``FI_ALLREDUCE_FUSION_MAX_SIZE_MB`` (H100 TP 2: 64 MiB).
   FlashInfer 0.6.4-0.6.14 (vLLM 0.17-0.26) allocate each as ``SymmDeviceMemory`` rounded up to the recommended
   *multicast* granularity whatever the backend (flashinfer/comm/mnnvl.py ``_get_allocation_prop``); FlashInfer
   0.6.16.post3+ (vLLM 0.27+) only when multicast is on, which the trtllm workspace never asks for: exact sizes
   in 2 MiB granules. The granularity is not in the sources: the 0.19 H100 logs give it as 512 MiB. Their TP 2
   workspaces (exact 362-514 MiB for hidden 2,880-4,096) and TP 4 ones (8-24 MiB) all sit in the same 2.06-2.17
   GiB, i.e. the size does not follow the exact one; three 512 MiB granules (1.5 GiB) + TP 1's 0.25 + the
   communicator's 0.31-0.42 give it (a third-party note, mojoccl's README, also gives 512 MiB "on H100"). Without
   multicast (no NVSwitch) the query fails and vLLM goes on without the workspace ("expected on GPUs without
   NVSwitch", flashinfer_all_reduce.py). From 0.25 ``auto`` picks FlashInfer's mnnvl backend instead (0.26-0.34
   ``_resolve_fi_ar_backend``), trtllm only as the fallback without multicast: ``MNNVLAllReduceFusionWorkspace``,
   3 Lamport buffers in torch symmetric memory (``_mnnvl_bytes``), its rounding not read.

NCCL NVLS from 0.11: the 0.19 H100 logs show no NVLS at TP 4 on NCCL 2.27.5 (before the snapshot: 1.53-1.55 GiB
used at TP 4 vs 1.51-1.53 at TP 2; after it, TP 4 - TP 2 = 0.06-0.10 GiB, inside item 3's error): nothing is added
here for it.
"""

from __future__ import annotations

from kvplan.core.engine import EngineConfig
from kvplan.core.estimate import Estimate
from kvplan.core.model import ModelSpec
from kvplan.core.settings import release
from kvplan.core.units import GiB, MiB, cdiv, round_up

# Releases whose V1 worker creates its communicators before the memory snapshot (vllm PR #25359).
DIST_BEFORE_SNAPSHOT_FROM = (0, 11)
# 1. Single-GPU growth, measured on H100 (``vllm serve``): release -> GiB.
MEASURED_NON_TORCH_V1_TP1: dict[tuple[int, int], float] = {(0, 11): 0.13, (0, 19): 0.25}
ERR_NON_TORCH_MEASURED = int(0.05 * GiB)  # the spread of the measured lines (0.24-0.27 at 0.19), rounded up
# Releases between the measured ones were not read: their value spans both (0.13-0.25 GiB) with the same slack.
NON_TORCH_V1_UNREAD_012_018 = 0.19
ERR_NON_TORCH_UNREAD_012_018 = int(0.11 * GiB)
ERR_NON_TORCH_UNREAD_AFTER = int(0.10 * GiB)  # 0.20+: not read (0.26's Model Runner V2 logged 0.22 on an H100)
# Measured on H100s only: on another GPU (other kernels, modules and workspaces) the error stays the +- 0.30 GiB the
# calibrated V1 term had (overheads.ERR_NON_TORCH_V1).
ERR_NON_TORCH_OTHER_GPU = int(0.30 * GiB)
MEASURED_GPU_CAPABILITY = (9, 0)
# 2. Pipeline stages: 0.25 -> 0.07 GiB on 0.19.0 (lines 20, 21).
MEASURED_PP_OFFSET = 0.18 * GiB
ERR_PP_OFFSET_UNREAD = int(0.05 * GiB)  # releases other than 0.19: the offset not measured
# 3. torch's ProcessGroupNCCL communicator of the TP group, created after the snapshot.
MEASURED_TP_GROUP_NCCL = 0.37 * GiB
ERR_TP_GROUP_NCCL = int(0.06 * GiB)
# 4. FlashInfer all-reduce fusion workspace.
FI_AR_FUSION_FROM = (0, 17)
FI_AR_FUSION_PP1_UNTIL = (0, 20)  # tp-pp (vllm#35426) and tp-dp (#34458) combinations excluded up to 0.20
FI_AR_ROUNDED_UNTIL = (0, 26)  # FlashInfer <= 0.6.14 rounds each buffer to the multicast granularity
MEASURED_MULTICAST_GRANULE_BYTES = 512 * MiB  # H100, read off the 0.19 logs (see the module docstring)
FI_AR_BUFFERS = 3
FI_AR_BARRIER_FLAGS = 256  # flashinfer trtllm_ar.py BarrierFlagCount
FI_AR_ALIGN_BYTES = 2 * MiB
ERR_FI_AR_HOPPER = int(0.05 * GiB)
ERR_FI_AR_FRACTION_UNMEASURED = 0.5  # Blackwell: the multicast granularity was not measured
FI_AR_WORLD_SIZES = (2, 4, 8)
# From 0.25 (the release that pinned FlashInfer 0.6.13, as 0.26's flashinfer_all_reduce.py ``_resolve_fi_ar_backend``
# says; 0.24 still picks trtllm on one node, 0.26 mnnvl; 0.25 not read) ``auto`` picks the mnnvl backend, the trtllm
# one only as a fallback without multicast. Its workspace lives in torch symmetric memory, whose rounding was not
# read: the exact size + half a multicast granule, +- half of one.
FI_AR_MNNVL_FROM = (0, 25)
MNNVL_ONE_SHOT_THRESHOLD_BYTES = 64 * 1024 * 8 * 2  # flashinfer trtllm_mnnvl_ar.py MNNVL_ONE_SHOT_THRESHOLD
MNNVL_ROUNDING_BYTES = 512 * MiB
# FI_ALLREDUCE_FUSION_MAX_SIZE_MB (allreduce_rms_fusion.py, 0.16-0.34): capability -> TP -> MiB.
FI_AR_MAX_SIZE_MIB: dict[int, dict[int, float]] = {
    90: {2: 64, 4: 2, 8: 0.5},
    100: {2: 64, 4: 32, 8: 1},
    103: {2: 64, 4: 64, 8: 2},  # 8: 4 MiB from 0.29 (fi_ar_max_size_mib)
}


def applies(engine: EngineConfig) -> bool:
    """V1 (and Model Runner V2) from 0.11: the distributed environment exists before the snapshot."""
    return engine.behaviour.engine == "v1" and release(engine.behaviour.version) >= DIST_BEFORE_SNAPSHOT_FROM


def single_gpu_growth(engine: EngineConfig) -> Estimate:
    """Item 1 of the module docstring for the V1 GPUModelRunner: measured on 0.11 and 0.19 (H100), spanned between;
    on another GPU than a Hopper one the error of the former calibrated term."""
    minor = release(engine.behaviour.version)
    if minor in MEASURED_NON_TORCH_V1_TP1:
        gib, error = MEASURED_NON_TORCH_V1_TP1[minor], ERR_NON_TORCH_MEASURED
        how = f"measured on H100, vLLM {minor[0]}.{minor[1]}: {gib:.2f} GiB"
    elif minor < (0, 19):
        gib, error = NON_TORCH_V1_UNREAD_012_018, ERR_NON_TORCH_UNREAD_012_018
        how = "not measured on this release: between 0.11's 0.13 and 0.19's 0.25 GiB"
    else:
        gib, error = MEASURED_NON_TORCH_V1_TP1[(0, 19)], ERR_NON_TORCH_UNREAD_AFTER
        how = "not measured on this release: 0.19's 0.25 GiB"
    if engine.compute_capability != MEASURED_GPU_CAPABILITY:
        error = max(error, ERR_NON_TORCH_OTHER_GPU)
        how += "; measured on H100 only"
    return Estimate(value_bytes=int(gib * GiB), error_bytes=error, source=f"V1 non-torch growth at TP 1 ({how})")


def with_parallelism(base: Estimate, engine: EngineConfig, model: ModelSpec | None, *,
                     enforce_eager: bool, stages: bool = True, tp_group: bool = True) -> Estimate:
    """Items 2-4 on top of a single-GPU ``base``: pipeline stages (``stages``), the TP group's torch NCCL
    communicator (``tp_group``) and the FlashInfer all-reduce fusion workspace."""
    value, error, parts = base.value_bytes, base.error_bytes**2, [base.source]
    minor = release(engine.behaviour.version)
    if stages and engine.pipeline_parallel_size > 1:
        offset = min(int(MEASURED_PP_OFFSET), value)
        value -= offset
        if minor != (0, 19):
            error += ERR_PP_OFFSET_UNREAD**2
        parts.append(f"- {offset / GiB:.2f} GiB with pipeline stages (measured on 0.19: 0.07 GiB at PP 2 and 4)")
    if tp_group and engine.tensor_parallel_size > 1:
        value += int(MEASURED_TP_GROUP_NCCL)
        error += ERR_TP_GROUP_NCCL**2
        parts.append(f"+ torch's NCCL communicator of the TP group, created after the snapshot "
                     f"({MEASURED_TP_GROUP_NCCL / GiB:.2f} GiB, measured at TP 2/4 on 0.11 and 0.19)")
    workspace = fi_allreduce_workspace(engine, model, enforce_eager=enforce_eager)
    if workspace.value_bytes or workspace.error_bytes:
        value += workspace.value_bytes
        error += workspace.error_bytes**2
        parts.append(f"+ {workspace.source}")
    return Estimate(value_bytes=value, error_bytes=int(error**0.5), source="estimate: " + " ".join(parts))


def fi_allreduce_workspace(engine: EngineConfig, model: ModelSpec | None, *, enforce_eager: bool) -> Estimate:
    """Item 4: FlashInfer's all-reduce fusion workspace on one rank, where vLLM turns the fusion on by default."""
    none = Estimate.zero("no FlashInfer all-reduce fusion workspace")
    minor = release(engine.behaviour.version)
    tp = engine.tensor_parallel_size
    capability = engine.compute_capability
    if (minor < FI_AR_FUSION_FROM or engine.platform != "cuda" or enforce_eager or tp not in FI_AR_WORLD_SIZES
            or (minor <= FI_AR_FUSION_PP1_UNTIL and engine.pipeline_parallel_size > 1)
            or (capability is not None and not _fusion_gpu(capability, minor))):
        return none
    tokens, hidden, element = _workspace_tokens(engine, model, capability)
    trtllm = _trtllm_bytes(tp, tokens, hidden, element, rounded=minor <= FI_AR_ROUNDED_UNTIL)
    if capability is None or engine.nvswitch is None:
        return Estimate(value_bytes=0, error_bytes=trtllm,
                        source=f"FlashInfer all-reduce fusion workspace: GPU or fabric not known, 0 +- "
                               f"{trtllm / GiB:.2f} GiB")
    if not engine.nvswitch:  # mnnvl needs multicast; trtllm (the fallback from 0.25) queries it up to 0.26
        if minor <= FI_AR_ROUNDED_UNTIL:
            return none
        return Estimate(value_bytes=0, error_bytes=trtllm,
                        source=f"FlashInfer all-reduce fusion workspace without NVSwitch: not read, 0 +- "
                               f"{trtllm / GiB:.2f} GiB")
    if minor >= FI_AR_MNNVL_FROM:
        exact = _mnnvl_bytes(tp, tokens, hidden, element)
        return Estimate(value_bytes=exact + MNNVL_ROUNDING_BYTES // 2, error_bytes=MNNVL_ROUNDING_BYTES // 2,
                        source=f"FlashInfer mnnvl all-reduce fusion workspace at TP {tp}: 3 Lamport buffers of "
                               f"{exact / 3 / MiB:.0f} MiB in torch symmetric memory (its rounding not read: up to "
                               f"{MNNVL_ROUNDING_BYTES // MiB} MiB more)")
    if minor <= FI_AR_ROUNDED_UNTIL:
        error = ERR_FI_AR_HOPPER if capability == (9, 0) else int(trtllm * ERR_FI_AR_FRACTION_UNMEASURED)
        how = (f"{FI_AR_BUFFERS} buffers rounded to the {MEASURED_MULTICAST_GRANULE_BYTES // MiB} MiB multicast "
               "granularity (FlashInfer <= 0.6.14; measured on H100)")
    else:
        error, how = ERR_FI_AR_HOPPER, f"{FI_AR_BUFFERS} buffers of their exact size (FlashInfer 0.6.16+)"
    return Estimate(value_bytes=trtllm, error_bytes=error,
                    source=f"FlashInfer all-reduce fusion workspace at TP {tp}, {how}: {trtllm / GiB:.2f} GiB")


def _fusion_gpu(capability: tuple[int, int], minor: tuple[int, int]) -> bool:
    """``enable_allreduce_rms_fusion``: SM 9.0, or SM 10.0 (0.17-0.18) / the SM 10.x family (0.19+)."""
    if capability == (9, 0):
        return True
    return capability == (10, 0) if minor < (0, 19) else capability[0] == 10


def _workspace_tokens(engine: EngineConfig, model: ModelSpec | None,
                      capability: tuple[int, int] | None) -> tuple[int, int, int]:
    """``AllReduceFusionPass.__init__``: max_token_num = min(max size // (hidden x dtype), max_num_batched_tokens);
    (tokens, hidden, element bytes). Without the model the token cap is taken as not binding (hidden 1)."""
    tp = engine.tensor_parallel_size
    key = 90 if capability is None else capability[0] * 10 + capability[1]
    table = FI_AR_MAX_SIZE_MIB.get(key, FI_AR_MAX_SIZE_MIB[100])
    max_size = int(table[tp] * MiB)
    if key == 103 and tp == 8 and release(engine.behaviour.version) >= (0, 29):
        max_size = 4 * MiB
    element = 4 if engine.model_dtype == "float32" else 2
    if model is None:
        return max_size // element, 1, element
    hidden = model.hidden_size
    return min(max_size // (hidden * element), engine.max_num_batched_tokens), hidden, element


def _trtllm_bytes(tp: int, tokens: int, hidden: int, element: int, *, rounded: bool) -> int:
    """``trtllm_create_ipc_workspace_for_all_reduce_fusion`` (flashinfer/comm/trtllm_ar.py): buffer (half), flags,
    3 Lamport buffers (fp32 for an fp32 model), each to the multicast granule (``rounded``) or 2 MiB."""
    buffers = (tp * tokens * hidden * 2, tp * FI_AR_BARRIER_FLAGS * 4, 3 * tp * tokens * hidden * element)
    granule = MEASURED_MULTICAST_GRANULE_BYTES if rounded else FI_AR_ALIGN_BYTES
    return sum(round_up(b, granule) for b in buffers)


def _mnnvl_bytes(tp: int, tokens: int, hidden: int, element: int) -> int:
    """``MNNVLAllReduceFusionWorkspace.__init__`` (flashinfer/comm/trtllm_mnnvl_ar.py, 0.6.14-0.6.18): 3 Lamport
    buffers of max(one-shot at min(MNNVL_ONE_SHOT_THRESHOLD // (tp x dtype x hidden), tokens) tokens x hidden x tp,
    two-shot 2 x ceil(tokens / tp) x tp x hidden) elements."""
    one_shot_tokens = min(MNNVL_ONE_SHOT_THRESHOLD_BYTES // (tp * element * hidden), tokens)
    one_shot = one_shot_tokens * hidden * tp * element
    two_shot = 2 * cdiv(tokens, tp) * tp * hidden * element
    return 3 * max(one_shot, two_shot)
