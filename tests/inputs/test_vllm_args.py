"""The one vLLM argv parser: forms vLLM accepts, where each value was set, and what kvplan prints parses back."""

from __future__ import annotations

import json
import shlex
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from kvplan import api
from kvplan.cli.app import app
from kvplan.core.errors import UsageError
from kvplan.core.settings import DeploySettings, SpeculativeSettings
from kvplan.inputs.settings_values import settings_from_values
from kvplan.inputs.vllm_args import (
    ENGINE_ARG_SETTINGS,
    CommandError,
    EnvValue,
    Origin,
    UnresolvedError,
    parse_command_line,
    parse_engine_args,
    parse_vllm_command,
    setting_for_engine_arg,
)
from kvplan.render.recommend_view import _launch_line

runner = CliRunner()


def test_vllm_serve_forms() -> None:
    c = parse_command_line(
        "VLLM_USE_V1=1 vllm serve Qwen/Qwen2.5-7B-Instruct --max-model-len=32k -tp 2 --gpu_memory_utilization 0.85 "
        "--no-enable-prefix-caching --enforce-eager --port 8000 --api-key a b --served-model-name chat "
        "--kv-cache-memory-bytes 20G --max-num-batched-tokens 8k --frobnicate 3 -O3", first_line=7)
    assert c.model == "Qwen/Qwen2.5-7B-Instruct"
    assert c.values == {"max_model_len": "32k", "tensor_parallel_size": 2, "gpu_memory_utilization": 0.85,
                        "enable_prefix_caching": False, "enforce_eager": True, "kv_cache_memory": 20 * 2**30,
                        "max_num_batched_tokens": 8000, "vllm_use_v1": "1"}
    assert c.unknown_flags == ("--frobnicate",)
    assert c.origins["tensor_parallel_size"].text == "-tp 2" and c.origins["max_model_len"].line == 7



def test_unique_prefixes_are_the_flag_as_vllm_argparse_reads_them() -> None:
    """vLLM's FlexibleArgumentParser keeps argparse's allow_abbrev: `--kv-cache-memory 20G` sets
    kv_cache_memory_bytes and `--max-model 4096` max_model_len (kvplan reported both as unknown and planned the
    defaults); an ambiguous prefix stays unknown."""
    c = parse_command_line("vllm serve M --kv-cache-memory 20G --max-model=4096 --gpu-memory-util 0.5 "
                           "--no-enable-prefix --max 3")
    assert c.values == {"kv_cache_memory": 20 * 2**30, "max_model_len": "4096", "gpu_memory_utilization": 0.5,
                        "enable_prefix_caching": False}
    assert c.unknown_flags == ("--max",)
    assert c.origins["max_model_len"].text == "--max-model=4096"

def test_shell_comments_start_only_at_a_word() -> None:
    c = parse_command_line('vllm serve m --api-key abc#def --chat-template "a # b" --max-model-len 4k # --dtype half')
    assert c.values == {"max_model_len": "4k"}


def test_dotted_and_optimisation_flags() -> None:
    c = parse_command_line("vllm serve m --speculative-config.method ngram "
                           "--speculative-config.num_speculative_tokens=3 -O 3 -O3 --compilation-config.mode 3 "
                           "--max-model-len 4096")
    assert c.values == {"speculative_config": {"method": "ngram", "num_speculative_tokens": 3},
                        "max_model_len": "4096"}
    assert not c.unknown_flags



def test_a_commented_out_flag_line_ends_the_command_as_the_shell_does() -> None:
    """bash: a backslash in a comment is comment text, so `vllm serve M \\` / `  # --max-model-len 99 \\` /
    `  --max-model-len 8192` runs `vllm serve M` with vLLM's default length (kvplan planned 8192)."""
    c = parse_command_line("vllm serve M \\\n  # --max-model-len 99 \\\n  --max-model-len 8192\n", first_line=1)
    assert c.model == "M" and "max_model_len" not in c.values
    c = parse_command_line("vllm serve M \\\n  --max-model-len 8192 \\\n  --enforce-eager  # eager \\\n  -tp 2\n")
    assert c.values == {"max_model_len": "8192", "enforce_eager": True}



