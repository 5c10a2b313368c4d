#!/usr/bin/env bash
# Builds llama-server (CPU only) from the llama.cpp source that node-llama-cpp ships as a git bundle, so the benchmark
# compares the same llama.cpp commit. Output: $OUT/src/build/bin/llama-server. How long
# it takes: docs/bench.md#npm-run-benchserve-llama-server-direct-moestro-with-a-worker-moestro-in-process.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${OUT:-/tmp/llama-build}"
mkdir -p "$OUT"
[ -d "$OUT/src" ] || git clone -q "$root/node_modules/node-llama-cpp/llama/gitRelease.bundle" "$OUT/src"
cd "$OUT/src"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON
cmake --build build --target llama-server -j "$(nproc)"
echo "built $OUT/src/build/bin/llama-server"
