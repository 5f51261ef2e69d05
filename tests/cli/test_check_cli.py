"""`kvplan check` through Typer's runner: exit codes, one-line errors, JSON contract."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kvplan.cli.app import app
from tests.conftest import CATALOG_SOURCES, load_config

runner = CliRunner()
QWEN_RELEASE = "0.23.0"  # QWenLMHeadModel is registered in vLLM 0.5.4 to 0.23.0 (kvplan.core.vllm_registry)


@pytest.fixture()
def qwen_dir(tmp_path: Path) -> Path:
    target = tmp_path / "qwen-7b-chat"
    target.mkdir()
    shutil.copy(CATALOG_SOURCES / "Qwen__Qwen-7B-Chat" / "config.json", target / "config.json")
    return target


def _run(*args: str) -> tuple[int, str, str]:
    # The figures here were read in vLLM 0.33's code: pinned there (0.34, the default, has tests of its own).
    if args and args[0] in ("check", "recommend", "inspect") and "--vllm-version" not in args:
        args = (*args, "--vllm-version", "0.33.0")
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_classic_failure_json(qwen_dir: Path) -> None:
    code, out, _ = _run("check", str(qwen_dir), "--max-model-len", "8192", "--kv-cache-memory", "2264MiB",
                        "--block-size", "16", "--vllm-version", QWEN_RELEASE, "--json")
    assert code == 1
    data = json.loads(out)
    assert data["schema_version"] == 1
    assert data["kv_cache"]["max_model_len_fit"] == 4528
    assert data["kv_cache"]["num_blocks"] == 283
    assert data["verdict"]["status"] == "fail"
    assert "estimated maximum model length is 4528" in data["verdict"]["vllm_errors"][0]
    kinds = {r["kind"] for r in data["verdict"]["remedies"]}
    assert {"max_model_len", "kv_cache_memory", "kv_cache_dtype"} <= kinds
    flags = next(r["flags"] for r in data["verdict"]["remedies"] if r["kind"] == "max_model_len")
    assert flags == {"--max-model-len": "4528", "CONTEXT_LEN": "4528"}
    assert data["memory"]["free_check"] == "not checked"


def test_json_has_the_documented_keys(qwen_dir: Path) -> None:
    code, out, _ = _run("check", str(qwen_dir), "--gpu", "a10g", "--max-model-len", "4096", "--vllm-version",
                        QWEN_RELEASE, "--json")
    assert code == 0
    data = json.loads(out)
    for key in ("tokens", "num_blocks", "block_size", "max_concurrency", "max_model_len_fit"):
        assert key in data["kv_cache"]
    for key in ("total_bytes", "budget_bytes", "weights_bytes", "activation_bytes", "non_torch_bytes",
                "cudagraph_bytes", "kv_cache_bytes", "activation_error_bytes", "activation_source"):
        assert key in data["memory"]
    assert data["gpu"]["name"]
    assert data["verdict"]["status"] in ("ok", "warn")


def test_human_view_is_on_stdout(qwen_dir: Path) -> None:
    code, out, _ = _run("check", str(qwen_dir), "--max-model-len", "8192", "--kv-cache-memory", "2264MiB",
                        "--block-size", "16", "--vllm-version", QWEN_RELEASE)
    assert code == 1
    assert "FAIL" in out and "4,528" in out and "CONTEXT_LEN=4528" in out


@pytest.mark.parametrize("args", [
    ("--gpu-memory-utilization", "1.7", "--gpu-memory", "24GiB"),
    ("--gpu-memory-utilization", "0", "--gpu-memory", "24GiB"),
    ("--kv-cache-memory", "0"),
    ("--kv-cache-memory", "-5GiB"),
    ("--gpu-memory", "lots"),
    ("--gpu", "no-such-gpu"),
    ("--kv-cache-memory", "1GiB", "--max-model-len", "999999"),
    ("--kv-cache-memory", "1GiB", "--max-model-len", "0"),
    ("--kv-cache-memory", "1GiB", "-tp", "3"),
    ("--kv-cache-memory", "1GiB", "--kv-cache-dtype", "int3"),
    ("--kv-cache-memory", "1GiB", "--mamba-ssm-cache-dtype", "fp8"),
    ("--kv-cache-memory", "1GiB", "--vllm-use-v1", "yes"),
    ("--kv-cache-memory", "1GiB", "--vllm-use-v1", "0"),  # 0.33 has no V0 engine
    ("--kv-cache-memory", "1GiB", "--vllm-use-v1", "1", "--vllm-version", "0.6.6"),
    (),  # no GPU here, and no --gpu / --gpu-memory / --kv-cache-memory
])
def test_bad_flags_exit_2_with_one_line(qwen_dir: Path, args: tuple[str, ...]) -> None:
    code, out, err = _run("check", str(qwen_dir), *args)
    assert code == 2, (out, err)
    assert out == ""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("kvplan: error:"), err
    assert "Traceback" not in err


def test_no_gpu_message_names_the_flags(qwen_dir: Path) -> None:
    _, _, err = _run("check", str(qwen_dir))
    assert "--gpu" in err and "--gpu-memory" in err and "--kv-cache-memory" in err


@pytest.mark.parametrize(("content", "expect"), [
    ("{not json", "config.json"),
    ("[1, 2]", "config.json"),
    # a model type transformers has no class for: nothing fills the layer count in
    ('{"model_type": "custom_llama", "hidden_size": 256}', "num_hidden_layers"),
])
def test_bad_configs_exit_2(tmp_path: Path, content: str, expect: str) -> None:
    (tmp_path / "config.json").write_text(content)
    code, _, err = _run("check", str(tmp_path), "--kv-cache-memory", "1GiB")
    assert code == 2
    assert expect in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_missing_local_path_exit_2(tmp_path: Path) -> None:
    code, _, err = _run("check", str(tmp_path / "nope"), "--kv-cache-memory", "1GiB")
    assert code == 2 and "kvplan: error:" in err


def test_version_flag() -> None:
    code, out, _ = _run("--version")
    assert code == 0 and out.startswith("kvplan ")


def test_classic_failure_from_the_catalog_offline() -> None:
    code, out, err = _run("check", "Qwen/Qwen-7B-Chat", "--max-model-len", "8192", "--kv-cache-memory", "2264MiB",
                          "--block-size", "16", "--vllm-version", QWEN_RELEASE, "--json")
    assert code == 1
    data = json.loads(out)
    assert data["model"]["source"] == "catalog"
    assert data["model"]["max_position_tokens"] == 8192  # the v1.1 form
    assert data["kv_cache"]["max_model_len_fit"] == 4528
    assert "bundled catalog" in err  # the fallback is said, not silent


def test_unsupported_family_says_so(tmp_path: Path) -> None:
    config = {**load_config("deepseek-ai__DeepSeek-V4-Flash"), "architectures": ["DeepseekV41ForCausalLM"],
              "model_type": "deepseek_v41"}
    (tmp_path / "config.json").write_text(json.dumps(config))
    code, _, err = _run("check", str(tmp_path), "--kv-cache-memory", "10GiB")
    assert code == 2
    assert "cannot size DeepseekV41ForCausalLM" in err and "'deepseek_v41' layout" in err and "kvplan probe" in err


def test_deepseek_v4_is_sized() -> None:
    # TP 8: its weights (counted from the config, 18.25 GiB a GPU) leave room for 10 GiB of KV on each H100
    code, out, _ = _run("check", "deepseek-ai/DeepSeek-V4-Flash", "--kv-cache-memory", "10GiB", "--gpu", "H100",
                        "-tp", "8", "--max-model-len", "8192", "--json")
    assert code == 0
    assert json.loads(out)["kv_cache"]["bytes_per_block"] == 1_002_240


def test_encoder_only_model_holds_no_kv_cache(tmp_path: Path) -> None:
    config = {"architectures": ["BertModel"], "model_type": "bert", "hidden_size": 768, "num_attention_heads": 12,
              "num_hidden_layers": 12, "max_position_embeddings": 512, "vocab_size": 30522}
    (tmp_path / "config.json").write_text(json.dumps(config))
    code, out, err = _run("check", str(tmp_path), "--gpu", "l4", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["kv_cache"]["groups"] == [] and data["kv_cache"]["num_blocks"] == 1
    assert data["verdict"]["status"] == "ok"
    assert any("encoder-only" in note for note in data["notes"])


def test_mamba_blocks_refusal_offline() -> None:
    """Nemotron-3-Nano NVFP4 (FP8 KV from its hf_quant_config.json) with 150 blocks' worth of KV memory:
    vLLM 0.19+ refuses 256 sequences; the remedy names 150."""
    memory = str(150 * 6 * 4176 * 512)
    code, out, _ = _run("check", "nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-NVFP4", "--max-model-len", "4096",
                        "--max-num-seqs", "256", "--kv-cache-memory", memory, "--json")
    assert code == 1
    data = json.loads(out)
    assert data["kv_cache"]["num_blocks"] == 150
    assert data["verdict"]["vllm_errors"][0].startswith("max_num_seqs (256) exceeds available Mamba cache blocks (150)")
    assert data["verdict"]["remedies"][0]["flags"] == {"--max-num-seqs": "150"}
    code, out, _ = _run("check", "nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-NVFP4", "--max-model-len", "4096",
                        "--max-num-seqs", "256", "--kv-cache-memory", memory, "--enforce-eager", "--json")
    assert code == 0


def test_mamba_model_on_0_10_1_is_planned_on_v0() -> None:
    code, out, err = _run("check", "nvidia/NVIDIA-Nemotron-Nano-9B-v2", "--vllm-version", "0.10.1",
                          "--gpu-memory", "31.84GiB", "--max-model-len", "4096", "--max-num-seqs", "32", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["settings"]["engine"] == "v0"
    assert data["memory"]["mamba_cache_bytes"] == 27 * 32 * (3 * 12_288 * 2 + 128 * 80 * 128 * 2)
    assert data["memory"]["mamba_cache_error_bytes"] == 0
    assert data["kv_cache"]["block_size"] == 16
    assert any("V0 engine" in note for note in data["notes"])


def test_fp8_kv_on_an_l40s_with_0_10_1_is_planned_on_v0_and_vllm_use_v1_0_forces_it() -> None:
    base = ("check", "meta-llama/Llama-3.1-8B", "--gpu", "L40S", "--vllm-version", "0.10.1", "--max-model-len",
            "8192", "--json")
    code, out, err = _run(*base, "--kv-cache-dtype", "fp8")
    assert code == 0, err
    data = json.loads(out)
    assert data["settings"]["engine"] == "v0" and data["kv_cache"]["block_size"] == 16
    assert any("--kv-cache-dtype fp8 on this GPU" in note for note in data["notes"])
    code, out, err = _run(*base)
    assert code == 0, err
    assert json.loads(out)["settings"]["engine"] == "v1"
    code, out, err = _run(*base, "--vllm-use-v1", "0")
    assert code == 0, err
    assert json.loads(out)["settings"]["engine"] == "v0"


def test_quantization_fp8_halves_the_linear_layers() -> None:
    args = ("check", "meta-llama/Llama-3.1-8B", "--gpu-memory", "24GiB", "--max-model-len", "4096", "--json")
    _, plain, _ = _run(*args)
    code, fp8, err = _run(*args, "--quantization", "fp8")
    assert code == 0, err
    saved = json.loads(plain)["memory"]["weights_bytes"] - json.loads(fp8)["memory"]["weights_bytes"]
    assert saved == 6_979_321_856 - 896
    assert "--quantization fp8" in json.loads(fp8)["memory"]["weights_source"]


def test_quantization_fp8_on_an_awq_checkpoint_exits_2(tmp_path: Path) -> None:
    config = json.loads((CATALOG_SOURCES / "Qwen__Qwen3-14B" / "config.json").read_text())
    config["quantization_config"] = {"quant_method": "awq", "bits": 4, "group_size": 128, "zero_point": True}
    (tmp_path / "config.json").write_text(json.dumps(config))
    code, out, err = _run("check", str(tmp_path), "--gpu-memory", "24GiB", "--quantization", "fp8")
    assert code == 2 and out == ""
    assert "does not match the checkpoint's quantization (awq)" in err and "Traceback" not in err


@pytest.mark.parametrize(("spec", "expect"), [
    ("{not json", "--speculative-config: not JSON"),
    ('{"method": "mtp"}', "num_speculative_tokens (a whole number) is required"),
    ('{"method": "medusa", "num_speculative_tokens": 2}', "not one kvplan plans"),
    ('{"method": "mtp", "num_speculative_tokens": 2}', "names none"),  # Qwen-7B has no MTP layers
    ('[1, 2]', "give a JSON object"),
])
def test_bad_speculative_config_exits_2(qwen_dir: Path, spec: str, expect: str) -> None:
    code, out, err = _run("check", str(qwen_dir), "--kv-cache-memory", "2GiB", "--speculative-config", spec)
    assert code == 2 and out == ""
    assert expect in err and "Traceback" not in err and len(err.strip().splitlines()) <= 2


def test_speculative_config_in_json_and_on_the_engine_line() -> None:
    args = ("check", "deepseek-ai/DeepSeek-R1", "--kv-cache-memory", "10GiB", "--max-model-len", "8192",
            "--speculative-config", '{"method": "deepseek_mtp", "num_speculative_tokens": 1}')
    code, out, err = _run(*args, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["settings"]["speculative"] == {"method": "mtp", "num_speculative_tokens": 1, "draft_model": None}
    assert data["model"]["draft_kv_layers"] == 1
    assert data["kv_cache"]["bytes_per_block"] == 62 * 16 * 576 * 2
    _, human, _ = _run(*args)
    assert "speculative mtp x1, +1 KV layer" in human.replace("\n", " ")


def test_speculative_method_is_inferred_as_vllm_does() -> None:
    from kvplan.cli.settings_from_flags import parse_speculative_config

    def method(config: str) -> str:
        spec = parse_speculative_config(config)
        assert spec is not None
        return spec.method

    assert method('{"model": "[ngram]", "num_speculative_tokens": 3}') == "ngram"
    assert method('{"model": "yuhuili/EAGLE-LLaMA3.1-Instruct-8B", "num_speculative_tokens": 3}') == "eagle"
    assert method('{"model": "RedHatAI/Llama-3.1-8B-Instruct-speculator.eagle3", "num_speculative_tokens": 3}') \
        == "eagle3"
    assert method('{"model": "meta-llama/Llama-3.2-1B", "num_speculative_tokens": 3}') == "draft_model"
    assert method('{"method": "qwen3_next_mtp", "num_speculative_tokens": 3}') == "mtp"


def test_prefix_caching_flag_on_a_mamba_hybrid(tmp_path: Path) -> None:
    """vLLM's --enable-prefix-caching / --no-enable-prefix-caching reach the plan; mode 'all' exits 2."""
    nano = tmp_path / "nano-9b"
    nano.mkdir()
    shutil.copy(CATALOG_SOURCES / "nvidia__NVIDIA-Nemotron-Nano-9B-v2" / "config.json", nano / "config.json")
    base = ("check", str(nano), "--kv-cache-memory", "8GiB", "--max-model-len", "8192", "--json")
    tokens = {}
    for flag in ("--enable-prefix-caching", "--no-enable-prefix-caching"):
        code, out, _ = _run(*base, flag)
        assert code == 0
        data = json.loads(out)
        assert data["settings"]["enable_prefix_caching"] is (flag == "--enable-prefix-caching")
        tokens[flag] = data["kv_cache"]["tokens"]
    assert tokens["--no-enable-prefix-caching"] > tokens["--enable-prefix-caching"]
    code, out, err = _run(*base, "--enable-prefix-caching", "--vllm-version", "0.26.0")
    assert code == 2 and out == ""
    assert "Mamba cache mode 'all'" in err and "Traceback" not in err


