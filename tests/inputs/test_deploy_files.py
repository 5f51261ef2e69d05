"""`kvplan gate` on deploy files as written: real files from public repositories (tests/data/deploy/README.md
names each source), each deployment traced to its file and the line that sets the value to change."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from kvplan.cli.app import app
from kvplan.core.errors import UsageError
from kvplan.inputs.deploy_files import load_deploy_file
from kvplan.inputs.safe_yaml import MAX_FILE_BYTES, load_yaml_documents

DATA = Path(__file__).resolve().parents[1] / "data" / "deploy"
ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()
OFFLINE = {"HF_HUB_OFFLINE": "1"}


def gate(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any], str]:
    result = runner.invoke(app, ["gate", *args, "--json"], env={**OFFLINE, **(env or {})})
    data = json.loads(result.stdout) if result.stdout.strip().startswith("{") else {}
    return result.exit_code, {d["name"]: d for d in data.get("deployments", [])}, result.stderr


# (file, --gpu) -> {deployment: (gate status, plan verdict, line of the deployment, line to change)}
REAL_FILES: dict[tuple[str, str], dict[str, tuple[str, str | None, int, int]]] = {
    # production-stack Helm values: one model planned, one the catalog does not hold (offline): its modelURL line
    ("production-stack-values-04-multiple-models.yaml", "a10g"): {
        "modelSpec/llama3": ("pass", "warn", 5, 5), "modelSpec/mistral": ("error", None, 19, 22)},
    # image v0.8.5 (vLLM 0.8.5), v0: "1" (VLLM_USE_V1=0), TP 2 on requestGPU 2, extraArgs --enforce-eager
    ("production-stack-values-25-v100-multi-gpu-tp2.yaml", "a10g"): {"modelSpec/qwen7b": ("pass", "ok", 24, 24)},
    # k8s: sh -c "vllm serve ..." in args
    ("vllm-docs-k8s-cpu.yaml", "l4"): {"Deployment/vllm-server": ("pass", "ok", 17, 17)},
    ("vllm-docs-k8s-gpu-mistral.yaml", "l4"): {"Deployment/mistral-7b": ("error", None, 29, 33)},
    ("nastp-k8s-deployment.yaml", "l4"): {"Deployment/vllm-deployment": ("error", None, 18, 22)},
    ("vllm-docs-lws.yaml", "h100"): {"LeaderWorkerSet/vllm": ("error", None, 17, 26)},
    ("kserve-huggingface-llama3.yaml", "l4"): {"InferenceService/huggingface-llama3": ("error", None, 9, 13)},
    # compose: folded command string to the image's entry point; a local model path not here
    ("nastp-docker-compose.yml", "l4"): {"service/vllm-server": ("error", None, 5, 16)},
    # shell: docker run vllm/vllm-openai ... args; utilisation 0.7 of an A10G leaves no KV cache: its line
    ("dagnaputra-serve_7b_model.sh", "a10g"): {"dagnaputra-serve_7b_model.sh:2": ("fail", "fail", 2, 7)},
    ("medical-rag-vlm_server.sh", "l4"): {"medical-rag-vlm_server.sh:4": ("pass", "ok", 4, 4)},
    # 0.34: explicit bf16 on a T4 fails, and 0.8 of it leaves no KV cache: the utilisation's line
    ("medical-rag-vlm_server.sh", "t4"): {"medical-rag-vlm_server.sh:4": ("fail", "fail", 4, 14)},
    ("wohimlee-launch_vllm.sh", "l4"): {"wohimlee-launch_vllm.sh:2": ("error", None, 2, 3)},
    # vllm serve --config vllm_config.yaml: the model is read from the config file
    ("pesticide/start_vllm_server.sh", "l4"): {"start_vllm_server.sh:12": ("error", None, 12, 12)},
    ("pesticide/vllm_config.yaml", "l4"): {"vllm_config.yaml": ("error", None, 1, 4)},
    # Dockerfile: CMD args to vllm/vllm-openai's own entry point
    ("bq1024-Dockerfile", "a10g"): {"bq1024-Dockerfile:5": ("pass", "ok", 5, 5)},
    ("bq1024-Dockerfile", "t4"): {"bq1024-Dockerfile:5": ("fail", "fail", 5, 5)},
    # api-for-open-llm .env (Qwen-7B-Chat: QWenLMHeadModel, in vLLM up to 0.23, so gated with --vllm-version
    # 0.23.0): just fits an A10G at the model's 8K (a warning; it failed while kvplan gave 0.23's in-place
    # FlashInfer/Triton sampler 20 B a logits element instead of the 14 B read, and the V1 runner's non-torch the
    # calibrated 0.67 GiB instead of 0.19's measured 0.25, kvplan.core.non_torch), starts on a 3090
    # (ok since a weight size counted from an unquantized config carries +- 1 %, kvplan.core.plan)
    ("api-for-open-llm/.env.vllm.example", "a10g"): {".env.vllm.example": ("pass", "ok", 6, 6)},
    ("api-for-open-llm/.env.vllm.example", "rtx3090"): {".env.vllm.example": ("pass", "ok", 6, 6)},
    ("api-for-open-llm-minicpm/.env", "a10g"): {".env": ("error", None, 6, 6)},
    # llm-d modelservice values (modelCommand vllmServe): decode and prefill, the model named on line 11
    ("llm-d/values-pd.yaml", "l4"): {"decode/vllm": ("error", None, 55, 11), "prefill/vllm": ("error", None, 94, 11)},
}


# Files whose model left vLLM before the default release: gated on a release that serves it (`gate --vllm-version`)
RELEASES = {"api-for-open-llm/.env.vllm.example": "0.23.0"}


@pytest.mark.parametrize("case", list(REAL_FILES), ids=lambda c: f"{c[0]}-{c[1]}")
def test_real_deploy_files(case: tuple[str, str]) -> None:
    name, gpu = case
    release = ("--vllm-version", RELEASES[name]) if name in RELEASES else ()
    code, results, _ = gate(str(DATA / name), "--gpu", gpu, *release)
    got = {n: (r["status"], r["verdict"], r["line"], r["value_line"]) for n, r in results.items()}
    assert got == REAL_FILES[case]
    statuses = {s for s, *_ in got.values()}
    assert code == (2 if "error" in statuses else 1 if "fail" in statuses else 0)
    for result in results.values():
        assert result["file"] == str(DATA / name)
        if result["status"] == "error":  # one line naming the file and line
            assert result["error"].startswith(f"{DATA / name}:") and "\n" not in result["error"]


def test_what_the_readers_take_from_real_files() -> None:
    helm = load_deploy_file(DATA / "production-stack-values-25-v100-multi-gpu-tp2.yaml")[0]
    assert helm.model == "Qwen/Qwen2.5-7B-Instruct" and helm.gpu_count == 2
    assert helm.settings == {"max_model_len": "8192", "dtype": "half", "tensor_parallel_size": 2,
                             "gpu_memory_utilization": 0.9, "enforce_eager": True, "enable_prefix_caching": False,
                             "vllm_use_v1": "0", "vllm_version": "0.8.5"}
    assert helm.lines["tensor_parallel_size"] == 47 and helm.lines["enforce_eager"] == 52
    lws = load_deploy_file(DATA / "vllm-docs-lws.yaml")[0]
    assert lws.gpu_count == 16 and lws.settings["pipeline_parallel_size"] == 2  # 8 GPUs a pod x group of 2
    env = load_deploy_file(DATA / "api-for-open-llm" / ".env.vllm.example")[0]
    assert env.model == "Qwen/Qwen-7B-Chat"
    assert env.settings == {"tensor_parallel_size": 1, "gpu_memory_utilization": 0.9, "dtype": "half",
                            "max_num_seqs": 256}  # api-for-open-llm's defaults are passed to vLLM
    docker = load_deploy_file(DATA / "bq1024-Dockerfile")[0]
    assert docker.settings["tensor_parallel_size"] == 4 and docker.settings["max_model_len"] == "8128"
    llm_d = load_deploy_file(DATA / "llm-d" / "values-pd.yaml")
    assert [(d.model, d.settings, d.gpu_count) for d in llm_d] == [
        ("facebook/opt-125m", {"enforce_eager": True}, 1)] * 2
    compose = load_deploy_file(DATA / "nastp-docker-compose.yml")[0]
    assert compose.settings == {"max_model_len": "8192", "vllm_version": "0.8.0"}
    assert compose.lines["max_model_len"] == 17


K8S = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: chat
spec:
  template:
    spec:
      nodeSelector:
        nvidia.com/gpu.product: NVIDIA-L4
      containers:
      - name: vllm
        image: vllm/vllm-openai:v0.10.1
        args:
        - --model=$(MODEL)
        - --tensor-parallel-size=2
        - --max-model-len=8192
        env:
        - name: MODEL
          value: Qwen/Qwen2.5-7B-Instruct
        resources:
          limits:
            nvidia.com/gpu: 1
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: small
spec:
  template:
    spec:
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
            - matchExpressions:
              - key: cloud.google.com/gke-accelerator
                operator: In
                values: [nvidia-tesla-t4]
      containers:
      - name: vllm
        image: vllm/vllm-openai:latest
        command: ["vllm", "serve", "Qwen/Qwen2.5-1.5B-Instruct", "--max-model-len", "{{ .Values.maxLen }}"]
"""


