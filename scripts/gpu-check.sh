#!/usr/bin/env bash
# GPU check of the planner (issue 16, "GPU check"): on a bare NVIDIA machine with the CUDA compiler, CMake, git and
# Python 3.8+ with numpy, but no Node and no network, it
#   1. clones the llama.cpp source that node-llama-cpp bundles (gitRelease.bundle) and applies its patches;
#   2. builds llama-server with CUDA for this GPU's architecture alone (static, no web UI, target llama-server only);
#   3. generates a random-weight Qwen3-MoE of Qwen3-30B-A3B's shape with 16 layers (scripts/gpu-check/make-moe.py,
#      with the bundle's gguf-py);
#   4. starts llama-server with the worker arguments that `moestro plan --json` chose on the CPU machine for a 5 GiB
#      GPU budget, which keeps the routed experts of 4 of the 16 layers in RAM (--n-cpu-moe 4):
#      scripts/gpu-check/plan.json;
#   5. prints GPU memory used (nvidia-smi) against the plan's estimate, which must be within 15% (the exit code says
#      so), and predicted against measured decode tokens/s (streamed /completion of 128 tokens).
# Everything is in docs/planner.md#gpu-check, with how plan.json was made and how to remake it.
#
# Usage: scripts/gpu-check.sh [LLAMA_DIR]
#   LLAMA_DIR holds gitRelease.bundle and patches/ (node-llama-cpp's llama/ folder, 34 MB). Defaults to
#   scripts/gpu-check/llama when it exists (copy it there to carry it to a machine without node_modules), else
#   node_modules/node-llama-cpp/llama.
# Environment:
#   GPU_CHECK_WORK     scratch folder for the source, build, model and logs (default /tmp/moestro-gpu-check); a
#                      finished build there is reused
#   GPU_CHECK_JOBS     build jobs (default 16)
#   GPU_CHECK_TOKENS   tokens per timed completion (default 128)
#   GPU_CHECK_DRY_RUN  1: no CUDA build and no nvidia-smi; serve with GPU_CHECK_LLAMA_SERVER (a CPU build, which
#                      ignores -ngl and --n-cpu-moe) to check the clone, the generator, the plan's arguments and the
#                      measurement on a machine without a GPU
#   GPU_CHECK_LLAMA_SERVER  a llama-server to use instead of building one
#   GPU_CHECK_EXTRA_ARGS    llama-server arguments appended to the plan's (llama-server takes the last of a repeated
#                      flag); the dry run defaults to "-t 1", since the plan's -t 15 is for the 16-core GPU machine
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
here="$root/scripts/gpu-check"
work="${GPU_CHECK_WORK:-/tmp/moestro-gpu-check}"
jobs="${GPU_CHECK_JOBS:-16}"
tokens="${GPU_CHECK_TOKENS:-128}"
dry_run="${GPU_CHECK_DRY_RUN:-0}"
if [ $# -ge 1 ]; then
  llama_dir="$1"
elif [ -f "$here/llama/gitRelease.bundle" ]; then
  llama_dir="$here/llama"
else
  llama_dir="$root/node_modules/node-llama-cpp/llama"
fi
started=$(date +%s)
step() { echo "gpu-check [$(($(date +%s) - started)) s]: $*"; }
fail() { echo "gpu-check: $*" >&2; exit 2; }

[ -f "$llama_dir/gitRelease.bundle" ] ||
  fail "no gitRelease.bundle in $llama_dir; pass node-llama-cpp's llama/ folder (or a copy of its gitRelease.bundle and patches/) as the first argument"
command -v git >/dev/null || fail "git is needed to clone the bundle"
command -v python3 >/dev/null || fail "python3 (with numpy) is needed to generate the model"
python3 -c "import numpy" 2>/dev/null || fail "python3 has no numpy; install it (pip install numpy) and run again"
if [ "$dry_run" != 1 ]; then
  command -v nvidia-smi >/dev/null || fail "nvidia-smi not found: this check needs an NVIDIA GPU (GPU_CHECK_DRY_RUN=1 runs it without one)"
  if [ -z "${GPU_CHECK_LLAMA_SERVER:-}" ]; then
    command -v cmake >/dev/null || fail "cmake is needed to build llama-server"
    command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ] || fail "nvcc (the CUDA compiler) not found; add /usr/local/cuda/bin to PATH"
  fi
fi
mkdir -p "$work"

# 1. The bundled source, at the commit the in-process engine runs, with node-llama-cpp's patches.
if [ ! -d "$work/src/.git" ]; then
  step "cloning $llama_dir/gitRelease.bundle"
  rm -rf "$work/src"
  git clone -q "$llama_dir/gitRelease.bundle" "$work/src" 2>/dev/null
  for patch in "$llama_dir"/patches/*.diff; do
    [ -e "$patch" ] || continue
    git -C "$work/src" apply "$patch" || fail "patch $patch does not apply to the bundle's source"
  done
fi

# 2. llama-server with CUDA for this GPU only (CMAKE_CUDA_ARCHITECTURES=native builds one architecture, which is what
#    keeps the build within minutes on 16 cores). Offline: no prebuilt web UI download, no OpenSSL.
if [ -n "${GPU_CHECK_LLAMA_SERVER:-}" ]; then
  server="$GPU_CHECK_LLAMA_SERVER"
elif [ "$dry_run" = 1 ]; then
  fail "GPU_CHECK_DRY_RUN=1 needs GPU_CHECK_LLAMA_SERVER, a llama-server built for the CPU (scripts/build-llama-server.sh)"
else
  server="$work/build/bin/llama-server"
  if [ ! -x "$server" ]; then
    step "building llama-server with CUDA (-j $jobs), log in $work/build.log"
    [ -x /usr/local/cuda/bin/nvcc ] && export PATH="/usr/local/cuda/bin:$PATH"
    {
      cmake -S "$work/src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
        -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=native -DGGML_NATIVE=ON \
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON \
        -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF &&
        cmake --build "$work/build" --target llama-server -j "$jobs"
    } >"$work/build.log" 2>&1 || fail "the CUDA build failed; see $work/build.log"
  fi
fi
"$server" --version 2>&1 | sed 's/^/gpu-check: /' | head -3

# 3. The model, with the bundle's gguf-py.
model="$work/gpu-check-moe.gguf"
if [ ! -f "$model" ]; then
  step "generating the model"
  PYTHONPATH="$work/src/gguf-py" python3 "$here/make-moe.py" "$model.part"
  mv "$model.part" "$model"
fi

# 4 and 5. The plan's worker arguments, GPU memory and decode.
step "starting llama-server with the plan's arguments"
check_args=(--plan "$here/plan.json" --model "$model" --server "$server" --log "$work/llama-server.log" --tokens "$tokens")
extra="${GPU_CHECK_EXTRA_ARGS-}"
if [ "$dry_run" = 1 ]; then
  check_args+=(--dry-run)
  extra="${GPU_CHECK_EXTRA_ARGS--t 1}"
fi
[ -n "$extra" ] && check_args+=(--extra-args "$extra")
status=0
python3 "$here/check.py" "${check_args[@]}" || status=$?
[ "$dry_run" != 1 ] && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | sed 's/^/gpu-check: GPU: /'
step "done (exit $status)"
exit "$status"
