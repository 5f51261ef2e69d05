#!/usr/bin/env bash
# Device call 1 (carry .gpu1): keep the first part outside the work tree, where the next call finds it.
mkdir -p /root/stage && cp .gpu1/part* /root/stage/ && ls -la /root/stage