def test_vllm_serve_takes_the_model_once_and_the_first_model_flag() -> None:
    """FlexibleArgumentParser moves the first --model to the model's place: with a positional model too, argparse
    refuses the leftover (kvplan planned the --model one); of two --model flags the first is served (kvplan took
    the last). The api_server module's --model is a plain option: the last wins."""
    for line in ("vllm serve M --model N", "vllm serve --model N M -tp 2"):
        with pytest.raises(CommandError, match="given the model twice"):
            parse_command_line(line)
    assert parse_command_line("vllm serve --model N -tp 2 --model O").model == "N"
    assert parse_command_line("python -m vllm.entrypoints.openai.api_server --model N --model O").model == "O"


def test_spec_shorthand_flags_fold_into_the_speculative_config() -> None:
    """vLLM 0.32-0.34's --spec-method / --spec-model / --spec-tokens (EngineArgs.create_speculative_config) were
    known flags kvplan read past: the drafter's KV and weights went unplanned."""
    c = parse_command_line("vllm serve M --spec-tokens 3 --spec-method eagle3 --spec-model d/e", first_line=4)
    assert c.values["speculative_config"] == {"num_speculative_tokens": 3, "method": "eagle3", "model": "d/e"}
    assert c.origins["speculative_config"].line == 4
    c = parse_command_line("vllm serve M --speculative-config '{\"method\": \"ngram\"}' --spec-tokens 2")
    assert c.values["speculative_config"] == {"method": "ngram", "num_speculative_tokens": 2}
    with pytest.raises(CommandError, match="mutually exclusive"):
        parse_command_line("vllm serve M --spec-method mtp -sc '{\"method\": \"mtp\"}'")
    args = parse_engine_args({"model": "M", "spec_method": "ngram", "spec_tokens": 5})
    assert args.values["speculative_config"] == {"method": "ngram", "num_speculative_tokens": 5}


def test_no_enable_extensible_kv_cache_in_the_command_is_planned() -> None:
    """vLLM 0.34's --no-enable-extensible-kv-cache was a known flag kvplan read past: `check -- vllm serve ...` and
    gate planned the extensible sizing (1,076,992 tokens for Qwen2.5-7B on an H100) where vLLM profiles
    (1,020,672)."""
    c = parse_command_line("vllm serve M --no-enable-extensible-kv-cache")
    assert c.values == {"enable_extensible_kv_cache": False}
    settings = settings_from_values({**c.values, "vllm_version": "0.34.0"})
    assert settings.enable_extensible_kv_cache is False


def test_memory_flags_kvplan_does_not_model_are_said_not_read_past() -> None:
    """--cpu-offload-gb, -dcp, -cc ... change the memory vLLM gives the KV cache; kvplan read them past in silence.
    Their last value counts (argparse), and a default value says nothing."""
    c = parse_command_line("vllm serve M --cpu-offload-gb 10 --cpu-offload-gb=0 -dcp 2 -cc '{\"cudagraph_mode\": 0}'")
    assert [n.split(" ", 1)[0] for n in c.notes] == ["--decode-context-parallel-size", "--compilation-config"]
    result = runner.invoke(app, ["check", "--gpu", "h100", "--", "vllm", "serve", "Qwen/Qwen2.5-7B-Instruct",
                                 "--kv-offloading-size", "8"], env={"HF_HUB_OFFLINE": "1"})
    assert result.exit_code == 0 and "--kv-offloading-size is not planned" in result.stderr
    # --cpu-offload-gb is planned now (check's flag of the same name): read, not said
    planned = runner.invoke(app, ["check", "--gpu", "h100", "--", "vllm", "serve", "Qwen/Qwen2.5-7B-Instruct",
                                  "--cpu-offload-gb", "8"], env={"HF_HUB_OFFLINE": "1"})
    assert planned.exit_code == 0 and "not planned" not in planned.stderr


def test_a_scripts_own_arguments_take_their_defaults_or_are_named(tmp_path: Path) -> None:
    """`MODEL=${1:-Qwen/...}` / `--max-model-len ${2:-8192}`: run with no arguments the script uses the defaults;
    kvplan kept the text and exited 2 ("cannot read '${2:-8192}'"). `"$@"` is named, as a template is (exit 1)."""
    from kvplan.inputs.deploy_files import load_deploy_file

    script = tmp_path / "serve.sh"
    script.write_text('MODEL=${1:-Qwen/Qwen2.5-7B-Instruct}\nvllm serve "$MODEL" --max-model-len ${2:-8192}\n')
    deployment = load_deploy_file(script)[0]
    assert (deployment.model, deployment.settings["max_model_len"], deployment.problem) == (
        "Qwen/Qwen2.5-7B-Instruct", "8192", None)
    with pytest.raises(UnresolvedError, match="the script's own arguments"):
        parse_command_line('vllm serve "$@" --max-model-len 8192')