def test_a_kv_cache_larger_than_the_gpu_does_not_start() -> None:
    """kv_cache_memory_bytes skips the budget: vLLM allocates what it is told after the weights, so 70 GiB of
    KV beside Llama-3.1-8B's 14.99 GiB cannot fit an H100's 79.18 GiB (torch raises out of memory)."""
    base = ("check", "meta-llama/Llama-3.1-8B", "--gpu", "h100", "--max-model-len", "8192", "--json")
    code, out, _ = _run(*base, "--kv-cache-memory", "70GiB")
    data = json.loads(out)
    assert code == 1 and data["verdict"]["status"] == "fail"
    assert data["verdict"]["vllm_errors"][0].startswith("torch.OutOfMemoryError: CUDA out of memory")
    ceiling = next(r for r in data["verdict"]["remedies"] if r["kind"] == "kv_cache_memory")
    assert ceiling["summary"].startswith("give the KV cache at most")
    # The ceiling it offers starts; a little more is inside the estimates' error.
    code, out, _ = _run(*base, "--kv-cache-memory-bytes", ceiling["flags"]["--kv-cache-memory-bytes"])  # vLLM's flag
    assert code == 0 and json.loads(out)["verdict"]["status"] == "ok"
    code, out, _ = _run(*base, "--kv-cache-memory", "63500MiB")
    assert code == 0 and json.loads(out)["verdict"]["status"] == "warn"


