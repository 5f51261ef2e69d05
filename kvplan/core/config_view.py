"""A read-only view of one config level, with its transformers class defaults: keys may be spelled many ways."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from kvplan.core.config_defaults import CONFIG_DEFAULTS
from kvplan.core.errors import ConfigError

DTYPE_NAMES = {
    "float32": "float32", "float": "float32", "fp32": "float32",
    "float16": "float16", "half": "float16", "fp16": "float16",
    "bfloat16": "bfloat16", "bf16": "bfloat16",
}


class _ReadRecorder(Mapping[str, Any]):
    """The config level, remembering every key looked up: kvplan refuses state keys its layout never read."""

    def __init__(self, data: Mapping[str, Any], read: set[str]) -> None:
        self._data = data
        self._read = read

    def __getitem__(self, key: str) -> Any:
        self._read.add(key)
        return self._data[key]

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self._read.add(key)
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


class ConfigView:
    """Read-only view of one config level with its class defaults; keys may be spelled many ways."""

    def __init__(self, data: Mapping[str, Any], model_type: str) -> None:
        self.read: set[str] = set()  # every key a layout looked up (kvplan.core.state_keys)
        self._raw = data
        self.data: Mapping[str, Any] = _ReadRecorder(data, self.read)
        self.model_type = model_type
        self.defaults = CONFIG_DEFAULTS.get(model_type, {})

    def get(self, *names: str, default: Any = None) -> Any:
        self.read.update(names)
        for name in names:
            value = self.data.get(name)
            if value is not None:
                return value
        for name in names:
            # a key the config holds as null stays null, as in transformers (DeepSeek-V2-Lite's q_lora_rank)
            if name in self.defaults and name not in self._raw:
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
