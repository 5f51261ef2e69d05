#!/usr/bin/env bash
# Device call 2 (carry .gpu2, within 30 s of call 1): unpack vLLM, then run each "NAME FLAGS..." line of
# tools/gpu_probe/runs.txt through `kvplan probe`, writing NAME.json and NAME.log under $OUT (8 files at most).
set -u
S=$OUT/setup.txt
{ cp .gpu2/part* /root/stage/ && cat /root/stage/part* > /root/stage/payload.tar
  mkdir -p /tmp/site && tar -xf /root/stage/payload.tar -C /root/stage
  xz -dc /root/stage/vllm-slim.tar.xz | tar -x -C /tmp/site
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site /root/stage/wheels/*.whl
} > "$S" 2>&1
# FlashInfer is not in the payload: vLLM 0.26's V2 sampler imports it unless told not to.
export VLLM_USE_FLASHINFER_SAMPLER=0 PYTHONPATH=/tmp/site HF_HUB_OFFLINE=1 VLLM_NO_USAGE_STATS=1 PYTHONUNBUFFERED=1
python3 -c "import vllm; from vllm.platforms import current_platform as p; print('vllm', vllm.__version__, p.is_cuda())" >> "$S" 2>&1
while read -r name limit args; do
  [ -z "$name" ] || [ "${name:0:1}" = "#" ] && continue
  if [ $((SECONDS + limit)) -gt "${GPU_PROBE_BUDGET_S:-470}" ]; then echo "skip $name" | tee -a "$S"; continue; fi
  # shellcheck disable=SC2086
  timeout $((limit + 15)) python3 -m kvplan probe $args --load-format dummy --vllm-python "$(command -v python3)" \
      --timeout "$limit" --json --log-file "$OUT/$name.log" > "$OUT/$name.json" 2>> "$S" < /dev/null
  echo "$name rc $? at ${SECONDS}s" | tee -a "$S"
done < tools/gpu_probe/runs.txt
