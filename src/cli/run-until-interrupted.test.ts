import { afterEach, describe, expect, it, vi } from "vitest";
import { runUntilInterrupted } from "./run-until-interrupted.js";

/** Work that ends only when its signal aborts, as runServingBench and runEval do. */
const untilAborted = (signal: AbortSignal) =>
  new Promise<string>((_resolve, reject) => signal.addEventListener("abort", () => reject(signal.reason), { once: true }));

describe("runUntilInterrupted", () => {
  afterEach(() => {
    process.exitCode = undefined;
    vi.restoreAllMocks();
  });

  it("returns the work's result and leaves no SIGINT listener behind", async () => {
    const listeners = process.listenerCount("SIGINT");
    const onEnd = vi.fn();
    await expect(runUntilInterrupted(async () => "done", { prefix: "moestro x", message: "x", onEnd })).resolves.toBe("done");
    expect(onEnd).toHaveBeenCalledOnce();
    expect(process.listenerCount("SIGINT")).toBe(listeners);
  });

  it("on Ctrl-C aborts the work, says so on stderr after onEnd, and sets exit code 130", async () => {
    const writes: string[] = [];
    const order: string[] = [];
    vi.spyOn(process.stderr, "write").mockImplementation((text) => {
      writes.push(String(text));
      order.push("message");
      return true;
    });
    const running = runUntilInterrupted(untilAborted, { prefix: "moestro x", message: "interrupted", onEnd: () => order.push("end") });
    process.emit("SIGINT");
    await expect(running).resolves.toBeUndefined();
    expect(writes).toEqual(["moestro x: interrupted\n"]);
    expect(order).toEqual(["end", "message"]);
    expect(process.exitCode).toBe(130);
  });

  it("with --json, says so as the JSON error line of a failed command", async () => {
    const writes: string[] = [];
    vi.spyOn(process.stderr, "write").mockImplementation((text) => {
      writes.push(String(text));
      return true;
    });
    const running = runUntilInterrupted(untilAborted, { prefix: "moestro x", message: "interrupted", json: true });
    process.emit("SIGINT");
    await expect(running).resolves.toBeUndefined();
    expect(writes.map((text) => JSON.parse(text))).toEqual([
      { error: { message: "interrupted", code: "interrupted", type: "invalid_request_error", param: null } },
    ]);
    expect(process.exitCode).toBe(130);
  });

  it("rethrows any other failure", async () => {
    const failing = runUntilInterrupted(
      async () => {
        throw new Error("boom");
      },
      { prefix: "moestro x", message: "x" },
    );
    await expect(failing).rejects.toThrow("boom");
    expect(process.exitCode).toBeUndefined();
  });
});