def test_the_token_never_shows_even_inside_an_endpoint() -> None:
    token = "hf_secretTOKEN123"
    env = {"HF_TOKEN": token, "HF_ENDPOINT": f"http://127.0.0.1:9/{token}", "HF_HUB_OFFLINE": "0"}
    result = runner.invoke(app, ["check", "no-such-org/no-such-model", "--gpu", "h100"], env=env)
    # (the error names the endpoint, or says huggingface_hub was imported offline by an earlier test)
    assert result.exit_code == 2 and token not in result.stdout + result.stderr
    from kvplan.sources.hub import HubSettings

    settings = HubSettings(endpoint=f"http://user:pw@127.0.0.1:9/{token}", token=token, cache_dir=Path("."))
    assert settings.public_endpoint == "http://127.0.0.1:9/***"


LLAMA_CONFIG = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
                "intermediate_size": 14336, "num_attention_heads": 32, "num_key_value_heads": 8,
                "num_hidden_layers": 32, "max_position_embeddings": 8192, "vocab_size": 128256,
                "torch_dtype": "bfloat16"}


@pytest.mark.parametrize(("name", "changes"), [
    ("kv-heads-text", {"num_key_value_heads": "eight"}),
    ("weight-block-short", {"quantization_config": {"quant_method": "fp8", "weight_block_size": [128]}}),
    ("weight-block-zero", {"quantization_config": {"quant_method": "fp8", "weight_block_size": [0, 0]}}),
    ("gptq-bits-text", {"quantization_config": {"quant_method": "gptq", "bits": "four", "group_size": 128}}),
    ("ct-groups-text", {"quantization_config": {"quant_method": "compressed-tensors", "config_groups": "x"}}),
    ("jamba-period-0", {"model_type": "jamba", "architectures": ["JambaForCausalLM"], "attn_layer_period": 0,
                        "attn_layer_offset": 4, "expert_layer_period": 2, "expert_layer_offset": 1,
                        "num_experts": 16, "mamba_d_state": 16, "mamba_d_conv": 4, "mamba_expand": 2}),
])
def test_config_values_of_the_wrong_kind_are_one_line(tmp_path: Path, name: str, changes: dict) -> None:
    """Values that surface deep in arithmetic (int("eight"), a period of 0) are one ConfigError line."""
    model = tmp_path / name
    model.mkdir()
    (model / "config.json").write_text(json.dumps({**LLAMA_CONFIG, **changes}))
    result = runner.invoke(app, ["check", str(model), "--gpu", "h100"])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("kvplan: error:") and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("text", ['"hidden_size": NaN', '"max_position_embeddings": Infinity'])