def test_kubernetes_gpu_product_count_and_template(tmp_path: Path) -> None:
    path = tmp_path / "written-k8s.yaml"
    path.write_text(K8S)
    deployments = load_deploy_file(path)
    assert [(d.name, d.gpu, d.gpu_count) for d in deployments] == [("Deployment/chat", "l4", 1),
                                                                   ("StatefulSet/small", None, None)]
    # the model is set by the env value it names ($(MODEL)): that is its line
    assert deployments[0].settings["vllm_version"] == "0.10.1" and deployments[0].lines["model"] == 18
    code, results, _ = gate(str(path))
    assert code == 1
    chat = results["Deployment/chat"]
    assert chat["status"] == "fail" and chat["value_line"] == 15  # the --tensor-parallel-size line
    assert "2 GPUs, but the deployment gets 1" in chat["reasons"][-1]
    small = results["StatefulSet/small"]  # unresolvable: fails (not unusable), naming the template and line
    assert small["status"] == "fail" and small["value_line"] == 42
    assert "{{ .Values.maxLen }}" in small["reasons"][0]


def test_kubernetes_manifest_written_as_json(tmp_path: Path) -> None:
    document = next(iter(yaml.safe_load_all((DATA / "vllm-docs-k8s-cpu.yaml").read_text())))
    path = tmp_path / "deploy.json"
    path.write_text(json.dumps(document, indent=2))
    code, results, _ = gate(str(path), "--gpu", "l4")
    assert code == 0 and results["Deployment/vllm-server"]["line"] == 22  # JSON is YAML: lines kept


