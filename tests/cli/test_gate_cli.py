"""`kvplan gate`: manifests in, one exit code and reports out (JSON, JUnit, Markdown)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from typer.testing import CliRunner

from kvplan.cli.app import app

runner = CliRunner()

MANIFEST = """
[defaults]
kv_cache_memory = "4GiB"

[[deployment]]
name = "fits"
model = "meta-llama/Llama-3.1-8B-Instruct"
max_model_len = 16384

[[deployment]]
name = "too-long"
model = "meta-llama/Llama-3.1-8B-Instruct"
max_model_len = 65536

[[deployment]]
name = "busy"
model = "meta-llama/Llama-3.1-8B-Instruct"
max_model_len = 16384
min_concurrency = 3
"""


def _write(tmp_path: Path, text: str, name: str = "deploy.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _gate_by_name(manifest: Path) -> tuple[int, dict[str, dict[str, Any]]]:
    """Run ``kvplan gate MANIFEST --json``: its exit code and the deployments' results by name."""
    result = runner.invoke(app, ["gate", str(manifest), "--json"])
    return result.exit_code, {d["name"]: d for d in json.loads(result.stdout)["deployments"]}


def test_gate_reports_each_deployment_and_fails_once(tmp_path: Path) -> None:
    manifest = _write(tmp_path, MANIFEST)
    junit, md = tmp_path / "junit.xml", tmp_path / "report.md"
    result = runner.invoke(app, ["gate", str(manifest), "--json", "--junit", str(junit), "--markdown", str(md)])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    status = {d["name"]: d["status"] for d in data["deployments"]}
    # 4 GiB of Llama-8B KV: 2,048 blocks; 16K needs 1,024 per request -> 2.00x; 64K needs 4,096 -> no start
    assert status == {"fits": "pass", "too-long": "fail", "busy": "fail"}
    busy = next(d for d in data["deployments"] if d["name"] == "busy")
    assert "below the required 3" in busy["reasons"][0]
    too_long = next(d for d in data["deployments"] if d["name"] == "too-long")
    assert "estimated maximum model length is 32752" in too_long["vllm_errors"][0]
    suite = ET.parse(junit).getroot()
    assert suite.get("tests") == "3" and suite.get("failures") == "2"
    assert "| fits | ✅ pass |" in md.read_text()


def test_all_pass_exits_0(tmp_path: Path) -> None:
    manifest = _write(tmp_path, json.dumps({"deployment": [
        {"model": "meta-llama/Llama-3.1-8B-Instruct", "max_model_len": 8192, "kv_cache_memory": "4GiB"}]}),
        "deploy.json")
    assert runner.invoke(app, ["gate", str(manifest)]).exit_code == 0


def test_unusable_deployment_is_exit_2_not_1(tmp_path: Path) -> None:
    manifest = _write(tmp_path, MANIFEST + '\n[[deployment]]\nmodel = "no/such-model"\nkv_cache_memory = "1GiB"\n')
    result = runner.invoke(app, ["gate", str(manifest), "--json"])
    assert result.exit_code == 2
    assert json.loads(result.stdout)["errors"] == 1


def test_bad_manifests_are_one_line_errors(tmp_path: Path) -> None:
    for text, expect in (("not = [toml", "not valid TOML"), ("[defaults]\n", "deployment"),
                         ('[[deployment]]\nmodel = "x"\ncolour = 1\n', "unknown key")):
        result = runner.invoke(app, ["gate", str(_write(tmp_path, text))])
        assert result.exit_code == 2 and expect in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    missing = runner.invoke(app, ["gate", str(tmp_path / "absent.toml")])
    assert missing.exit_code == 2 and "cannot read manifest" in missing.stderr


def test_gate_takes_the_hybrid_flags(tmp_path: Path) -> None:
    """Nemotron-3-Nano (FP8 KV) with 150 blocks: 256 sequences fail under vLLM 0.19+, 150 pass."""
    memory = 150 * 6 * 4176 * 512
    manifest = _write(tmp_path, json.dumps({"defaults": {"model": "nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-NVFP4",
                                                         "max_model_len": 4096, "kv_cache_memory": str(memory),
                                                         "mamba_ssm_cache_dtype": "float32"},
                                            "deployment": [{"name": "many", "max_num_seqs": 256},
                                                           {"name": "enough", "max_num_seqs": 150}]}), "deploy.json")
    code, data = _gate_by_name(manifest)
    assert code == 1
    assert {name: d["status"] for name, d in data.items()} == {"many": "fail", "enough": "pass"}


def test_gate_takes_a_speculative_config_table(tmp_path: Path) -> None:
    """MTP on DeepSeek-R1 adds its latent layer: 62 layers' blocks in the same KV memory, fewer tokens."""
    manifest = _write(tmp_path, """
[defaults]
model = "deepseek-ai/DeepSeek-R1"
max_model_len = 8192
kv_cache_memory = "10GiB"
min_concurrency = 1

[[deployment]]
name = "plain"

[[deployment]]
name = "mtp"
speculative_config = { method = "mtp", num_speculative_tokens = 1 }

[[deployment]]
name = "broken"
speculative_config = '{"method": "mtp"}'
""")
    code, data = _gate_by_name(manifest)
    assert data["plain"]["status"] == "pass" and data["mtp"]["status"] == "pass"
    assert data["broken"]["status"] == "error" and "num_speculative_tokens" in data["broken"]["error"]
    assert code == 2


def test_gate_takes_vllm_use_v1(tmp_path: Path) -> None:
    """VLLM_USE_V1 as a deployment sets it: 0 plans V0 on 0.9.2; on 0.33 (no V0) the deployment is an error."""
    manifest = _write(tmp_path, """
[defaults]
model = "meta-llama/Llama-3.1-8B"
max_model_len = 8192
kv_cache_memory = "10GiB"

[[deployment]]
name = "v0"
vllm_version = "0.9.2"
vllm_use_v1 = 0

[[deployment]]
name = "gone"
vllm_use_v1 = false
""")
    code, data = _gate_by_name(manifest)
    assert data["v0"]["status"] == "pass"
    assert data["gone"]["status"] == "error" and "no V0 engine" in data["gone"]["error"]
    assert code == 2


def test_gate_takes_prefix_caching_and_refuses_a_string(tmp_path: Path) -> None:
    """Nemotron-Nano-9B-v2 on vLLM 0.33: prefix caching off gives each Mamba group 1 block a request, not 3."""
    manifest = _write(tmp_path, json.dumps({"defaults": {"model": "nvidia/NVIDIA-Nemotron-Nano-9B-v2",
                                                         "max_model_len": 8192, "kv_cache_memory": "8GiB"},
                                            "deployment": [{"name": "default"},
                                                           {"name": "off", "enable_prefix_caching": False},
                                                           {"name": "typo", "enable_prefix_caching": "false"}]}),
                      "deploy.json")
    code, data = _gate_by_name(manifest)
    assert code == 2
    assert data["typo"]["status"] == "error"
    assert "enable_prefix_caching must be true or false" in data["typo"]["error"]
    assert data["off"]["kv_cache_tokens"] > data["default"]["kv_cache_tokens"]