def test_nan_and_infinity_in_a_config_are_one_line(tmp_path: Path, text: str) -> None:
    body = json.dumps(LLAMA_CONFIG)[:-1] + ", " + text + "}"
    (tmp_path / "config.json").write_text(body)
    result = runner.invoke(app, ["check", str(tmp_path), "--gpu", "h100"])
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1


def test_a_token_that_cannot_be_sent_is_one_line() -> None:
    result = runner.invoke(app, ["check", "Qwen/Qwen3-8B", "--gpu", "h100"], env={"HF_TOKEN": "hf_x\u00e9"})
    assert result.exit_code == 2 and "HF_TOKEN holds characters" in result.stderr


@pytest.mark.parametrize(("args", "expect"), [
    (["Qwen/Qwen3-14B", "--tensor-parallel-size", "20"], "20 is not divisible by 8"),  # 40 heads, 8 KV heads
    (["nvidia/NVIDIA-Nemotron-Nano-9B-v2", "--tensor-parallel-size", "40"],
     "Tensor parallel world size must divide num heads"),  # 128 Mamba heads
    (["meta-llama/Llama-3.1-8B", "--max-num-seqs", "10000"],
     "max_num_batched_tokens (8192) must be greater than or equal to max_num_seqs (10000)"),
    (["meta-llama/Llama-3.1-8B", "--vllm-version", "0.6.6", "--max-num-batched-tokens", "100",
      "--max-model-len", "4096"], "max_num_batched_tokens (100) is smaller than max_model_len (4096)"),
    (["meta-llama/Llama-3.1-8B", "--vllm-version", "0.6.6", "--max-model-len", "auto"], "has no auto-fit"),
    (["meta-llama/Llama-3.1-8B", "--vllm-version", "0.12.0", "--block-size", "48"], "invalid choice: 48"),
    (["meta-llama/Llama-3.1-8B", "--max-model-len", "1.5K"], "decimals are not allowed with binary suffixes"),
    (["meta-llama/Llama-3.1-8B", "--quantization", "zzz"], "Unknown quantization method: zzz"),
    (["meta-llama/Llama-3.1-8B", "--platform", "cpu", "--kv-cache-memory", "4GiB"], "names a CUDA GPU"),
])
def test_settings_vllm_refuses_are_one_line(args: list[str], expect: str) -> None:
    """Refusals vLLM makes before it sizes anything (config checks, argparse, tensor-parallel asserts)."""
    result = runner.invoke(app, ["check", *args, "--gpu", "h100"])
    assert result.exit_code == 2 and expect in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_what_the_same_checks_let_through() -> None:
    for args in (["--vllm-version", "0.20.0", "--block-size", "48"],  # 0.18+: any positive block size
                 ["--max-model-len", "1.5k"],  # decimal suffix
                 ["--vllm-version", "0.14.0", "--max-model-len", "auto"]):
        result = runner.invoke(app, ["check", "meta-llama/Llama-3.1-8B", "--gpu", "h100", *args])
        assert result.exit_code == 0, (args, result.stderr)