COMPOSE = """services:
  qwen:
    image: vllm/vllm-openai:v0.11.0
    entrypoint: [
      "vllm", "serve", "${MODEL}",
      "--enable-prefix-caching", "--enable-chunked-prefill",
      "--gpu-memory-utilization", "0.98",
      "--max-model-len", "${CONTEXT:-32768}",
      "--enable-auto-tool-choice", "--tool-call-parser", "hermes"
    ]
    environment:
      - HUGGING_FACE_HUB_TOKEN=${HUGGINGFACE_TOKEN:?error}
    deploy:
      resources:
        reservations:
          devices:
            - driver: nvidia
              device_ids: ["0", "1"]
              capabilities: [gpu]
  web:
    image: nginx
"""


def test_compose_entrypoint_dotenv_and_devices(tmp_path: Path) -> None:
    """A service written as public compose files write vLLM (entrypoint list, ${VAR} from the .env beside it)."""
    (tmp_path / "docker-compose.yml").write_text(COMPOSE)
    (tmp_path / ".env").write_text("MODEL=Qwen/Qwen2.5-7B-Instruct\n")
    (deployment,) = load_deploy_file(tmp_path / "docker-compose.yml")
    assert deployment.name == "service/qwen" and deployment.gpu_count == 2
    # the model is set in the .env (another file: its messages name that file); the length on line 8
    assert "model" not in deployment.lines and deployment.lines["max_model_len"] == 8
    assert deployment.settings == {"enable_prefix_caching": True, "enable_chunked_prefill": True,
                                   "gpu_memory_utilization": 0.98, "max_model_len": "32768",
                                   "vllm_version": "0.11.0"}
    code, results, _ = gate(str(tmp_path / "docker-compose.yml"), "--gpu", "l4")
    assert code == 0 and results["service/qwen"]["status"] == "pass"


