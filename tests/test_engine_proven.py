"""kvplan/data/engine_proven.json and engine_errors.json: written by the registry sweep, read by ``models --coverage``.

They are data from a real engine run (``python -m tests.peer.sweep OUT.json --write-proven``); this checks their
shape and that each names a case of the sweep with its architecture, without vLLM.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.peer.sweep_cases import CASES_BY_NAME

DATA = Path(__file__).resolve().parents[1] / "kvplan" / "data"


PEER = "tests/peer/cases.py::"  # entries proven by a peer case (tests/test_peer_vllm.py), not by the sweep


def test_engine_proven_entries_name_sweep_cases() -> None:
    from tests.peer.cases import CASES as PEER_CASES

    proven = json.loads((DATA / "engine_proven.json").read_text())
    assert proven, "the sweep proved nothing?"
    peer_names = {case.name for case in PEER_CASES}
    for entry in proven:
        if entry["case"].startswith(PEER):
            assert entry["case"].removeprefix(PEER) in peer_names and entry["vllm_version"] == "0.32.0"
    seen: set[str] = set()
    for entry in (e for e in proven if not e["case"].startswith(PEER)):
        assert {"architecture", "model_type", "vllm_version", "case", "tokens", "num_blocks"} <= entry.keys()
        case = CASES_BY_NAME[entry["case"]]
        assert entry["architecture"] == case.architecture
        assert entry["vllm_version"] == "0.32.0"
        assert isinstance(entry["tokens"], int) and entry["tokens"] > 0
        assert isinstance(entry["num_blocks"], int) and entry["num_blocks"] > 0
        # Never a whole number of blocks (a pure SSM's block is the whole max_model_len: one state a request).
        assert entry["block_size"] == entry["max_model_len"] or entry["max_model_len"] % entry["block_size"] != 0
        assert entry["case"] not in seen
        seen.add(entry["case"])


def test_engine_errors_keep_vllms_words() -> None:
    errors = json.loads((DATA / "engine_errors.json").read_text())
    by_case = {e["case"]: e for e in errors}
    for entry in errors:
        assert entry["architecture"] == CASES_BY_NAME[entry["case"]].architecture
        assert entry["engine_error"] and entry["engine_error"] != "None"
    proven = {e["case"] for e in json.loads((DATA / "engine_proven.json").read_text())}  # peer cases never clash
    assert not proven & by_case.keys()
    # The example: the CPU build has no sparse-attention backend.
    assert by_case["deepseek_v32"]["engine_error"] == "Sparse Attention is not supported on CPU."