def test_api_server_module_and_shell_wrapping() -> None:
    c = parse_vllm_command(["/bin/sh", "-c", "pip list && exec python3 -m vllm.entrypoints.openai.api_server "
                            "--model m/x --dtype half --max-model-len 4096; sleep 1"])
    assert c.entry == "api_server" and c.model == "m/x"
    assert c.values == {"dtype": "half", "max_model_len": "4096"}


def test_line_continuations_and_variables_keep_their_lines() -> None:
    script = 'vllm serve "$MODEL" \\\n  --max-model-len ${LEN:-8192} \\\n  --gpu-memory-utilization $UTIL\n'
    env = {"MODEL": EnvValue("a/b", Origin(file="s.sh", line=2, text="MODEL=a/b")),
           "UTIL": EnvValue("0.8", Origin(file="s.sh", line=3, text="UTIL=0.8"))}
    c = parse_command_line(script, file="s.sh", first_line=10, env=env)
    assert c.model == "a/b" and c.origins["model"].line == 2
    assert c.values == {"max_model_len": "8192", "gpu_memory_utilization": 0.8}
    assert c.origins["max_model_len"].line == 11  # the default written on the flag's line
    assert c.origins["gpu_memory_utilization"].line == 3  # the variable's own line


@pytest.mark.parametrize("command, words", [
    ("vllm serve m --max-model-len $CTX", "$CTX, which is not set"),
    ("vllm serve '{{ .Values.model }}' --max-model-len 4096", "{{ .Values.model }}"),
    ("vllm serve m --max-model-len {{ .Values.len }}", "template {{"),
    ("vllm serve m --max-num-seqs lots", "expected a whole number"),
    ("vllm serve m --gpu-memory-utilization nan", "finite"),
    ("vllm serve m --max-model-len", "needs a value"),
    ("echo vllm", "no `vllm serve`"),
    ("vllm serve $(cat model.txt)", "command substitution $(cat"),
])
def test_unusable_commands_are_one_line_with_the_line(command: str, words: str) -> None:
    with pytest.raises(CommandError) as err:
        parse_command_line(command, file="run.sh", first_line=4)
    assert words in err.value.one_line()


def test_config_yaml_then_command_line_wins(tmp_path: Path) -> None:
    (tmp_path / "cfg.yaml").write_text("model: m/x\nmax-model-len: 8192\ntensor_parallel_size: 2\n"
                                       "enable-prefix-caching: false\nspeculative-config:\n  method: ngram\n"
                                       "  num_speculative_tokens: 3\nport: 8000\nnot-a-flag: 1\n")
    c = parse_vllm_command(["vllm", "serve", "--config", "cfg.yaml", "--max-model-len", "4096"], base_dir=tmp_path)
    assert c.model == "m/x"
    assert c.values["max_model_len"] == "4096" and c.values["tensor_parallel_size"] == 2
    assert c.values["speculative_config"] == {"method": "ngram", "num_speculative_tokens": 3}
    assert c.origins["tensor_parallel_size"].line == 3 and c.origins["tensor_parallel_size"].file.endswith("cfg.yaml")
    assert c.unknown_flags == ("not-a-flag",)



def test_vllm_serve_model_wins_over_the_config_files_model(tmp_path: Path) -> None:
    """cli/serve.py sets args.model = args.model_tag: `vllm serve M --config cfg.yaml` serves M even when the file
    names a model (kvplan planned the file's and reported M as unknown). Config keys are flags to argparse, so a
    unique prefix is the flag there too."""
    (tmp_path / "cfg.yaml").write_text("model: m/x\nmax-model: 4096\n")
    c = parse_vllm_command(["vllm", "serve", "m/y", "--config", "cfg.yaml"], base_dir=tmp_path)
    assert (c.model, c.values, c.unknown_flags) == ("m/y", {"max_model_len": "4096"}, ())
    c = parse_vllm_command(["vllm", "serve", "--config", "cfg.yaml", "m/y"], base_dir=tmp_path)
    assert c.model == "m/y"
    assert parse_vllm_command(["vllm", "serve", "--config", "cfg.yaml"], base_dir=tmp_path).model == "m/x"