def test_bfloat16_before_ampere() -> None:
    """A bf16 config on a T4: 0.9.1+ falls back to float16 (_resolve_auto_dtype); older releases keep bf16 and
    the worker refuses it; --dtype bfloat16 is refused everywhere."""
    base = ["check", "Qwen/Qwen3-0.6B", "--gpu", "t4", "--max-model-len", "4096", "--json"]
    new = json.loads(runner.invoke(app, base).stdout)
    assert new["verdict"]["status"] == "ok" and new["settings"]["dtype"] == "float16"
    old = json.loads(runner.invoke(app, [*base, "--vllm-version", "0.8.5"]).stdout)
    assert old["verdict"]["status"] == "fail"
    assert old["verdict"]["vllm_errors"][0].startswith("Bfloat16 is only supported on GPUs with compute capability")
    said = json.loads(runner.invoke(app, [*base, "--dtype", "bfloat16"]).stdout)
    assert said["verdict"]["status"] == "fail"


def test_the_tensor_parallel_remedy_skips_sizes_vllm_refuses() -> None:
    """Qwen3-14B (40 heads, 8 KV heads) at TP 4: TP 5 divides the heads but not the KV heads; 8 is next."""
    code, out, _ = _run("check", "Qwen/Qwen3-14B", "--gpu-memory", "7GiB", "--tensor-parallel-size", "4", "--json")
    assert code == 1
    remedy = next(r for r in json.loads(out)["verdict"]["remedies"] if r["kind"] == "tensor_parallel")
    assert remedy["flags"] == {"--tensor-parallel-size": "8"}


@pytest.mark.parametrize(("changes", "expect"), [
    ({"vocab_size": 0}, "vocab_size 0"),
    ({"head_dim": 0}, "head_dim 0"),
    ({"num_key_value_heads": 5}, "the KV heads must divide the attention heads"),
    ({"num_key_value_heads": 64}, "the KV heads must divide the attention heads"),
    ({"sliding_window": "4096"}, "sliding_window must be a whole number"),
    ({"layer_types": ["weird"] * 32}, "layer_types holds 'weird'"),
])
def test_config_values_vllm_could_not_use_are_refused(tmp_path: Path, changes: dict, expect: str) -> None:
    """Values that would size nothing or something else than vLLM builds, refused rather than guessed."""
    (tmp_path / "config.json").write_text(json.dumps({**LLAMA_CONFIG, **changes}))
    result = runner.invoke(app, ["check", str(tmp_path), "--gpu", "h100"])
    assert result.exit_code == 2 and expect in result.stderr, result.stderr


