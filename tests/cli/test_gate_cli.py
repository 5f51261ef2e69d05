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
vllm_version = "0.33.0"

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
                                                         "mamba_ssm_cache_dtype": "float32",
                                                         "vllm_version": "0.33.0"},
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


def test_values_of_the_wrong_type_are_errors_never_coerced(tmp_path: Path) -> None:
    """bool("false") is True and int(1.7) is 1: a manifest value of the wrong type is that deployment's error."""
    base = {"model": "meta-llama/Llama-3.1-8B-Instruct", "max_model_len": 8192, "kv_cache_memory": "4GiB"}
    bad = {
        "gpu-number": {"gpu": 5}, "gpu-list": {"gpu": ["h100"]}, "util-text": {"gpu_memory_utilization": "0.9"},
        "util-bool": {"gpu_memory_utilization": True}, "tp-text": {"tensor_parallel_size": "two"},
        "tp-float": {"tensor_parallel_size": 1.7}, "tp-bool": {"tensor_parallel_size": True},
        "seqs-float": {"max_num_seqs": 2.5}, "block-float": {"block_size": 16.5},
        "version-number": {"vllm_version": 0.33}, "quant-list": {"quantization": ["fp8"]},
        "warn-text": {"fail_on_warn": "false"}, "concurrency-bool": {"min_concurrency": True},
        "concurrency-nan": {"min_concurrency": float("nan")}, "concurrency-inf": {"min_concurrency": float("inf")},
    }
    entries = [{"name": "good", **base}, *({"name": name, **base, **extra} for name, extra in bad.items())]
    manifest = _write(tmp_path, json.dumps({"deployment": entries}), "deploy.json")
    code, data = _gate_by_name(manifest)
    assert code == 2
    assert data["good"]["status"] == "pass"
    for name in bad:
        assert data[name]["status"] == "error", name
    assert data["tp-float"]["error"] == "tensor_parallel_size must be a whole number, got 1.7"
    assert "write the release as text" in data["version-number"]["error"]
    # null is "not set", as in JSON generally
    manifest = _write(tmp_path, json.dumps({"deployment": [{**base, "tensor_parallel_size": None}]}), "null.json")
    assert runner.invoke(app, ["gate", str(manifest)]).exit_code == 0


def test_manifest_shape_errors_are_one_line(tmp_path: Path) -> None:
    entry = '{"model": "meta-llama/Llama-3.1-8B-Instruct", "kv_cache_memory": "4GiB"}'
    cases = {
        "dupkey.json": ('{"deployment": [{"model": "x", "gpu": "h1000", "gpu": "h100"}]}', "duplicate key 'gpu'"),
        "typo.json": (f'{{"default": {{"min_concurrency": 1000}}, "deployment": [{entry}]}}',
                      "unknown top-level key(s) default"),
        "both.json": (f'{{"deployment": [{entry}], "deployments": [{entry}]}}', "both 'deployment' and"),
        "twice.json": ('{"deployment": [{"name": "a", "model": "m"}, {"name": "a", "model": "m"}]}',
                       "two deployments are named 'a'"),
        "deploy.yaml": ("deployment: []", "needs a non-empty 'deployment' list"),  # YAML is read (issue 18)
    }
    for name, (text, expect) in cases.items():
        result = runner.invoke(app, ["gate", str(_write(tmp_path, text, name))])
        assert result.exit_code == 2 and expect in result.stderr, (name, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00\x01garbage")
    result = runner.invoke(app, ["gate", str(binary)])
    assert result.exit_code == 2 and "not a text file" in result.stderr
    # No suffix: JSON or TOML, whichever it is
    plain = _write(tmp_path, "[[deployment]]\nmodel = \"meta-llama/Llama-3.1-8B-Instruct\"\nkv_cache_memory = "
                             "\"4GiB\"\nmax_model_len = 8192\n", "deploy")
    assert runner.invoke(app, ["gate", str(plain)]).exit_code == 0


def test_reports_never_overwrite_what_is_not_theirs(tmp_path: Path) -> None:
    manifest = _write(tmp_path, MANIFEST)
    original = manifest.read_text()
    for args, expect in ((["--junit", str(manifest)], "is a manifest"),
                         (["--markdown", str(manifest)], "is a manifest"),
                         (["--junit", str(tmp_path)], "is a directory"),
                         (["--junit", str(tmp_path / "no" / "x.xml")], "does not exist"),
                         (["--junit", ""], "give a file name"),
                         (["--junit", str(tmp_path / "r"), "--markdown", str(tmp_path / "r")],
                          "is the --junit report")):
        result = runner.invoke(app, ["gate", str(manifest), *args])
        assert result.exit_code == 2 and expect in result.stderr, (args, result.stderr)
    assert manifest.read_text() == original
    notes = tmp_path / "notes.md"
    notes.write_text("my notes\n")
    result = runner.invoke(app, ["gate", str(manifest), "--markdown", str(notes)])
    assert result.exit_code == 2 and "is not a kvplan gate report" in result.stderr
    assert notes.read_text() == "my notes\n"
    # An earlier report (a CI rerun) and an empty file are replaced.
    junit, md = tmp_path / "junit.xml", tmp_path / "report.md"
    md.touch()
    for _ in range(2):
        assert runner.invoke(app, ["gate", str(manifest), "--junit", str(junit), "--markdown", str(md)]).exit_code == 1
    assert ET.parse(junit).getroot().get("tests") == "3" and md.read_text().startswith("| deployment | gate |")


def test_reports_escape_what_would_break_them(tmp_path: Path) -> None:
    manifest = _write(tmp_path, json.dumps({"deployment": [
        {"name": "a|b\nc\u0001d", "model": "meta-llama/Llama-3.1-8B-Instruct", "max_model_len": 8192,
         "kv_cache_memory": "4GiB"}]}), "deploy.json")
    junit, md = tmp_path / "junit.xml", tmp_path / "report.md"
    assert runner.invoke(app, ["gate", str(manifest), "--junit", str(junit), "--markdown", str(md)]).exit_code == 0
    case = ET.parse(junit).getroot().find("testcase")
    assert case is not None and case.get("name") == "a|b\ncd" and case.get("classname") == "kvplan.gate.deploy"
    row = md.read_text().splitlines()[2]
    assert row.startswith("| a\\|b c\u0001d | ✅ pass |")


def test_a_hub_token_written_in_a_deploy_file_never_reaches_a_report(tmp_path: Path) -> None:
    """`vllm serve $HF_TOKEN` (the variables swapped) made the model-not-found error quote the token in the table,
    --json, --junit, --markdown and the ::error annotation; the Hub token's shape is masked there now."""
    token = "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYz01234567"
    script = tmp_path / "serve.sh"
    script.write_text(f"HF_TOKEN={token}\nvllm serve $HF_TOKEN --max-model-len 8192\n"
                      f"vllm serve Qwen/Qwen2.5-7B-Instruct --hf-token {token} --max-model-len {{{{ .Values.len }}}}\n")
    outputs = []
    for extra in (["--json"], ["--github"], ["--junit", str(tmp_path / "r.xml"), "--markdown", str(tmp_path / "r.md")]):
        result = runner.invoke(app, ["gate", str(script), "--gpu", "h100", *extra], env={"HF_HUB_OFFLINE": "1"})
        assert result.exit_code == 2, result.output
        outputs.append(result.output)
    outputs += [(tmp_path / "r.xml").read_text(), (tmp_path / "r.md").read_text()]
    assert all(token not in text for text in outputs)
    assert "hf_***" in outputs[0]
