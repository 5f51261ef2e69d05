"""Which MXFP4 MoE backend vLLM picks for a release and GPU, and what it allocates at load [exact where one
backend is possible, else an estimate spanning the candidates].

vLLM loads an MXFP4 MoE checkpoint (gpt-oss) into expert tensors sized by the backend it picked, then
``process_weights_after_loading`` re-lays them out; ``Model loading took`` counts what is left allocated.
Per expert and rank (I = intermediate size / TP, H = hidden size), the checkpoint holds w13 ``[2I, H]`` and
w2 ``[H, I]`` fp4 values (half a byte each), one uint8 e8m0 scale per 32 values and bf16 biases ``[2I]``
and ``[H]``. The backends differ in:

* padding: ``create_weights`` rounds H and I up (Mxfp4MoEMethod.create_weights, quantization/mxfp4.py,
  0.10.1-0.18; ``mxfp4_round_up_hidden_size_and_intermediate_size``, fused_moe/oracle/mxfp4.py, 0.19-0.34):
  Marlin H to 256 and I to 128; FlashInfer TRT-LLM H to 256 and I to 256 (I to 128 from 0.27); Triton
  (OpenAI triton_kernels) I to 64 only;
* biases: the TRT-LLM and Triton paths cast them to float32 (``w13_bias.to(torch.float32)``), Marlin keeps
  bf16;
* Triton re-lays the weights and scales in triton_kernels' layouts (``_swizzle_mxfp4``,
  quantization/utils/mxfp4_utils.py): the value copy replaces the loaded weight (``del layer.w13_weight``),
  but the swizzled scale is a second tensor beside the loaded scale parameter, which stays registered,
  through 0.33; 0.34's ``store_params_in_triton`` backs the parameter by the swizzled storage instead.
  Layout padding (tensor_details/layout_details/*.py of triton_kernels, vendored as
  vllm/third_party/triton_kernels from 0.12):

  - Hopper with torch < 2.8.1 (0.10.2-0.11.0 pin torch 2.8.0): ``StridedLayout`` for both, views only;
  - ``HopperMXValueLayout``: rows (2I of w13, H of w2) to 16 and packed bytes per row (H/2, I/2) to 32
    (vendored copy of 0.12-0.16 and 0.22-0.34); the copy vendored in 0.17-0.21 first pads both to 64;
  - ``HopperMXScaleLayout`` (num_warps 8): rows to 256, scale columns (H/32, I/32) to 2; from 0.26
    ``_swizzle_mxfp4`` pads the columns to 4 first on SM90 (the "#47303" patch);
  - ``BlackwellMXValueLayout``: packed bytes per row to 128; ``BlackwellMXScaleLayout``: rows to 128,
    columns to 8.

Which backend runs (``get_mxfp4_backend``, quantization/mxfp4.py 0.10.2-0.18; ``Mxfp4MoEMethod.
_should_use_marlin`` in 0.10.1; ``select_mxfp4_moe_backend``, oracle/mxfp4.py 0.19-0.34, named
``select_gpt_oss_mxfp4_moe_backend`` in 0.20; only the ``mxfp4`` method: DeepSeek-V4 and compressed-tensors
MXFP4 checkpoints go elsewhere) depends on the GPU
family and, before 0.12, on optional packages a normal install may or may not have: triton_kernels was no
dependency before it was vendored (0.12), flashinfer-python an extra (``vllm[flashinfer]``) through 0.11.0.
There kvplan cannot know the backend, and the buffer is an estimate (``BackendRow`` with more than one
candidate): the value is what a plain ``pip install vllm==X`` gets, the error reaches the farthest other
candidate; with the GPU's compute capability unknown, the midpoint of every family's candidates and half
their spread. Environment flags
(VLLM_MXFP4_USE_MARLIN, VLLM_USE_FLASHINFER_MOE_MXFP4_*) and ``--moe-backend`` are not modelled: the table is
the default a start-up without them gets. ROCm and XPU are not kvplan platforms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from kvplan.core.units import round_up

GpuFamily = Literal["sm8x", "sm90", "sm100", "sm10x", "sm11x", "sm12x"]
GPU_FAMILIES: tuple[GpuFamily, ...] = ("sm8x", "sm90", "sm100", "sm10x", "sm11x", "sm12x")
OCP_MX_BLOCK = 32  # one e8m0 scale byte per 32 fp4 values


@dataclass(frozen=True, kw_only=True)
class Mxfp4MoeAllocation:
    """What one MXFP4 MoE backend leaves allocated per expert after ``process_weights_after_loading``."""

    backend: str  # vLLM's Mxfp4Backend / Mxfp4MoeBackend name
    hidden_align: int  # create_weights pads the hidden size to a multiple of this
    intermediate_align: int  # ... and the per-rank intermediate size
    bias_bytes: int  # 2: bf16 as loaded; 4: cast to float32
    value_row_align: int = 1  # triton_kernels value layout: rows of w13 (2I) and w2 (H)
    value_byte_align: int = 1  # ... packed bytes of a row (H/2 of w13, I/2 of w2)
    scale_row_align: int = 0  # 0: no swizzled scale copy; else the copy's rows (2I, H) padded to this
    scale_col_align: int = 1  # ... and its columns (H/32, I/32)
    scale_copy_kept: bool = True  # the loaded scale parameter stays beside the swizzled copy

    def expert_bytes(self, hidden_size: int, intermediate_size: int) -> int:
        """Bytes of one expert of one rank (``intermediate_size`` already divided by TP)."""
        hidden = round_up(hidden_size, self.hidden_align)
        inter = round_up(intermediate_size, self.intermediate_align)
        values = round_up(2 * inter, self.value_row_align) * round_up(hidden // 2, self.value_byte_align) + \
            round_up(hidden, self.value_row_align) * round_up(inter // 2, self.value_byte_align)
        scales = 3 * inter * hidden // OCP_MX_BLOCK
        if self.scale_row_align:
            copy = round_up(2 * inter, self.scale_row_align) * round_up(hidden // OCP_MX_BLOCK, self.scale_col_align) \
                + round_up(hidden, self.scale_row_align) * round_up(inter // OCP_MX_BLOCK, self.scale_col_align)
            scales = scales + copy if self.scale_copy_kept else copy
        return values + scales + (2 * inter + hidden) * self.bias_bytes


def checkpoint_expert_bytes(hidden_size: int, intermediate_size: int) -> int:
    """One expert of one rank as the checkpoint holds it (what kvplan's weight count already has)."""
    values = 3 * intermediate_size * hidden_size
    return values // 2 + values // OCP_MX_BLOCK + (2 * intermediate_size + hidden_size) * 2


MARLIN = Mxfp4MoeAllocation(backend="MARLIN", hidden_align=256, intermediate_align=128, bias_bytes=2)
TRTLLM = Mxfp4MoeAllocation(backend="FLASHINFER_TRTLLM_MXFP4_BF16", hidden_align=256, intermediate_align=256,
                            bias_bytes=4)
TRTLLM_I128 = Mxfp4MoeAllocation(backend="FLASHINFER_TRTLLM_MXFP4_BF16", hidden_align=256,
                                 intermediate_align=128, bias_bytes=4)  # oracle/mxfp4.py 0.27+
TRITON_STRIDED = Mxfp4MoeAllocation(backend="TRITON (StridedLayout, torch < 2.8.1)", hidden_align=1,
                                    intermediate_align=64, bias_bytes=4)
TRITON_HOPPER = Mxfp4MoeAllocation(backend="TRITON (HopperMX layouts)", hidden_align=1, intermediate_align=64,
                                   bias_bytes=4, value_row_align=16, value_byte_align=32, scale_row_align=256,
                                   scale_col_align=2)
TRITON_HOPPER_PAD64 = Mxfp4MoeAllocation(backend="TRITON (HopperMX layouts, 64-padded values)", hidden_align=1,
                                         intermediate_align=64, bias_bytes=4, value_row_align=64,
                                         value_byte_align=64, scale_row_align=256, scale_col_align=2)
TRITON_HOPPER_K4 = Mxfp4MoeAllocation(backend="TRITON (HopperMX layouts, scale columns to 4)", hidden_align=1,
                                      intermediate_align=64, bias_bytes=4, value_row_align=16,
                                      value_byte_align=32, scale_row_align=256, scale_col_align=4)
TRITON_HOPPER_K4_SHARED = Mxfp4MoeAllocation(backend="TRITON (HopperMX layouts, scales stored once)",
                                             hidden_align=1, intermediate_align=64, bias_bytes=4,
                                             value_row_align=16, value_byte_align=32, scale_row_align=256,
                                             scale_col_align=4, scale_copy_kept=False)
TRITON_BLACKWELL = Mxfp4MoeAllocation(backend="TRITON (BlackwellMX layouts)", hidden_align=1,
                                      intermediate_align=64, bias_bytes=4, value_byte_align=128,
                                      scale_row_align=128, scale_col_align=8)


@dataclass(frozen=True, kw_only=True)
class BackendRow:
    """Releases ``[first, until)`` on one GPU family: the backends a default start-up may get, the first being
    what a plain ``pip install vllm==X`` gets (no optional package; 0.10.1 on SM100: the flashinfer extra,
    without which no backend starts)."""

    first: tuple[int, int, int]
    until: tuple[int, int, int]
    family: GpuFamily
    candidates: tuple[Mxfp4MoeAllocation, ...]
    why: str


def _rows(first: tuple[int, int, int], until: tuple[int, int, int],
          by_family: dict[GpuFamily, tuple[tuple[Mxfp4MoeAllocation, ...], str]]) -> list[BackendRow]:
    return [BackendRow(first=first, until=until, family=family, candidates=cands, why=why)
            for family, (cands, why) in by_family.items()]


_MARLIN_ONLY = ((MARLIN,), "Marlin (no native FP4 path for this GPU)")
_TK_OPTIONAL = "triton_kernels is optional (not a vLLM dependency before 0.12): Marlin without it, Triton with it"

# Read from the wheels: 0.10.1.1 (_should_use_marlin, torch==2.7.1 pinned, flashinfer an extra), 0.10.2 and
# 0.11.0 (get_mxfp4_backend, torch==2.8.0, flashinfer an extra), 0.11.1/0.11.2 (flashinfer-python a
# dependency, torch 2.9), 0.12 (triton_kernels vendored; Triton only for (9, 0) <= capability < (11, 0)),
# 0.13 (is_device_capability_family(100)), 0.14-0.18 (same choice), 0.19-0.34 (select_mxfp4_moe_backend:
# TRT-LLM BF16 on the SM100 family, Triton on SM90, Marlin on the rest; 0.32+ moves Triton behind Marlin on
# SM11x/SM12x, whose Triton window (< (13, 0)) now includes them).
BACKEND_TABLE: tuple[BackendRow, ...] = tuple(
    _rows((0, 10, 1), (0, 10, 2), {
        "sm8x": _MARLIN_ONLY,
        "sm90": ((MARLIN,), "Marlin: torch 2.7.1 (pinned by 0.10.1) is below the Triton path's 2.8.0"),
        "sm100": ((TRTLLM, TRITON_BLACKWELL),
                  "FlashInfer TRT-LLM with the optional flashinfer (without it the Triton path needs the optional "
                  "triton_kernels, else the start-up fails)"),
        "sm10x": ((MARLIN,), "Marlin: torch 2.7.1 is below the Triton path's 2.8.0"),
        "sm11x": ((MARLIN,), "Marlin: torch 2.7.1 is below the Triton path's 2.8.0"),
        "sm12x": ((MARLIN,), "Marlin: torch 2.7.1 is below the Triton path's 2.8.0"),
    })
    + _rows((0, 10, 2), (0, 11, 1), {
        "sm8x": _MARLIN_ONLY,
        "sm90": ((MARLIN, TRITON_STRIDED), _TK_OPTIONAL + " (StridedLayout: torch 2.8.0 < 2.8.1)"),
        "sm100": ((MARLIN, TRTLLM, TRITON_BLACKWELL),
                  "FlashInfer TRT-LLM with the optional flashinfer, else " + _TK_OPTIONAL),
        "sm10x": ((MARLIN, TRITON_BLACKWELL), _TK_OPTIONAL),
        "sm11x": ((MARLIN, TRITON_BLACKWELL), _TK_OPTIONAL),
        "sm12x": ((MARLIN, TRITON_BLACKWELL), _TK_OPTIONAL),
    })
    + _rows((0, 11, 1), (0, 12, 0), {
        "sm8x": _MARLIN_ONLY,
        "sm90": ((MARLIN, TRITON_HOPPER), _TK_OPTIONAL + " (Hopper layouts: torch 2.9)"),
        "sm100": ((TRTLLM,), "FlashInfer TRT-LLM BF16 (flashinfer-python a dependency from 0.11.1)"),
        "sm10x": ((MARLIN, TRITON_BLACKWELL), _TK_OPTIONAL),
        "sm11x": ((MARLIN, TRITON_BLACKWELL), _TK_OPTIONAL),
        "sm12x": ((MARLIN, TRITON_BLACKWELL), _TK_OPTIONAL),
    })
    + _rows((0, 12, 0), (0, 13, 0), {
        "sm8x": _MARLIN_ONLY,
        "sm90": ((TRITON_HOPPER,), "Triton (vendored triton_kernels)"),
        "sm100": ((TRTLLM,), "FlashInfer TRT-LLM BF16"),
        "sm10x": ((TRITON_BLACKWELL,), "Triton: 0.12 checks is_device_capability(100) exactly"),
        "sm11x": _MARLIN_ONLY,
        "sm12x": _MARLIN_ONLY,
    })
    + _rows((0, 13, 0), (0, 17, 0), {
        "sm8x": _MARLIN_ONLY,
        "sm90": ((TRITON_HOPPER,), "Triton (vendored triton_kernels)"),
        "sm100": ((TRTLLM,), "FlashInfer TRT-LLM BF16"),
        "sm10x": ((TRTLLM,), "FlashInfer TRT-LLM BF16 (SM100 family)"),
        "sm11x": _MARLIN_ONLY,
        "sm12x": _MARLIN_ONLY,
    })
    + _rows((0, 17, 0), (0, 22, 0), {
        "sm8x": _MARLIN_ONLY,
        "sm90": ((TRITON_HOPPER_PAD64,), "Triton (the triton_kernels vendored in 0.17-0.21 pads values to 64)"),
        "sm100": ((TRTLLM,), "FlashInfer TRT-LLM BF16"),
        "sm10x": ((TRTLLM,), "FlashInfer TRT-LLM BF16 (SM100 family)"),
        "sm11x": _MARLIN_ONLY,
        "sm12x": _MARLIN_ONLY,
    })
    + _rows((0, 22, 0), (0, 26, 0), {
        "sm8x": _MARLIN_ONLY,
        "sm90": ((TRITON_HOPPER,), "Triton (vendored triton_kernels)"),
        "sm100": ((TRTLLM,), "FlashInfer TRT-LLM BF16"),
        "sm10x": ((TRTLLM,), "FlashInfer TRT-LLM BF16 (SM100 family)"),
        "sm11x": _MARLIN_ONLY,
        "sm12x": _MARLIN_ONLY,
    })
    + _rows((0, 26, 0), (0, 27, 0), {
        "sm8x": _MARLIN_ONLY,
        "sm90": ((TRITON_HOPPER_K4,), "Triton (scale columns padded to 4 on SM90)"),
        "sm100": ((TRTLLM,), "FlashInfer TRT-LLM BF16"),
        "sm10x": ((TRTLLM,), "FlashInfer TRT-LLM BF16 (SM100 family)"),
        "sm11x": _MARLIN_ONLY,
        "sm12x": _MARLIN_ONLY,
    })
    + _rows((0, 27, 0), (0, 34, 0), {
        "sm8x": _MARLIN_ONLY,
        "sm90": ((TRITON_HOPPER_K4,), "Triton (scale columns padded to 4 on SM90)"),
        "sm100": ((TRTLLM_I128,), "FlashInfer TRT-LLM BF16 (intermediate to 128 from 0.27)"),
        "sm10x": ((TRTLLM_I128,), "FlashInfer TRT-LLM BF16 (SM100 family)"),
        "sm11x": _MARLIN_ONLY,
        "sm12x": _MARLIN_ONLY,
    })
    + _rows((0, 34, 0), (99, 0, 0), {
        "sm8x": _MARLIN_ONLY,
        "sm90": ((TRITON_HOPPER_K4_SHARED,), "Triton (0.34 stores the swizzled scales in the parameters)"),
        "sm100": ((TRTLLM_I128,), "FlashInfer TRT-LLM BF16"),
        "sm10x": ((TRTLLM_I128,), "FlashInfer TRT-LLM BF16 (SM100 family)"),
        "sm11x": _MARLIN_ONLY,
        "sm12x": _MARLIN_ONLY,
    })
)


def gpu_family(compute_capability: tuple[int, int] | None) -> GpuFamily | None:
    """The family the backend choice keys on; None when the capability is unknown."""
    if compute_capability is None:
        return None
    major, minor = compute_capability
    if major < 9:
        return "sm8x"
    if major == 9:
        return "sm90"
    if major == 10:
        return "sm100" if minor == 0 else "sm10x"
    return "sm11x" if major == 11 else "sm12x"


def _row(version: tuple[int, int, int], family: GpuFamily) -> BackendRow:
    # Releases before 0.10.1 had no mxfp4 method; plan them as 0.10.1, the first that did.
    v = max(version, (0, 10, 1))
    return next(r for r in BACKEND_TABLE if r.first <= v < r.until and r.family == family)


def _lora_candidates(version: tuple[int, int, int], family: GpuFamily) -> tuple[Mxfp4MoeAllocation, ...] | None:
    """LoRA picks from the backends that support it (get_mxfp4_backend_with_lora, 0.11.1-0.18;
    select_mxfp4_moe_backend's LoRA branch, 0.19+): Marlin, or Triton where triton_kernels runs in 0.12-0.13
    (0.14+ needs VLLM_MXFP4_USE_MARLIN=0 for it). None: LoRA does not change the choice (before 0.11.1)."""
    if version < (0, 11, 1):
        return None
    if (0, 12, 0) <= version < (0, 14, 0):
        if family == "sm90":
            return (TRITON_HOPPER,)
        if family in ("sm100", "sm10x"):
            return (TRITON_BLACKWELL,)
    return (MARLIN,)


@dataclass(frozen=True, kw_only=True)
class Mxfp4MoeBuffers:
    """Bytes an MXFP4 MoE rank allocates beyond its checkpoint shard: a value and an error of half the spread."""

    value_bytes: int
    error_bytes: int
    backends: tuple[str, ...]
    why: str


def mxfp4_moe_buffers(*, version: tuple[int, int, int], compute_capability: tuple[int, int] | None,
                      num_experts: int, moe_layers: int, hidden_size: int, intermediate_size: int, tp: int = 1,
                      lora: bool = False) -> Mxfp4MoeBuffers:
    """The padding, float32 biases and swizzled copies over ``moe_layers`` MoE layers of ``num_experts``
    experts on one rank. With one candidate backend the figure is exact. Where an optional package decides,
    the value is a plain install's backend and the error reaches the farthest other candidate; with the GPU's
    compute capability unknown (every family's candidates), the midpoint and half the spread."""
    families = (gpu_family(compute_capability),) if compute_capability is not None else GPU_FAMILIES
    candidates: list[Mxfp4MoeAllocation] = []
    whys: list[str] = []
    for family in families:
        assert family is not None
        lora_pick = _lora_candidates(version, family) if lora else None
        row_candidates = lora_pick if lora_pick is not None else _row(version, family).candidates
        candidates += [c for c in row_candidates if c not in candidates]
        whys.append("LoRA: " + ", ".join(c.backend for c in row_candidates) if lora_pick is not None
                    else _row(version, family).why)
    inter = intermediate_size // tp
    base = checkpoint_expert_bytes(hidden_size, inter)
    extras = [max(0, c.expert_bytes(hidden_size, inter) - base) * num_experts * moe_layers for c in candidates]
    if compute_capability is None:
        low, high = min(extras), max(extras)
        value, error = (low + high) // 2, (high - low + 1) // 2
        why = "GPU compute capability unknown: any family's backend"
    else:
        value, error, why = extras[0], max(abs(e - extras[0]) for e in extras), whys[0]
    return Mxfp4MoeBuffers(value_bytes=value, error_bytes=error, backends=tuple(c.backend for c in candidates),
                           why=why)