def test_a_hybrid_pattern_shorter_than_the_layers_is_refused(tmp_path: Path) -> None:
    config = json.loads((CATALOG_SOURCES / "nvidia__NVIDIA-Nemotron-Nano-9B-v2" / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "hybrid_override_pattern": "M-"}))
    result = runner.invoke(app, ["check", str(tmp_path), "--gpu", "h100"])
    assert result.exit_code == 2 and "hybrid_override_pattern has 2 layers, num_hidden_layers is 56" in result.stderr


def test_a_checkpoint_quantization_no_vllm_loads_fails(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({**LLAMA_CONFIG, "quantization_config": {"quant_method": "zzz"}}))
    code, out, _ = _run("check", str(tmp_path), "--gpu", "h100", "--max-model-len", "4096", "--json")
    data = json.loads(out)
    assert code == 1 and data["verdict"]["vllm_errors"][0].startswith("Unknown quantization method: zzz")


def test_dtype_fallbacks_before_ampere_by_release() -> None:
    def dtype(*args: str) -> tuple[int, str | None]:
        code, out, _ = _run("check", *args, "--max-model-len", "4096", "--json")
        return code, json.loads(out)["settings"]["dtype"] if out else None

    # 0.9.0 already falls back to the device's dtype; 0.8.5 keeps bf16 and the worker refuses it
    assert dtype("meta-llama/Llama-3.2-1B-Instruct", "--gpu", "t4", "--vllm-version", "0.9.0") == (0, "float16")
    assert dtype("meta-llama/Llama-3.2-1B-Instruct", "--gpu", "t4", "--vllm-version", "0.8.5")[0] == 1
    # gemma2 takes no float16 from 0.9.1: pre-Ampere GPUs serve it in float32 (twice the weights)
    assert dtype("google/gemma-2-9b-it", "--gpu", "v100-32g", "--vllm-version", "0.10.1")[1] == "float32"
    result = runner.invoke(app, ["check", "google/gemma-2-9b-it", "--gpu", "h100", "--dtype", "half"])
    assert result.exit_code == 2 and "does not support float16" in result.stderr


def test_no_length_remedy_when_the_kv_cache_is_not_what_fails() -> None:
    code, out, _ = _run("check", "nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16", "--gpu", "h100", "--json")
    kinds = [r["kind"] for r in json.loads(out)["verdict"]["remedies"]]
    assert code == 1 and "max_model_len" not in kinds and "max_num_seqs" in kinds


def test_v0_default_sequences_against_a_small_budget() -> None:
    """V0 keeps 256 sequences by default (V1 caps the default at the budget from 0.10.1): vLLM refuses."""
    result = runner.invoke(app, ["check", "meta-llama/Llama-3.1-8B", "--gpu", "h100", "--vllm-version", "0.6.6",
                                 "--max-model-len", "128", "--max-num-batched-tokens", "128"])
    assert result.exit_code == 2 and "max_num_batched_tokens (128) must be greater than or equal to max_num_seqs " \
        "(256)" in result.stderr


def test_block_size_choices_are_argparse_only() -> None:
    base = ["check", "meta-llama/Llama-3.1-8B", "--gpu", "h100", "--max-model-len", "4096"]
    assert runner.invoke(app, [*base, "--vllm-version", "0.12.0", "--block-size", "48", "--entrypoint", "llm"]
                         ).exit_code == 0
    result = runner.invoke(app, [*base, "--vllm-version", "0.5.4", "--block-size", "64"])
    assert result.exit_code == 2 and "choose from 8, 16, 32" in result.stderr


def test_weights_follow_the_served_dtype() -> None:
    """vLLM loads floating-point weights in the dtype it serves: float32 takes twice a bf16 checkpoint."""
    def weights(*args: str) -> tuple[int, str]:
        out = _run("check", "meta-llama/Llama-3.1-8B", "--gpu", "h100", "--max-model-len", "4096", *args,
                   "--json")[1]
        memory = json.loads(out)["memory"]
        return memory["weights_bytes"], memory["weights_source"]

    served16, _ = weights()
    served32, source = weights("--dtype", "float32")
    rope = 131072 * 128 * 4  # the rope cache follows the dtype too, and is counted beside the checkpoint
    assert abs(served32 - 2 * served16) <= rope and "cast to float32" in source
    assert weights("--dtype", "float16")[0] == served16