def test_engine_arg_mapping_for_explain() -> None:
    assert setting_for_engine_arg("max_model_len", 32768) == ("max_model_len", "32768")
    assert setting_for_engine_arg("kv_cache_memory_bytes", 2**30) == ("kv_cache_memory", 2**30)
    assert setting_for_engine_arg("enable_prefix_caching", False) == ("enable_prefix_caching", False)
    assert setting_for_engine_arg("port", 8000) is None
    assert set(ENGINE_ARG_SETTINGS) >= {"max_model_len", "gpu_memory_utilization", "speculative_config"}


def test_engine_args_dict_as_vllm_logs_it() -> None:
    """explain's "non-default args: {...}" line reads through the same table."""
    from kvplan.inputs.vllm_args import parse_engine_args

    c = parse_engine_args({"model": "Qwen/Qwen3-8B", "max_model_len": 40960, "enable_prefix_caching": False,
                           "kv_cache_memory_bytes": 2**33, "disable_log_stats": True, "frob": 1}, line=12)
    assert c.model == "Qwen/Qwen3-8B" and c.unknown_flags == ("frob",)
    assert c.values == {"max_model_len": "40960", "enable_prefix_caching": False, "kv_cache_memory": 2**33}
    assert c.origins["max_model_len"].line == 12


def test_check_plans_the_command_as_written() -> None:
    env = {"HF_HUB_OFFLINE": "1"}
    direct = runner.invoke(app, ["check", "Qwen/Qwen2.5-7B-Instruct", "--gpu", "a10g", "--max-model-len", "32768",
                                 "--gpu-memory-utilization", "0.9", "--json"], env=env)
    argv = runner.invoke(app, ["check", "--gpu", "a10g", "--json", "--", "vllm", "serve", "Qwen/Qwen2.5-7B-Instruct",
                               "--max-model-len", "32768", "--gpu-memory-utilization", "0.9", "--port", "8000"],
                         env=env)
    assert argv.exit_code == direct.exit_code == 0, argv.output
    assert json.loads(argv.stdout) == json.loads(direct.stdout)


def test_check_refuses_a_flag_given_twice_differently() -> None:
    result = runner.invoke(app, ["check", "--gpu", "a10g", "--max-model-len", "8192", "--", "vllm", "serve",
                                 "Qwen/Qwen2.5-7B-Instruct", "--max-model-len", "32768"], env={"HF_HUB_OFFLINE": "1"})
    assert result.exit_code == 2 and "given to kvplan (8192) and in the vLLM command (32768)" in result.stderr


# --- what kvplan prints parses back -------------------------------------------------------------------------

_MODEL = "Qwen/Qwen2.5-7B-Instruct"
_INPUTS = {}


def _plan(s: DeploySettings):  # type: ignore[no-untyped-def]
    key = (s.vllm_version, s.dtype)
    if key not in _INPUTS:
        _INPUTS[key] = api.plan_inputs(_MODEL, s, revision=None, environ={"HF_HUB_OFFLINE": "1"})
    from kvplan.core.plan import plan

    gpu = api.resolve_gpu_for(s, gpu="h100", gpu_memory_bytes=None, environ={})
    inputs = _INPUTS[key]
    return plan(inputs.model, s, gpu, inputs.weights)