MANIFEST_YAML = """defaults:
  kv_cache_memory: 4GiB
deployment:
  - name: fits
    model: meta-llama/Llama-3.1-8B-Instruct
    max_model_len: 16384
  - name: too-long
    model: meta-llama/Llama-3.1-8B-Instruct
    max_model_len: 65536
  - name: templated
    model: meta-llama/Llama-3.1-8B-Instruct
    max_model_len: "{{ .Values.contextLength }}"
"""


def test_yaml_manifest_pass_fail_unresolvable_gives_exit_1_and_junit(tmp_path: Path) -> None:
    path = tmp_path / "deploy.yaml"
    path.write_text(MANIFEST_YAML)
    junit = tmp_path / "junit.xml"
    code, results, _ = gate(str(path), "--junit", str(junit))
    assert code == 1
    assert {n: r["status"] for n, r in results.items()} == {"fits": "pass", "too-long": "fail", "templated": "fail"}
    assert results["too-long"]["value_line"] == 9 and results["templated"]["value_line"] == 12
    suite = ET.parse(junit).getroot()
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["fits", "too-long", "templated"]
    assert suite.get("failures") == "2" and cases[1].get("line") == "9" and cases[1].get("file") == str(path)


def test_yaml_manifest_misspelt_key_is_one_line_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "deploy.yaml"
    path.write_text("deployment:\n  - name: a\n    model: meta-llama/Llama-3.1-8B-Instruct\n    max_model_lenn: 8192\n")
    result = runner.invoke(app, ["gate", str(path)], env=OFFLINE)
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"kvplan: error: {path}:4: deployment 1: unknown key 'max_model_lenn' (line 4) (did you mean "
        "'max_model_len')."]



def test_a_dotenv_line_with_spaces_around_the_equals_sign_is_read_as_python_dotenv_reads_it(tmp_path: Path) -> None:
    """`CONTEXT_LEN = 8192` is CONTEXT_LEN=8192 to python-dotenv (api-for-open-llm's loader); kvplan skipped the line
    and planned the model's 32,768."""
    env = tmp_path / ".env"
    env.write_text('export MODEL_PATH="Qwen/Qwen2.5-7B-Instruct"  # inline\nENGINE=\'vllm\'\nCONTEXT_LEN = 8192\n')
    deployments = load_deploy_file(env)
    assert deployments[0].settings["max_model_len"] == "8192" and deployments[0].lines["max_model_len"] == 3

def test_api_for_open_llm_env_with_gpu_gives_a_verdict_and_json() -> None:
    result = runner.invoke(app, ["gate", str(DATA / "api-for-open-llm" / ".env.vllm.example"), "--gpu", "a10g",
                                 "--vllm-version", "0.23.0", "--json"], env=OFFLINE)
    assert result.exit_code in (0, 1)
    data = json.loads(result.stdout)
    assert data["exit_code"] == result.exit_code and data["deployments"][0]["verdict"] in ("ok", "warn", "fail")


@pytest.mark.parametrize("text", ["a: !!python/object/apply:os.system ['echo hi']\n",
                                  "a: !!python/name:os.system\n", "a: !Ref b\n"])
def test_tags_that_construct_objects_are_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(UsageError, match="refused"):
        load_yaml_documents(text, "x.yaml")
    path = tmp_path / "x.yaml"
    path.write_text(text)
    result = runner.invoke(app, ["gate", str(path)])
    assert result.exit_code == 2 and "refused" in result.stderr and len(result.stderr.splitlines()) == 1


