"""Weight bytes of a checkpoint, with the source of the figure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from kvplan.core.errors import UsageError


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


def without_skipped_layers(weights: WeightsInfo, config: Mapping[str, Any],
                           hf_quant_config: Mapping[str, Any] | None = None) -> WeightsInfo:
    """The checkpoint less what vLLM does not load into the main model: the MTP layers of DeepSeek-family
    checkpoints (``params.mtp_layer_bytes``; no MTP speculation is modelled, so they are always skipped)."""
    from kvplan.core.params import mtp_layer_bytes

    skipped = mtp_layer_bytes(config, hf_quant_config=hf_quant_config)
    if not skipped or skipped >= weights.total_bytes:
        return weights
    return replace(weights, total_bytes=weights.total_bytes - skipped,
                   source=f"{weights.source} - MTP layers vLLM does not load ({skipped / 2**30:.2f} GiB)")