deploy_settings = st.builds(
    DeploySettings,
    vllm_version=st.sampled_from(["0.33.0", "0.20.0", "0.11.0"]),
    max_model_len=st.integers(1024, 32768),
    gpu_memory_utilization=st.one_of(st.none(), st.floats(0.5, 0.95).map(lambda x: round(x, 2))),
    tensor_parallel_size=st.sampled_from([1, 2, 4]),
    dtype=st.sampled_from(["auto", "bfloat16", "float16"]),
    kv_cache_dtype=st.sampled_from(["auto", "fp8"]),
    block_size=st.sampled_from([None, 16, 32]),
    max_num_seqs=st.one_of(st.none(), st.integers(1, 512)),
    max_num_batched_tokens=st.one_of(st.none(), st.integers(2048, 16384)),
    kv_cache_memory_bytes=st.one_of(st.none(), st.integers(1, 8).map(lambda g: g * 2**30)),
    enforce_eager=st.booleans(),
    enable_prefix_caching=st.sampled_from([None, True, False]),
    speculative=st.sampled_from([None, SpeculativeSettings(method="ngram", num_speculative_tokens=3,
                                                           given_json='{"method": "ngram", '
                                                                      '"num_speculative_tokens": 3, '
                                                                      '"prompt_lookup_max": 4}')]),
    use_v1=st.sampled_from([None]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(deploy_settings)
def test_recommend_serve_line_parses_back_to_the_same_settings(s: DeploySettings) -> None:
    try:
        result = _plan(s)
    except UsageError:
        assume(False)  # settings vLLM refuses print no line
    length = result.kv_cache.max_model_len
    line = _launch_line(_MODEL, SimpleNamespace(base=result, max_num_seqs_cap=None), length)  # type: ignore[arg-type]
    parsed = parse_command_line(line)
    assert parsed.model == _MODEL and not parsed.unknown_flags
    back = settings_from_values({**parsed.values, "vllm_version": s.vllm_version})  # the release is kvplan's flag
    expected = replace(s, max_model_len=length, gpu_memory_utilization=None if s.kv_cache_memory_bytes
                       else result.engine.gpu_memory_utilization, tensor_parallel_size=s.tensor_parallel_size)
    assert back == expected, line


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(deploy_settings.map(lambda s: replace(s, max_model_len=32768, gpu_memory_utilization=0.22,
                                              tensor_parallel_size=1, kv_cache_memory_bytes=None)))
def test_remedy_flags_parse_back_to_the_changed_setting(s: DeploySettings) -> None:
    try:
        result = _plan(s)
    except UsageError:
        assume(False)
    assume(result.verdict.remedies)
    for remedy in result.verdict.remedies:
        flags = {k: v for k, v in remedy.flags.items() if k.startswith("--")}
        if not flags or "--kv-cache-memory" in flags:  # kvplan's flag, not vLLM's (see the report)
            continue
        words = " ".join(f"{k} {shlex.quote(v)}" for k, v in flags.items())
        parsed = parse_command_line(f"vllm serve {_MODEL} {words}")
        assert not parsed.unknown_flags, words
        for flag, value in flags.items():
            key = flag[2:].replace("-", "_")
            assert str(parsed.values[ENGINE_ARG_SETTINGS[key].key]) == value


NAMES = {"yaml": "vllm-config.yaml", "env": ".env", "helm": "values.yaml"}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(deploy_settings, st.sampled_from(["yaml", "env", "helm"]))
def test_printed_formats_read_back_to_the_planned_settings(tmp_path: Path, s: DeploySettings, kind: str) -> None:
    """recommend --format yaml|env|helm, read back by gate's deploy-file readers, is the deployment planned."""
    from kvplan.inputs.deploy_files import load_deploy_file
    from kvplan.render.serve_formats import render

    try:
        result = _plan(s)
        length = result.kv_cache.max_model_len
        text = render(kind, _MODEL, SimpleNamespace(base=result, max_num_seqs_cap=None), length)  # type: ignore[arg-type]
    except UsageError:
        assume(False)  # settings vLLM refuses, or a format that cannot carry them (said in one line)
    path = tmp_path / NAMES[kind]
    path.write_text(text)
    (deployment,) = load_deploy_file(path)
    assert not deployment.notes and deployment.model == _MODEL
    back = settings_from_values({**deployment.settings, "vllm_version": s.vllm_version})
    expected = replace(s, max_model_len=length, gpu_memory_utilization=None if s.kv_cache_memory_bytes
                       else result.engine.gpu_memory_utilization)
    if kind == "env":  # api-for-open-llm passes its defaults: the .env writes what vLLM would have used
        expected = replace(expected, max_num_seqs=s.max_num_seqs or result.engine.max_num_seqs)
    if kind == "helm" and s.enable_prefix_caching is None:  # the chart always sets it: written as planned
        expected = replace(expected, enable_prefix_caching=result.engine.enable_prefix_caching)
    assert back == expected, text