def test_huge_and_deeply_nested_files_are_refused_quickly(tmp_path: Path) -> None:
    huge = tmp_path / "huge.yaml"
    with huge.open("wb") as handle:  # 100 MB, sparse: refused by its size before a byte is read
        handle.truncate(100 * 2**20)
    deep = tmp_path / "deep.yaml"
    deep.write_text("a: " + "[" * 100_000 + "]" * 100_000 + "\n")
    nested = tmp_path / "nested.yaml"
    nested.write_text("".join(" " * i + f"k{i}:\n" for i in range(500)) + " " * 500 + "v: 1\n")
    for path, words in ((huge, "too large"), (deep, "nested deeper"), (nested, "nested deeper")):
        start = time.perf_counter()
        result = runner.invoke(app, ["gate", str(path)])
        assert result.exit_code == 2 and words in result.stderr, result.stderr
        assert time.perf_counter() - start < 5  # refused, not parsed (printed figures in benchmarks/)
    assert MAX_FILE_BYTES < 100 * 2**20



BILLION_LAUGHS = "".join(f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['x'] * 9)}]\n"
                         for prev, name in zip(["", *"abcdefgh"], "abcdefghi", strict=True))


@pytest.mark.parametrize("where", ["config", "gate"])
def test_a_billion_laughs_under_the_alias_count_is_refused_by_its_expansion(tmp_path: Path, where: str) -> None:
    """81 aliases (under MAX_ALIASES) that stand for 9^9 strings: `check -- vllm serve M --config bomb.yaml` hung
    (the --config reader formats each value it reads); now the loader refuses it by the values it expands to."""
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BILLION_LAUGHS + "max-model-len: 8192\nextra: *i\n")
    start = time.perf_counter()
    args = (["check", "--gpu", "h100", "--", "vllm", "serve", "Qwen/Qwen2.5-7B-Instruct", "--config", str(bomb)]
            if where == "config" else ["gate", str(bomb), "--gpu", "h100"])
    result = runner.invoke(app, args, env=OFFLINE)
    assert result.exit_code == 2 and "expand to more than 100,000 values" in result.stderr, result.output
    assert time.perf_counter() - start < 5
    shared = "base: &env [{name: A, value: '1'}, {name: B, value: '2'}]\nx: *env\ny: *env\n"
    assert load_yaml_documents(shared, "ok.yaml")[0]["y"][1]["value"] == "2"  # ordinary anchors still load

def test_github_annotations_and_step_summary(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    script = DATA / "dagnaputra-serve_7b_model.sh"
    result = runner.invoke(app, ["gate", str(script), "--gpu", "a10g", "--github"],
                           env={**OFFLINE, "GITHUB_STEP_SUMMARY": str(summary)})
    assert result.exit_code == 1
    errors = [line for line in result.stdout.splitlines() if line.startswith("::error ")]
    assert len(errors) == 1
    assert errors[0].startswith(f"::error file={script},line=7,title=kvplan gate%3A dagnaputra-serve_7b_model.sh%3A2::")
    assert "fix: " in errors[0]
    text = summary.read_text()
    assert text.startswith("earlier step\n") and "| dagnaputra-serve_7b_model.sh:2 | ❌ fail |" in text



def test_the_step_summary_is_never_a_file_being_gated(tmp_path: Path) -> None:
    """$GITHUB_STEP_SUMMARY naming the gated script had the markdown table appended to the script itself."""
    script = tmp_path / "serve.sh"
    script.write_text((DATA / "dagnaputra-serve_7b_model.sh").read_text())
    before = script.read_bytes()
    result = runner.invoke(app, ["gate", str(script), "--gpu", "a10g", "--github"],
                           env={**OFFLINE, "GITHUB_STEP_SUMMARY": str(script)})
    assert result.exit_code == 2 and "is a file being gated: not appended to" in result.stderr, result.output
    assert script.read_bytes() == before

def test_pre_commit_hook_runs_its_entry() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    hook = next(h for h in hooks if h["id"] == "kvplan-gate")
    assert hook["entry"].split()[:2] == ["kvplan", "gate"] and hook["pass_filenames"] is True
    import re

    files = [DATA / "medical-rag-vlm_server.sh", DATA / "bq1024-Dockerfile"]
    assert all(re.search(hook["files"], str(f.relative_to(ROOT))) for f in files)
    result = runner.invoke(app, [*hook["entry"].split()[1:], "--gpu", "l4", *map(str, files)], env=OFFLINE)
    assert result.exit_code == 0, result.output


def test_documented_github_actions_job_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    workflow = yaml.safe_load((ROOT / "docs" / "github-actions.yml").read_text())
    steps = workflow["jobs"]["gate"]["steps"]
    run = next(s["run"] for s in steps if "kvplan gate" in s.get("run", ""))
    args = run.split()[2:]
    files = [a for a in args if not a.startswith("-") and "/" in a]
    flags = [a for a in args if a not in files]
    # the job's own flags, on this repository's real files
    mine = [str(DATA / "vllm-docs-k8s-cpu.yaml"), str(DATA / "production-stack-values-25-v100-multi-gpu-tp2.yaml")]
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["gate", *mine, *flags], env=OFFLINE)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "kvplan-gate.xml").exists() and "::error" not in result.stdout


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 10**6), st.floats(allow_nan=True),
                     st.sampled_from(["vllm", "serve", "--model", "Qwen/Qwen2.5-7B-Instruct", "-tp", "2", "{{ .x }}",
                                      "${X}", "$(Y)", "nvidia.com/gpu", "sh", "-c", "vllm serve m --max-model-len 4k",
                                      "vllm/vllm-openai:v0.8.5", ""]))