def test_the_served_dtype_must_suit_the_quantization() -> None:
    """VllmConfig refuses a dtype outside the method's activation dtypes (mxfp4: bfloat16 only)."""
    code, out, _ = _run("check", "openai/gpt-oss-20b", "--gpu", "l4", "--dtype", "float16", "--max-model-len",
                        "4096", "--json")
    data = json.loads(out)
    assert code == 1 and data["verdict"]["vllm_errors"][0].startswith(
        "torch.float16 is not supported for quantization method mxfp4")
    assert "pass --dtype bfloat16" in data["verdict"]["reasons"][0]


def test_gemma2_dtypes_from_0_9_1(tmp_path: Path) -> None:
    """A float16 gemma2 config is served in bfloat16 on Ampere (float16 is refused for it); before Ampere the
    bf16 refusal points at float32, the dtype that works there."""
    config = json.loads((CATALOG_SOURCES / "google__gemma-2-9b-it" / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "torch_dtype": "float16"}))
    code, out, _ = _run("check", str(tmp_path), "--gpu", "h100", "--vllm-version", "0.10.1", "--max-model-len",
                        "4096", "--json")
    assert json.loads(out)["settings"]["dtype"] == "bfloat16"
    code, out, _ = _run("check", "google/gemma-2-9b-it", "--gpu", "t4", "--vllm-version", "0.10.1", "--dtype",
                        "bfloat16", "--max-model-len", "4096", "--json")
    assert code == 1 and "serve in float32" in json.loads(out)["verdict"]["reasons"][0]


@pytest.mark.parametrize(("version", "size"), [("0.6.3", "64"), ("0.8.2", "1")])
def test_older_block_size_choices(version: str, size: str) -> None:
    result = runner.invoke(app, ["check", "meta-llama/Llama-3.1-8B", "--gpu", "h100", "--max-model-len", "4096",
                                 "--vllm-version", version, "--block-size", size])
    assert result.exit_code == 2 and f"invalid choice: {size}" in result.stderr


def test_v0_alternatives_report_the_longest_length_that_starts() -> None:
    """On V0 a shorter context also shrinks the profile: an fp8 KV cache that misses 131K still starts a
    long context, found by replanning rather than read off the 131K plan (which said 0)."""
    code, out, _ = _run("check", "meta-llama/Llama-3.1-8B", "--gpu", "l4", "--vllm-version", "0.5.4", "--json")
    fp8 = next(r for r in json.loads(out)["verdict"]["remedies"] if r["kind"] == "kv_cache_dtype")
    assert code == 1 and not fp8["fits"] and "largest max_model_len 0)" not in fp8["summary"]


def test_034_states_its_sizing_path_and_033_sits_beside_it() -> None:
    """Llama-3.1-8B on an H100 at defaults: --json on 0.34 names the sizing path; planning 0.33 puts its KV cache
    beside 0.34's, with a note that says why they differ."""
    code, out, _ = _run("check", "meta-llama/Llama-3.1-8B-Instruct", "--gpu", "h100", "--vllm-version", "0.34.0",
                        "--json")
    data = json.loads(out)
    assert code == 0 and data["settings"]["kv_sizing"] == "extensible"
    assert data["settings"]["gpu_memory_utilization"] == 1.0 and data["settings"]["block_size"] == 64
    assert data["memory"]["extensible"]["margin_bytes"] >= 2**30
    code, out, _ = _run("check", "meta-llama/Llama-3.1-8B-Instruct", "--gpu", "h100", "--vllm-version", "0.33.0")
    assert code == 0 and "KV cache by release" in out
    rows = [line.split() for line in out.splitlines() if line.strip().startswith(("0.33.0", "0.34.0"))]
    assert [row[:3] for row in rows] == [["0.33.0", "│", "profiled"], ["0.34.0", "│", "extensible"]]
    assert "vLLM 0.34.0 gives the KV cache 3.04 GiB more than 0.33.0" in " ".join(out.split())
    # QA: a smaller cache read "gives the KV cache -1.15 GiB against 0.32.0" (Qwen3-8B on an L4; 1.34 since the
    # compiled-embedding floor carried over to 0.27+ and 0.34 keeps that larger transient peak free)
    less = runner.invoke(app, ["check", "Qwen/Qwen3-8B", "--gpu", "l4", "--max-model-len", "8k",
                               "--vllm-version", "0.32.0"])
    assert "vLLM 0.34.0 gives the KV cache 1.34 GiB less than 0.32.0" in " ".join(less.output.split())
    code, out, _ = _run("check", "meta-llama/Llama-3.1-8B-Instruct", "--gpu", "h100", "--vllm-version", "0.34.0")
    assert "KV cache by release" not in out and "KV sizing extensible (measured after warm-up)" in " ".join(out.split())


def test_extensible_kv_cache_flag() -> None:
    """--no-enable-extensible-kv-cache: 0.34 falls back to the profiled sizing and 0.92; asking for it beside
    --kv-cache-memory is vLLM's refusal."""
    code, out, _ = _run("check", "meta-llama/Llama-3.1-8B-Instruct", "--gpu", "h100", "--vllm-version", "0.34.0",
                        "--no-enable-extensible-kv-cache", "--json")
    data = json.loads(out)
    assert code == 0 and data["settings"]["kv_sizing"] == "profiled"
    assert data["settings"]["gpu_memory_utilization"] == 0.92 and data["memory"]["extensible"] is None
    code, _, err = _run("check", "meta-llama/Llama-3.1-8B-Instruct", "--gpu", "h100", "--vllm-version", "0.34.0",
                        "--enable-extensible-kv-cache", "--kv-cache-memory", "10GiB")
    assert code == 2 and "which kv_cache_memory_bytes overrides" in err


