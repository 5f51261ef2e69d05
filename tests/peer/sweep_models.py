"""Write the sweep's tiny configs with the transformers vLLM reads them with (run in vLLM's interpreter).

    /venv-vllm/bin/python -m tests.peer.sweep_models OUT_DIR [CASE ...]

One ``OUT_DIR/<case>/config.json`` per case; prints one JSON line: {case: error text} for the configs that
transformers' class refused to build (those cases are then reported, not run).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tests.peer.sweep_cases import CASES, CASES_BY_NAME, SweepCase


def config_dict(case: SweepCase) -> dict[str, Any]:
    kwargs = case.config_kwargs()
    if case.config_class is None:
        return kwargs
    if case.config_class.startswith("vllm:"):  # a config class vLLM carries itself (no transformers class)
        from vllm.transformers_utils import configs

        cls = getattr(configs, case.config_class.removeprefix("vllm:"))
    else:
        import transformers

        cls = getattr(transformers, case.config_class)
    config = cls(**kwargs)
    data: dict[str, Any] = json.loads(config.to_json_string(use_diff=False))
    for key in case.drop_keys:
        data.pop(key, None)
    data.update(case.patch)
    return data


def write_configs(root: Path, cases: list[SweepCase]) -> dict[str, str]:
    errors: dict[str, str] = {}
    for case in cases:
        try:
            data = config_dict(case)
        except Exception as exc:  # a class that refuses the tiny config: reported per case
            errors[case.name] = f"{type(exc).__name__}: {exc}"
            continue
        out = root / case.name
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return errors


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    selected = [CASES_BY_NAME[n] for n in sys.argv[2:]] or list(CASES)
    print(json.dumps(write_configs(Path(sys.argv[1]), selected)))
