#!/usr/bin/env bash
# Build the payload that lets a lent GPU machine (torch 2.11.0+cu130, Python 3.12, no network) run vLLM 0.26.0,
# the newest release pinned to torch 2.11.0. Run here, from the repository root; it writes two ~57 MB parts into
# .gpu1/ and .gpu2/ (ignored), because one device call carries at most 64 MiB. See README.md beside this file.
set -euo pipefail
root=$(pwd); work=${GPU_PROBE_WORK:-/tmp/kvplan-gpu-probe}
mkdir -p "$work" && cd "$work"
plat=(--python-version 3.12 --implementation cp --abi cp312 --only-binary=:all:)
for n in 2_17 2_24 2_27 2_28 2_31 2_34 2_35 2_5 2_12; do plat+=(--platform "manylinux_${n}_x86_64"); done
plat+=(--platform manylinux2014_x86_64 --platform manylinux1_x86_64)
pip download -q --no-deps "${plat[@]}" -d wheels vllm==0.26.0
# vLLM's dependencies that the machine lacks (its package list: .library/device/KINDS.md), resolved for it.
pip install -q --dry-run --ignore-installed "${plat[@]}" --target /tmp/kvplan-gpu-resolve --report report.json \
    -r "$root/tools/gpu_probe/vllm-0.26-extra-requirements.txt" cachetools typer==0.28.0
python3 - "$root/tools/gpu_probe/device-packages.txt" <<'PY' > need.txt
import json, re, sys
have = set(open(sys.argv[1]).read().split())
skip = {"torch", "triton", "cryptography", "anthropic", "rignore", "fastar", "sentry-sdk", "supervisor", "cffi",
        "pycparser", "fastapi-cloud-cli", "agent-detector", "detect-installer", "pyjwt", "mcp", "mcp-types",
        "dnspython", "email-validator"}  # not imported on the LLM path (checked by importing it)
for item in json.load(open("report.json"))["install"]:
    name = re.sub(r"[-_.]+", "-", item["metadata"]["name"].lower())
    if name not in have and name not in skip and not name.startswith(("nvidia-", "cuda-")):
        print(f"{name}=={item['metadata']['version']}")
PY
rm -rf deps && pip download -q --no-deps "${plat[@]}" -d deps -r need.txt
# Slim vLLM: FlashAttention 3 stays (Hopper); FA2, the MoE kernels and sources for other chips go.
rm -rf slim && mkdir slim && (cd slim && unzip -q ../wheels/vllm-0.26.0-*.whl)
(cd slim/vllm && rm -f vllm_flash_attn/_vllm_fa2_C.abi3.so vllm-rs _moe_C_stable_libtorch.abi3.so \
    third_party/deep_gemm/_C.cpython-31[0134]-*.so && rm -rf third_party/fmha_sm100 third_party/deep_gemm/include \
    entrypoints/serve/instrumentator/static)
rm -rf pay && mkdir -p pay/wheels && cp deps/*.whl pay/wheels/
tar -C slim -cf - vllm vllm-0.26.0.dist-info | xz -T0 -6 > pay/vllm-slim.tar.xz
tar -C pay -cf payload.tar . && split -n 2 -d payload.tar part
mkdir -p "$root/.gpu1" "$root/.gpu2" && mv part00 "$root/.gpu1/" && mv part01 "$root/.gpu2/"
grep -qx '/.gpu[12]/' "$root/.git/info/exclude" 2>/dev/null || printf '/.gpu1/\n/.gpu2/\n' >> "$root/.git/info/exclude"
ls -la "$root/.gpu1" "$root/.gpu2"