def test_kv_cache_memory_bytes_reads_as_vllm_reads_it() -> None:
    """vLLM's --kv-cache-memory-bytes (human_readable_int, utils/argparse_utils.py): 4G is 4 GiB, 4g is 4e9 bytes.
    kvplan check takes it beside its own --kv-cache-memory, and the remedies print it from 0.10.2, so a remedy's
    flag pastes into `vllm serve` as it is."""
    model = "meta-llama/Llama-3.1-8B-Instruct"
    as_vllm = json.loads(_run("check", model, "--kv-cache-memory-bytes", "4G", "--json")[1])
    as_kvplan = json.loads(_run("check", model, "--kv-cache-memory", "4GiB", "--json")[1])
    assert as_vllm["settings"]["kv_cache_memory_bytes"] == 4 * 2**30 == as_kvplan["settings"]["kv_cache_memory_bytes"]
    decimal = json.loads(_run("check", model, "--kv-cache-memory-bytes", "4g", "--json")[1])
    assert decimal["settings"]["kv_cache_memory_bytes"] == 4 * 10**9
    code, _, err = _run("check", model, "--kv-cache-memory-bytes", "4G", "--kv-cache-memory", "4GiB")
    assert code == 2 and "give one" in err
    code, _, err = _run("check", model, "--kv-cache-memory-bytes", "four")
    assert code == 2 and "--kv-cache-memory-bytes" in err and "Traceback" not in err
    # the remedy of a too-long context: vLLM's flag, with vLLM's suffix
    code, out, _ = _run("check", model, "--kv-cache-memory-bytes", "4G", "--max-model-len", "131072", "--json")
    remedy = next(r for r in json.loads(out)["verdict"]["remedies"] if r["kind"] == "kv_cache_memory")
    assert code == 1 and remedy["flags"] == {"--kv-cache-memory-bytes": "16386M"}  # 8,192 blocks + the null one
    old = _run("check", model, "--kv-cache-memory", "4GiB", "--max-model-len", "131072", "--vllm-version", "0.8.5",
               "--json")[1]
    assert next(r for r in json.loads(old)["verdict"]["remedies"] if r["kind"] == "kv_cache_memory")["flags"] == {
        "--kv-cache-memory": "16384MiB"}  # no such vLLM flag before 0.10.2 (and no null block held back on V0)


def test_a_group_of_two_page_shapes_shows_both() -> None:
    # QA: DeepSeek-V3.2 (TP 8) groups 61 MLA latents (73,728 B a page at block 64) with 61 indexer key caches
    # (132 B a token: 8,448 B); check and inspect showed "122 layers, 73,728" where a block is 5,012,736 B
    args = ["deepseek-ai/DeepSeek-V3.2", "-tp", "8"]
    inspected = runner.invoke(app, ["inspect", *args, "--json"])
    (group,) = json.loads(inspected.stdout)["groups"]
    assert group["num_layers"] == 122 and group["layer_page_sizes_bytes"] == [73728, 8448]
    assert 61 * 73728 + 61 * 8448 == json.loads(inspected.stdout)["bytes_per_block"] == 5_012_736
    checked = runner.invoke(app, ["check", *args, "--gpu", "h200", "--kv-cache-memory", "20GiB"])
    assert "73,728 / 8,448" in checked.stdout
    (row,) = json.loads(runner.invoke(app, ["check", *args, "--gpu", "h200", "--kv-cache-memory", "20GiB",
                                            "--json"]).stdout)["kv_cache"]["groups"]
    assert row["layer_page_sizes_bytes"] == [73728, 8448]


def test_inspect_says_its_window_blocks_assume_a_small_gpu() -> None:
    # QA: inspect showed gemma-3-4b's sliding-window groups at 81 blocks a 32K request (2,048 batched tokens)
    # as if for any GPU; check on an H100 (8,192 batched tokens) needs 273
    inspected = runner.invoke(app, ["inspect", "google/gemma-3-4b-it", "--max-model-len", "32768", "--json"])
    windows = {g["blocks_per_request"] for g in json.loads(inspected.stdout)["groups"] if g["kind"] == "sliding_window"}
    assert windows == {81} and "window blocks per request assume 2,048 batched tokens" in inspected.stderr
    checked = runner.invoke(app, ["check", "google/gemma-3-4b-it", "--gpu", "h100", "--max-model-len", "32768",
                                  "--json"])
    groups = json.loads(checked.stdout)["kv_cache"]["groups"]
    assert {g["blocks_per_request"] for g in groups if g["kind"] == "sliding_window"} == {273}
    plain = runner.invoke(app, ["inspect", "Qwen/Qwen3-8B"])
    assert "window blocks" not in plain.stderr
