#!/usr/bin/env bash
# Device call 2 (carry .gpu2, within 30 s of call 1): unpack vLLM, then run each "NAME FLAGS..." line of
# tools/gpu_probe/runs.txt through `kvplan probe`, writing NAME.json and NAME.log; after each run they are packed
# again into $OUT/runs.tgz (a call returns 8 files at most, and a call cut off at its limit keeps what is there).
set -u
S=$OUT/setup.txt R=/tmp/probe-runs
mkdir -p "$R"
{ cp .gpu2/part* /root/stage/ && cat /root/stage/part* > /root/stage/payload.tar
  mkdir -p /tmp/site && tar -xf /root/stage/payload.tar -C /root/stage
  xz -dc /root/stage/vllm-slim.tar.xz | tar -x -C /tmp/site
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site /root/stage/wheels/*.whl
} > "$S" 2>&1
# FlashInfer is not in the payload: vLLM 0.26's V2 sampler imports it unless told not to.
export VLLM_USE_FLASHINFER_SAMPLER=0 PYTHONPATH=/tmp/site HF_HUB_OFFLINE=1 VLLM_NO_USAGE_STATS=1 PYTHONUNBUFFERED=1
python3 -c "import vllm; from vllm.platforms import current_platform as p; print('vllm', vllm.__version__, p.is_cuda())" >> "$S" 2>&1
started=${GPU_PROBE_FROM:+no}  # GPU_PROBE_FROM=NAME: skip the lines before that run (a second call)
while read -r name limit args; do
  [ -z "$name" ] || [ "${name:0:1}" = "#" ] && continue
  [ "$name" = "${GPU_PROBE_FROM:-}" ] && started=yes
  [ "$started" = no ] && continue
  if [ $((SECONDS + limit)) -gt "${GPU_PROBE_BUDGET_S:-470}" ]; then echo "skip $name" | tee -a "$S"; continue; fi
  # shellcheck disable=SC2086
  timeout $((limit + 15)) python3 -m kvplan probe $args --load-format dummy --vllm-python "$(command -v python3)" \
      --timeout "$limit" --json --log-file "$R/$name.log" > "$R/$name.json" 2>> "$S" < /dev/null
  echo "$name rc $? at ${SECONDS}s" | tee -a "$S"
  tar -C "$R" -czf "$OUT/runs.tgz" .
done < tools/gpu_probe/runs.txt
