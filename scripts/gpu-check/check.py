#!/usr/bin/env python3
"""Starts llama-server with the worker arguments of `moestro plan --json` and checks the plan's GPU memory and decode.

Called by scripts/gpu-check.sh (read it first); Python 3.8+ standard library only, so it runs on a bare GPU machine
without Node or network. It
1. reads plan.json (`workerArgs`, `placement.gpu.totalBytes`, `decodeTokensPerSecond`) and replaces the `-m` path
   with the model generated on this machine;
2. starts llama-server on 127.0.0.1 and waits for /health;
3. reads the GPU memory the server process holds (nvidia-smi --query-compute-apps, which includes the CUDA context)
   and the CUDA buffers llama.cpp logs (model, KV, compute; started with -lv 4 for them), against the plan's GPU
   estimate; the check fails when nvidia-smi's figure is more than 15%
   away from the estimate;
4. streams /completion of `--tokens` tokens three times (the first as warm-up) and takes decode tokens/s from the
   server's own timings (`timings.predicted_per_second`) and from the stream's arrival times;
5. prints a table and exits 0 when the memory check passes, 1 when it fails, 2 when the server did not start.

With --dry-run (GPU_CHECK_DRY_RUN=1 in gpu-check.sh) there is no nvidia-smi: the memory line says so and only the
server's start and the decode are checked (a CPU build ignores -ngl and --n-cpu-moe, so the figures are the CPU's).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

MEMORY_TOLERANCE = 0.15


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, process: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama-server exited with code {process.returncode} before it was ready")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"llama-server was not ready within {timeout_s:.0f} s")


def gpu_memory_bytes(pid: int) -> int | None:
    """GPU memory nvidia-smi reports for the process, bytes; None when it lists no such process."""
    output = subprocess.run(
        ["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    for line in output.splitlines():
        parts = [part.strip() for part in line.split(",")]
        if len(parts) == 2 and parts[0] == str(pid):
            return int(parts[1]) * 2**20
    return None


def logged_buffers(log: str) -> dict[str, dict[str, float]]:
    """The buffers llama.cpp logs at load ("CUDA0 model buffer size = 4101.00 MiB", "CPU_Mapped model buffer size"),
    MiB by device, then by kind (model, KV, compute, RS, output). They are logged at verbosity 4 (-lv 4)."""
    buffers: dict[str, dict[str, float]] = {}
    for device, kind, mib in re.findall(r"(\S+) +(model|KV|compute|RS|output) buffer size\s*=\s*([\d.]+) MiB", log):
        kinds = buffers.setdefault(device, {})
        kinds[kind] = kinds.get(kind, 0.0) + float(mib)
    return buffers


def stream_completion(url: str, tokens: int) -> tuple[float, float, int]:
    """Streams one /completion; returns (server's predicted tokens/s, tokens/s from arrival times, tokens received)."""
    body = json.dumps(
        {"prompt": "Once upon a time", "n_predict": tokens, "ignore_eos": True, "temperature": 0, "stream": True, "cache_prompt": False}
    ).encode()
    request = urllib.request.Request(f"{url}/completion", data=body, headers={"Content-Type": "application/json"})
    arrivals: list[float] = []
    server_rate = float("nan")
    with urllib.request.urlopen(request, timeout=600) as response:
        for raw in response:
            line = raw.decode().strip()
            if not line.startswith("data: "):
                continue
            event = json.loads(line[len("data: ") :])
            if event.get("content") or event.get("tokens"):
                arrivals.append(time.monotonic())
            if event.get("stop"):
                server_rate = float(event.get("timings", {}).get("predicted_per_second", float("nan")))
    # The first token closes the prefill; the decode rate is over the tokens after it.
    stream_rate = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0]) if len(arrivals) > 1 else float("nan")
    return server_rate, stream_rate, len(arrivals)


