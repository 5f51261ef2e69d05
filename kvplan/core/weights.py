"""Weight bytes of a checkpoint, with the source of the figure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from kvplan.core.errors import UsageError, config_values_checked


@dataclass(frozen=True, kw_only=True)
class WeightsInfo:
    """Bytes of the stored checkpoint (all ranks together) and where the figure came from.

    ``source`` is one of: "safetensors headers", "safetensors index total_size",
    "hub safetensors metadata", "catalog", "counted from config" (an estimate, labelled so).
    ``bytes_by_dtype`` maps safetensors dtype names (``BF16``, ``F8_E4M3``, ``U8``...) to bytes, when known.
    """

    total_bytes: int
    source: str
    exact: bool = True
    param_count: int | None = None
    bytes_by_dtype: dict[str, int] = field(default_factory=dict, hash=False, compare=False)
    # From tensor names, when the source had them (None otherwise): bytes of tensors named as MTP modules
    # (``mtp.*``, ``model.mtp.*``, ``model.mtp_layers.*``) and bytes per decoder layer index (``layers.N.``).
    mtp_named_bytes: int | None = None
    bytes_by_layer: dict[int, int] = field(default_factory=dict, hash=False, compare=False)


@config_values_checked
def with_quantization_flag(weights: WeightsInfo, config: Mapping[str, Any], flag: str | None,
                           checkpoint_method: str | None) -> WeightsInfo:
    """The weights vLLM holds after ``--quantization FLAG`` (``ModelConfig._verify_quantization``).

    A flag naming the checkpoint's own method changes nothing. ``fp8`` on an unquantized checkpoint quantizes
    the linear layers online (``params.online_fp8_saving_bytes``); ``fp8`` on a checkpoint quantized another
    way is refused by vLLM ("Quantization method specified in the model config ... does not match"). Other
    flags are passed through unmodelled."""
    if not flag or flag == checkpoint_method:
        return weights
    if flag == "fp8" and checkpoint_method:
        raise UsageError(f"--quantization fp8 does not match the checkpoint's quantization ({checkpoint_method}): "
                         "vLLM refuses that at start-up", hint="Leave --quantization out for a quantized checkpoint")
    if flag != "fp8":
        return weights
    from kvplan.core.errors import KvplanError
    from kvplan.core.params import online_fp8_saving_bytes, without_mtp_layers

    try:
        saving = online_fp8_saving_bytes(without_mtp_layers(config))
    except KvplanError:  # no parameter formula for the family: the linear layers cannot be told apart
        return replace(weights, source=f"{weights.source}; --quantization fp8 not modelled for this family")
    return replace(weights, total_bytes=weights.total_bytes - saving, exact=False,
                   source=f"{weights.source}, linear layers to fp8 online (--quantization fp8: "
                          f"-{saving / 2**30:.2f} GiB)")


@config_values_checked
def without_skipped_layers(weights: WeightsInfo, config: Mapping[str, Any],
                           hf_quant_config: Mapping[str, Any] | None = None) -> WeightsInfo:
    """The checkpoint less what vLLM does not load into the main model: its MTP modules (no MTP speculation
    asked for; the caller keeps them otherwise).

    vLLM's main models skip ``mtp.*`` weights (Qwen3-Next / Qwen3.5 / Nemotron-H ``WeightsMapper``: "mtp." ->
    None) and, with ``num_nextn_predict_layers = n``, the layers ``num_hidden_layers ... + n - 1``
    (``get_spec_layer_idx_from_weight_name``: DeepSeek, GLM-4.5+, Step, ...). With tensor names (safetensors
    headers, Hub metadata) the skipped bytes are exact; without (an index ``total_size``, the catalog, a
    config count) the DeepSeek-family layers are counted from the config (``params.mtp_layer_bytes``)."""
    from kvplan.core.params import mtp_layer_bytes, mtp_layer_indices

    if weights.mtp_named_bytes is not None:
        skipped = weights.mtp_named_bytes + sum(weights.bytes_by_layer.get(i, 0) for i in mtp_layer_indices(config))
        how = "MTP weights vLLM does not load, by tensor name"
    else:
        skipped = mtp_layer_bytes(config, hf_quant_config=hf_quant_config)
        how = "MTP layers vLLM does not load"
    if not skipped or skipped >= weights.total_bytes:
        return weights
    return replace(weights, total_bytes=weights.total_bytes - skipped,
                   source=f"{weights.source} - {how} ({skipped / 2**30:.2f} GiB)")


_FLOAT_WIDTHS = {"F32": 4, "BF16": 2, "F16": 2}
_DTYPE_WIDTHS = {"float32": 4, "bfloat16": 2, "float16": 2}


def _stored_width(weights: WeightsInfo, checkpoint_dtype: str | None) -> int | None:
    """Bytes per parameter as stored: bytes over parameters where both are known (configs often say float32 for
    bf16 files), else the config's dtype."""
    if weights.param_count:
        width = round(weights.total_bytes / weights.param_count)
        return width if width in (2, 4) else None
    return _DTYPE_WIDTHS.get(checkpoint_dtype or "")


def cast_to_served_dtype(weights: WeightsInfo, checkpoint_dtype: str | None, served_dtype: str,
                         quantized: bool) -> WeightsInfo:
    """vLLM loads floating-point weights in the dtype it serves (``--dtype``, or the pre-Ampere float32 of
    gemma2/3): a bf16 checkpoint served in float32 takes twice its bytes. Quantized tensors keep theirs."""
    served = _DTYPE_WIDTHS.get(served_dtype)
    if served is None:
        return weights
    if weights.bytes_by_dtype:
        # A quantized checkpoint's F32 tensors are its scales, which vLLM keeps in float32.
        floats = {k: v for k, v in weights.bytes_by_dtype.items()
                  if k in _FLOAT_WIDTHS and not (quantized and k == "F32")}
        cast = sum(v * served // _FLOAT_WIDTHS[k] for k, v in floats.items())
        total = weights.total_bytes - sum(floats.values()) + cast
    elif not quantized and (stored := _stored_width(weights, checkpoint_dtype)):
        total = weights.total_bytes * served // stored
    else:
        return weights
    if total == weights.total_bytes:
        return weights
    return replace(weights, total_bytes=total, source=f"{weights.source}, cast to {served_dtype}", bytes_by_dtype={})
