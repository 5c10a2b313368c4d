import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { pino } from "pino";
import { MoestroError } from "../errors/index.js";
import type { ModelBackend } from "../spec/index.js";
import type { ModelEntry } from "../spec/index.js";
import { ModelScheduler } from "./model-scheduler.js";

const MiB = 1024 * 1024;

/** A fake backend: enough for the scheduler (it only reads info and stats, and disposes). */
function fakeBackend(id: string, disposed: string[]): ModelBackend {
  return {
    info: { id } as ModelBackend["info"],
    engine: () => ({ kind: "inproc", placement: { description: "CPU only", gpuLayers: 0, cpuMoeLayers: 0 } }),
    stats: () => ({ sequencesInUse: 0, queuedRequests: 0, activeGenerations: 0, generatedTokensTotal: 0 }),
    generate: () => Promise.reject(new Error("not used")),
    embed: () => Promise.reject(new Error("not used")),
    dispose: async () => void disposed.push(id),
  };
}

// Case ids in test names (C25…) are the compatibility cases listed in docs/compat-cases.md.
describe("ModelScheduler (fake loader, memory probe and clock)", () => {
  const entries: ModelEntry[] = [
    { id: "a", path: "/a.gguf", source: "config", aliases: ["alpha"] },
    { id: "b", path: "/b.gguf", source: "config" },
    { id: "huge", path: "/huge.gguf", source: "store" },
  ];
  const sizes: Record<string, number> = { a: 600 * MiB, b: 600 * MiB, huge: 5000 * MiB };
  let loaded: string[];
  let disposed: string[];
  let scheduler: ModelScheduler;

  beforeEach(() => {
    vi.useFakeTimers();
    loaded = [];
    disposed = [];
    scheduler = new ModelScheduler({
      loadModel: async (entry) => {
        loaded.push(entry.id);
        return fakeBackend(entry.id, disposed);
      },
      estimateMemoryBytes: async (entry) => sizes[entry.id]!,
      listEntries: async () => entries,
      maxMemoryBytes: 1000 * MiB,
      defaultKeepAliveMs: 60_000,
      logger: pino({ level: "silent" }),
      now: () => Date.now(),
    });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("loads on first use, reuses the loaded model, and finds it by alias", async () => {
    const first = await scheduler.acquire("a");
    first.release();
    const second = await scheduler.acquire("alpha");
    second.release();
    expect(loaded).toEqual(["a"]);
    expect(scheduler.loadCount).toBe(1);
  });

  it("counts a loaded model's estimate less the memory its backend freed since (a worker that backed off its draft)", async () => {
    let releasedBytes = 0;
    const withDraft = { ...fakeBackend("a", disposed), releasedMemoryBytes: () => releasedBytes };
    const local = new ModelScheduler({
      loadModel: async (entry) => (entry.id === "a" ? withDraft : fakeBackend(entry.id, disposed)),
      estimateMemoryBytes: async (entry) => sizes[entry.id]!,
      listEntries: async () => entries,
      maxMemoryBytes: 1000 * MiB,
      logger: pino({ level: "silent" }),
    });
    const busy = await local.acquire("a");
    expect(local.listLoaded()[0]!.memoryBytes).toBe(600 * MiB);
    // The draft leaves the estimate: b fits beside the busy model, without waiting for it.
    releasedBytes = 300 * MiB;
    expect(local.listLoaded()[0]!.memoryBytes).toBe(300 * MiB);
    const b = await local.acquire("b");
    expect(local.listLoaded().map((model) => model.id)).toEqual(["a", "b"]);
    b.release();
    busy.release();
    await local.dispose();
  });

  it("loads a model once for concurrent requests that arrive while it loads", async () => {
    const leases = await Promise.all([scheduler.acquire("a"), scheduler.acquire("a"), scheduler.acquire("a")]);
    expect(loaded).toEqual(["a"]);
    expect(scheduler.listLoaded()[0]!.activeRequests).toBe(3);
    for (const lease of leases) lease.release();
  });

  it("unloads an idle model when its keep-alive expires, never while it is in use", async () => {
    const lease = await scheduler.acquire("a");
    await vi.advanceTimersByTimeAsync(120_000);
    expect(disposed).toEqual([]);
    lease.release();
    expect(scheduler.listLoaded()[0]!.expiresAtMs).toBe(Date.now() + 60_000);
    await vi.advanceTimersByTimeAsync(59_000);
    expect(disposed).toEqual([]);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(disposed).toEqual(["a"]);
    expect(scheduler.listLoaded()).toEqual([]);
  });

  it("honours keep_alive per request: 0 unloads after the request, a negative one keeps the model", async () => {
    (await scheduler.acquire("a", { keepAliveMs: 0 })).release();
    await vi.advanceTimersByTimeAsync(1);
    expect(disposed).toEqual(["a"]);
    (await scheduler.acquire("b", { keepAliveMs: -1 })).release();
    await vi.advanceTimersByTimeAsync(24 * 3600_000);
    expect(scheduler.listLoaded().map((model) => model.id)).toEqual(["b"]);
  });

  it("load keeps the model for its keep-alive and returns it; with keep-alive 0 it unloads it again and returns undefined", async () => {
    const info = await scheduler.load("a", { keepAliveMs: 30_000 });
    expect(info).toMatchObject({ id: "a", activeRequests: 0, expiresAtMs: Date.now() + 30_000 });
    expect(await scheduler.load("b", { keepAliveMs: 0 })).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(disposed).toEqual(["a", "b"]);
    expect(scheduler.listLoaded()).toEqual([]);
  });

  it("keeps a model loaded when its keep-alive is past what a timer holds, from the config or a request", async () => {
    // Node fires a timer whose delay is over 2^31 - 1 ms after 1 ms: such a keep-alive would unload the model at once.
    const delays: number[] = [];
    const forever = new ModelScheduler({
      loadModel: async (entry) => fakeBackend(entry.id, disposed),
      estimateMemoryBytes: async () => MiB,
      listEntries: async () => entries,
      maxMemoryBytes: 1000 * MiB,
      defaultKeepAliveMs: 2 ** 31,
      logger: pino({ level: "silent" }),
      setTimer: (callback, delayMs) => {
        delays.push(delayMs);
        return setTimeout(callback, delayMs);
      },
    });
    (await forever.acquire("a")).release();
    (await forever.acquire("b", { keepAliveMs: 30 * 24 * 3600_000 })).release();
    (await forever.acquire("huge", { keepAliveMs: 2 ** 31 - 1 })).release();
    expect(delays).toEqual([2 ** 31 - 1]);
    await vi.advanceTimersByTimeAsync(3600_000);
    expect(disposed).toEqual([]);
    expect(forever.listLoaded().map((model) => [model.id, model.expiresAtMs === null])).toEqual([
      ["a", true],
      ["b", true],
      ["huge", false],
    ]);
  });

  it("evicts the idle model to load another under a budget that fits one", async () => {
    (await scheduler.acquire("a")).release();
    (await scheduler.acquire("b")).release();
    expect(disposed).toEqual(["a"]);
    expect(scheduler.listLoaded().map((model) => model.id)).toEqual(["b"]);
  });

  it("waits for a busy model to finish before evicting it (C25), and the waiting request then succeeds", async () => {
    const busy = await scheduler.acquire("a");
    let gotB = false;
    const waiting = scheduler.acquire("b").then((lease) => {
      gotB = true;
      return lease;
    });
    await vi.advanceTimersByTimeAsync(10);
    expect(gotB).toBe(false);
    expect(disposed).toEqual([]);
    busy.release();
    (await waiting).release();
    expect(gotB).toBe(true);
    expect(disposed).toEqual(["a"]);
  });

  it("refuses a model too big for the budget, naming the memory, and keeps serving the others", async () => {
    const lease = await scheduler.acquire("a");
    const error = (await scheduler.acquire("huge").catch((caught: unknown) => caught)) as MoestroError;
    expect(error).toBeInstanceOf(MoestroError);
    expect(error.code).toBe("insufficient_memory");
    expect(error.message).toMatch(/4\.88 GiB.*1000 MiB/);
    expect(scheduler.listLoaded().map((model) => model.id)).toEqual(["a"]);
    lease.release();
  });

  it("fails a request for an unknown model with model_not_found", async () => {
    await expect(scheduler.acquire("nope")).rejects.toMatchObject({ code: "model_not_found" });
  });

  it("fails the requests waiting on a load that fails, with its reason, and loads again on the next request", async () => {
    let fail = true;
    const failing = new ModelScheduler({
      loadModel: async (entry) => {
        if (fail) throw new Error("corrupt file");
        return fakeBackend(entry.id, disposed);
      },
      estimateMemoryBytes: async () => MiB,
      listEntries: async () => entries,
      maxMemoryBytes: 1000 * MiB,
      logger: pino({ level: "silent" }),
    });
    const results = await Promise.allSettled([failing.acquire("a"), failing.acquire("a")]);
    expect(results.map((result) => result.status)).toEqual(["rejected", "rejected"]);
    fail = false;
    (await failing.acquire("a")).release();
    expect(failing.loadCount).toBe(1);
  });

  it("unloads on request, at once when idle", async () => {
    (await scheduler.acquire("a")).release();
    expect(await scheduler.unload("a")).toBe(true);
    expect(disposed).toEqual(["a"]);
    expect(await scheduler.unload("a")).toBe(false);
  });
});