def main() -> int:
    parser = argparse.ArgumentParser(description="Check a plan's GPU memory and decode speed against llama-server.")
    parser.add_argument("--plan", required=True, help="the plan JSON of `moestro plan --json`")
    parser.add_argument("--model", required=True, help="the GGUF to serve, in place of the plan's -m")
    parser.add_argument("--server", required=True, help="the llama-server binary")
    parser.add_argument("--log", required=True, help="where llama-server's output goes")
    parser.add_argument("--tokens", type=int, default=128, help="tokens per streamed completion (default 128)")
    parser.add_argument("--dry-run", action="store_true", help="no GPU: skip nvidia-smi")
    parser.add_argument("--extra-args", default="", help="llama-server arguments appended to the plan's, space-separated")
    parser.add_argument("--ready-timeout-s", type=float, default=180.0)
    args = parser.parse_args()

    plan = json.load(open(args.plan))
    worker_args = list(plan["workerArgs"])
    if not worker_args:
        print(f"gpu-check: the plan does not fit ({plan.get('reason')}); regenerate scripts/gpu-check/plan.json", file=sys.stderr)
        return 2
    worker_args[worker_args.index("-m") + 1] = args.model
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # -lv 4: llama.cpp's own info lines (the buffer sizes) are logged at "trace" in llama-server.
    command = [args.server, *worker_args, *args.extra_args.split(), "-lv", "4", "--host", "127.0.0.1", "--port", str(port)]
    print("gpu-check: " + " ".join(command), flush=True)
    with open(args.log, "w") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        try:
            wait_healthy(url, process, args.ready_timeout_s)
        except RuntimeError as error:
            print(f"gpu-check: {error}; its log: {args.log}", file=sys.stderr)
            return 2
        log = open(args.log, errors="replace").read()
        buffers = logged_buffers(log)
        estimate = plan["placement"]["gpu"]["totalBytes"] if plan["placement"].get("gpu") else 0
        used = None if args.dry_run else gpu_memory_bytes(process.pid)

        stream_completion(url, min(16, args.tokens))  # warm-up: CUDA graphs, caches
        runs = [stream_completion(url, args.tokens) for _ in range(2)]
        server_rate = max(run[0] for run in runs)
        stream_rate = max(run[1] for run in runs)
        predicted = plan["decodeTokensPerSecond"]

        gib = 2**30
        print()
        print(f"plan: {plan['placement']['description']}")
        print(f"{'':34}{'plan':>12}{'measured':>12}{'measured/plan':>15}")
        if used is None:
            print(f"{'GPU memory (nvidia-smi)':34}{estimate / gib:>8.2f} GiB{'-':>12}{'-':>15}  (dry run: no GPU)")
        else:
            print(f"{'GPU memory (nvidia-smi)':34}{estimate / gib:>8.2f} GiB{used / gib:>8.2f} GiB{used / estimate:>15.3f}")
        gpu_buffers = {kind: mib for device, kinds in buffers.items() if device.startswith("CUDA") for kind, mib in kinds.items()}
        if gpu_buffers:
            logged = sum(gpu_buffers.values()) * 2**20
            detail = ", ".join(f"{kind} {mib:.0f} MiB" for kind, mib in gpu_buffers.items())
            print(f"{'GPU buffers (llama.cpp log)':34}{estimate / gib:>8.2f} GiB{logged / gib:>8.2f} GiB{logged / estimate:>15.3f}  ({detail})")
        for device, kinds in buffers.items():
            print(f"gpu-check: {device} buffers: " + ", ".join(f"{kind} {mib:.0f} MiB" for kind, mib in kinds.items()))
        print(f"{'decode tok/s (server timings)':34}{predicted:>12.1f}{server_rate:>12.1f}{server_rate / predicted:>15.3f}")
        print(f"{'decode tok/s (stream arrivals)':34}{predicted:>12.1f}{stream_rate:>12.1f}{stream_rate / predicted:>15.3f}")
        if used is None:
            print("gpu-check: dry run passed (the server started with the plan's arguments and decoded)")
            return 0
        ratio = used / estimate
        if abs(ratio - 1) <= MEMORY_TOLERANCE:
            print(f"gpu-check: GPU memory within {MEMORY_TOLERANCE:.0%} of the plan: pass")
            return 0
        print(f"gpu-check: GPU memory {ratio:.3f}× the plan, more than {MEMORY_TOLERANCE:.0%} away: FAIL")
        return 1
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main())
