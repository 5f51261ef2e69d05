"""A read-only view of one config level, with its transformers class defaults: keys may be spelled many ways."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kvplan.core.config_defaults import CONFIG_DEFAULTS
from kvplan.core.errors import ConfigError

DTYPE_NAMES = {
    "float32": "float32", "float": "float32", "fp32": "float32",
    "float16": "float16", "half": "float16", "fp16": "float16",
    "bfloat16": "bfloat16", "bf16": "bfloat16",
}


class ConfigView:
    """Read-only view of one config level with its class defaults; keys may be spelled many ways."""

    def __init__(self, data: Mapping[str, Any], model_type: str) -> None:
        self.data = data
        self.model_type = model_type
        self.defaults = CONFIG_DEFAULTS.get(model_type, {})

    def get(self, *names: str, default: Any = None) -> Any:
        for name in names:
            value = self.data.get(name)
            if value is not None:
                return value
        for name in names:
            if name in self.defaults:
                return self.defaults[name]
        return default

    def int_(self, *names: str, default: int | None = None) -> int:
        value = self.get(*names, default=default)
        if value is None:
            raise ConfigError(f"config has no {names[0]} (also looked for: {', '.join(names[1:]) or '-'})")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
            raise ConfigError(f"config field {names[0]} must be a whole number, got {value!r}")
        if value < 0:
            raise ConfigError(f"config field {names[0]} must not be negative, got {value}")
        return int(value)