_keys = st.sampled_from(["kind", "apiVersion", "spec", "template", "containers", "command", "args", "env", "name",
                         "value", "resources", "limits", "nvidia.com/gpu", "services", "image", "deploy",
                         "servingEngineSpec", "modelSpec", "modelURL", "vllmConfig", "extraArgs", "deployment",
                         "model", "max_model_len", "nodeSelector", "predictor", "leaderWorkerTemplate",
                         "leaderTemplate", "environment", "entrypoint", "requestGPU", "metadata"])
_trees = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(_keys, inner, max_size=5)), max_leaves=25)


@given(st.dictionaries(_keys, _trees, min_size=1, max_size=5))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_yaml_shape_is_deployments_or_one_usage_error(tmp_path: Path, tree: dict[str, Any]) -> None:
    """Whatever the YAML holds, the readers return deployments or raise one UsageError: no traceback."""
    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump(tree))
    try:
        found = load_deploy_file(path)
    except UsageError:
        return
    assert all(d.problem or d.model for d in found)


def _skeletons(leaf: Any) -> list[Any]:
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {"spec": {
            "nodeSelector": leaf, "containers": [{"name": "v", "image": "vllm/vllm-openai:v0.9.0", "args": leaf,
                                                  "env": leaf, "resources": leaf}]}}}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {"spec": {"containers": [
            {"command": ["vllm", "serve", "m", "--max-model-len", leaf], "resources": {"limits": {
                "nvidia.com/gpu": leaf}}, "env": [{"name": "X", "value": leaf}]}]}}}},
        {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet",
         "spec": {"leaderWorkerTemplate": {"size": leaf, "leaderTemplate": leaf}}},
        {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
         "spec": {"predictor": {"model": {"modelFormat": {"name": "huggingface"}, "args": leaf,
                                          "storageUri": leaf, "resources": leaf}}}},
        {"services": {"a": {"image": "vllm/vllm-openai", "command": leaf, "environment": leaf, "deploy": leaf}}},
        {"services": {"a": {"entrypoint": ["vllm", "serve", leaf], "deploy": {"resources": {"reservations": {
            "devices": leaf}}}}}},
        {"servingEngineSpec": {"modelSpec": [{"modelURL": "m", "vllmConfig": leaf, "requestGPU": leaf,
                                              "nodeSelectorTerms": leaf, "env": leaf}]}},
        {"deployment": [{"model": "meta-llama/Llama-3.1-8B-Instruct", "max_model_len": leaf}], "defaults": leaf},
        {"model": leaf, "max-model-len": leaf, "tensor-parallel-size": leaf, "speculative-config": leaf},
    ]


@given(_trees, st.integers(0, 8))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_value_in_a_known_shape_is_a_deployment_or_one_usage_error(tmp_path: Path, leaf: Any,
                                                                       which: int) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump(_skeletons(leaf)[which]))
    try:
        found = load_deploy_file(path)
    except UsageError:
        return
    from unittest import mock

    from kvplan.cli.gate import check_all

    with mock.patch.dict("os.environ", OFFLINE):
        for result in check_all(found):  # planning what was read raises nothing either
            assert result.status in ("pass", "fail", "error")


def test_gate_vllm_version_fills_only_files_that_name_no_release() -> None:
    """The .env names no release: at the default (0.34) vLLM no longer registers QWenLMHeadModel, which the
    deployment is refused for in vLLM's words; --vllm-version 0.23.0 plans it. A Helm file with an image tag keeps
    its own release."""
    code, results, _ = gate(str(DATA / "api-for-open-llm" / ".env.vllm.example"), "--gpu", "a10g")
    assert code == 2 and "QWenLMHeadModel" in results[".env.vllm.example"]["error"]
    code, results, _ = gate(str(DATA / "production-stack-values-25-v100-multi-gpu-tp2.yaml"), "--gpu", "a10g",
                            "--vllm-version", "0.23.0")
    assert results["modelSpec/qwen7b"]["status"] == "pass"
    assert load_deploy_file(DATA / "production-stack-values-25-v100-multi-gpu-tp2.yaml")[0].settings[
        "vllm_version"] == "0.8.5"
    result = runner.invoke(app, ["gate", str(DATA / "bq1024-Dockerfile"), "--vllm-version", "zero"])
    assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize("name, text", [
    ("deep.json", '{"deployment": ' + "[" * 100_000 + "]" * 100_000 + "}"),
    ("deep.toml", "a = " + "[" * 100_000 + "]" * 100_000),
    ("Dockerfile", "FROM vllm/vllm-openai:v0.9.2\nCMD " + "[" * 50_000 + "]" * 50_000),
    ("serve.sh", "vllm serve Qwen/Qwen2.5-7B-Instruct --speculative-config '" + "[" * 50_000 + "]" * 50_000 + "'"),
])
def test_deep_json_and_toml_brackets_are_one_short_line_not_a_traceback(tmp_path: Path, name: str, text: str) -> None:
    """json / tomllib recurse per bracket: 100,000 of them raised RecursionError, a traceback and exit 1."""
    path = tmp_path / name
    path.write_text(text)
    result = runner.invoke(app, ["gate", str(path), "--gpu", "h100", "--json"], env=OFFLINE)
    assert result.exit_code == 2, result.output[:500]
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output and len(result.output) < 5_000, result.output[:500]


@pytest.mark.parametrize("instruction, status", [
    ('CMD ["--model", "${MODEL}", "--max-model-len", "8192"]', "fail"),  # exec form: no shell, no substitution
    ('ENTRYPOINT ["vllm", "serve", "$MODEL"]', "fail"),
    ('ENTRYPOINT ["/bin/sh", "-c", "vllm serve $MODEL --max-model-len 8192"]', "pass"),  # a shell substitutes
    ("CMD vllm serve $MODEL --max-model-len 8192", "pass"),  # shell form
])
def test_dockerfile_exec_form_passes_variables_unexpanded(tmp_path: Path, instruction: str, status: str) -> None:
    """Docker substitutes no variable in an exec-form ENTRYPOINT/CMD (no shell runs): vLLM gets "${MODEL}" and
    fails on it. kvplan substituted the ENV value and passed the gate."""
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(f"FROM vllm/vllm-openai:v0.10.1\nENV MODEL=Qwen/Qwen2.5-7B-Instruct\n{instruction}\n")
    code, data, _ = gate(str(dockerfile), "--gpu", "h100")
    result = next(iter(data.values()))
    assert result["status"] == status, result
    if status == "fail":
        assert code == 1 and "runs no shell" in result["reasons"][0] and result["line"] == 3
