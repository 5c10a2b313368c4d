import http from "node:http";
import type { AddressInfo } from "node:net";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { parseRetryAfterSeconds } from "../http/upstream-client.js";
import { UpstreamGateway } from "./upstream-gateway.js";
import { parseModelList, type UpstreamTarget } from "./upstream-target.js";

const logger = pino({ level: "silent" });
const rules = {
  maxAttempts: 3,
  ejectAfterFailures: 2,
  cooldownMs: 1000,
  healthCheckIntervalMs: 5000,
  loadPollIntervalMs: 1000,
  modelsRefreshMs: 60_000,
  maxFallbacks: 2,
  affinity: { enabled: false, header: "x-session-id", userField: true, maxSessions: 100, ttlMs: 60_000, maxLoadRatio: 2 },
};
const entry = (name: string, weight = 1) => ({
  name,
  url: `http://127.0.0.1:9/${name}/v1`,
  models: ["m"],
  weight,
  timeoutMs: 1000,
  answerTimeoutMs: 600_000,
  kind: "vllm" as const,
});

describe("parseModelList", () => {
  it("reads ids and the context window where vLLM, llama-server or others give one", () => {
    const text = JSON.stringify({
      data: [
        { id: "a", max_model_len: 32768 },
        { id: "b", meta: { n_ctx_train: 4096 } },
        { id: "c", context_length: 8192 },
        { id: "d" },
        { id: "" },
      ],
    });
    expect(parseModelList(text)).toEqual([
      { id: "a", contextTokens: 32768 },
      { id: "b", contextTokens: 4096 },
      { id: "c", contextTokens: 8192 },
      { id: "d" },
    ]);
    expect(() => parseModelList('{"object":"list"}')).toThrow(/list/);
  });
});

describe("parseRetryAfterSeconds", () => {
  it("reads seconds and HTTP dates", () => {
    expect(parseRetryAfterSeconds("30")).toBe(30);
    expect(parseRetryAfterSeconds(new Date(10_000 + 5_000).toUTCString(), 10_000)).toBe(5);
    expect(parseRetryAfterSeconds(undefined)).toBeUndefined();
    expect(parseRetryAfterSeconds("soon")).toBeUndefined();
  });
});

describe("UpstreamGateway.next (least outstanding requests per unit of weight)", () => {
  it("takes turns between idle upstreams, prefers the less loaded per weight, and skips the tried and the ejected", () => {
    let nowMs = 0;
    const gateway = new UpstreamGateway({ upstreams: [entry("a"), entry("b")], rules, logger, now: () => nowMs });
    const [a, b] = gateway.targets;
    const picks = [0, 1, 2, 3].map(() => gateway.next("m", new Set())!.name);
    expect(picks.sort()).toEqual(["a", "a", "b", "b"]);
    const endA = a!.begin();
    expect(gateway.next("m", new Set())).toBe(b);
    expect(gateway.next("m", new Set([b!]))).toBe(a);
    endA();
    // Two failures in a row eject a for its cooldown; b gets everything meanwhile.
    a!.recordFailure("refused");
    a!.recordFailure("refused");
    expect(a!.info().state).toBe("ejected");
    expect([0, 1, 2].map(() => gateway.next("m", new Set())!.name)).toEqual(["b", "b", "b"]);
    // After the cooldown one trial may go to it; a success re-admits it.
    nowMs += 1000;
    expect(a!.isAvailable()).toBe(true);
    a!.recordLatency(5);
    expect(a!.info().state).toBe("ejected");
    a!.recordSuccess();
    expect(a!.info()).toMatchObject({ state: "healthy", consecutiveFailures: 0, latencyMs: 5 });
    gateway.dispose();
  });

  it("weights the load: an upstream of weight 3 takes about three times the requests in flight", () => {
    const gateway = new UpstreamGateway({ upstreams: [entry("small"), entry("big", 3)], rules, logger });
    const ends: Array<() => void> = [];
    const counts = new Map<string, number>();
    for (let index = 0; index < 8; index++) {
      const target = gateway.next("m", new Set())!;
      ends.push((target as UpstreamTarget).begin());
      counts.set(target.name, (counts.get(target.name) ?? 0) + 1);
    }
    // 6 and 2, give or take the turn that breaks a tie.
    expect(counts.get("big")).toBeGreaterThanOrEqual(5);
    expect(counts.get("small")).toBeGreaterThanOrEqual(1);
    expect(counts.get("big")! + counts.get("small")!).toBe(8);
    for (const end of ends) end();
    gateway.dispose();
  });

  it("leaves a rate-limited upstream out until its Retry-After has passed, without ejecting it", () => {
    let nowMs = 0;
    const gateway = new UpstreamGateway({ upstreams: [entry("a"), entry("b")], rules, logger, now: () => nowMs });
    const [a, b] = gateway.targets;
    a!.recordRateLimited(2);
    expect(a!.info().state).toBe("healthy");
    expect([0, 1].map(() => gateway.next("m", new Set()))).toEqual([b, b]);
    // Every member unavailable: the one available soonest is the last resort.
    expect(gateway.next("m", new Set([b!]))).toBe(a);
    // An ejected upstream goes before a rate-limited one, which would only answer 429 again.
    b!.recordFailure("refused");
    b!.recordFailure("refused");
    expect(b!.isAvailable()).toBe(false);
    expect(gateway.next("m", new Set())).toBe(b);
    nowMs += 2000;
    expect(a!.isAvailable()).toBe(true);
    gateway.dispose();
  });

  it("refuses two upstreams of one name and an apiKeyEnv that is not set", () => {
    expect(() => new UpstreamGateway({ upstreams: [entry("a"), entry("a")], rules, logger })).toThrow(/two upstreams are named 'a'/);
    expect(
      () => new UpstreamGateway({ upstreams: [{ ...entry("a"), apiKeyEnv: "NO_SUCH_KEY_VARIABLE" }], rules, logger, env: {} }),
    ).toThrow(/NO_SUCH_KEY_VARIABLE/);
  });
});

describe("UpstreamGateway.next with session affinity", () => {
  const withAffinity = { ...rules, affinity: { ...rules.affinity, enabled: true } };

  it("sends a session back to its member, leaves it when that member is ejected or much more loaded", () => {
    const nowMs = 0;
    const gateway = new UpstreamGateway({ upstreams: [entry("a"), entry("b")], rules: withAffinity, logger, now: () => nowMs });
    const [a, b] = gateway.targets;
    gateway.rememberSession("m", "chat-1", b!);
    // Idle pool: the session sticks to b, where turns alone would alternate.
    expect([0, 1, 2, 3].map(() => gateway.next("m", new Set(), [], "chat-1")!.name)).toEqual(["b", "b", "b", "b"]);
    // b one request busier than a: within the ratio (2 <= 1 x 2), still b.
    const ends = [b!.begin()];
    expect(gateway.next("m", new Set(), [], "chat-1")).toBe(b);
    // Two busier (3 > 2): balancing decides.
    ends.push(b!.begin());
    expect(gateway.next("m", new Set(), [], "chat-1")).toBe(a);
    for (const end of ends) end();
    expect(gateway.next("m", new Set(), [], "chat-1")).toBe(b);
    // Ejected, or already tried for this request: the other.
    b!.recordFailure("refused");
    b!.recordFailure("refused");
    expect(gateway.next("m", new Set(), [], "chat-1")).toBe(a);
    expect(gateway.next("m", new Set([b!]), [], "chat-1")).toBe(a);
    // Counted at each request's first choice only (not the failover's, with b already tried): 6 hits (the idle four,
    // the one within the ratio, the one after), 2 moved (too loaded, ejected).
    expect(gateway.affinityOutcomes).toEqual({ hit: 6, moved: 2, new: 0 });
    // A session not remembered is new; a request with no session is not counted.
    gateway.next("m", new Set(), [], "chat-2");
    gateway.next("m", new Set());
    expect(gateway.affinityOutcomes).toEqual({ hit: 6, moved: 2, new: 1 });
    gateway.dispose();
  });

  it("sends a session no instance remembers to the same member from two gateways, within the load ratio", () => {
    const first = new UpstreamGateway({ upstreams: [entry("a"), entry("b"), entry("c")], rules: withAffinity, logger });
    const second = new UpstreamGateway({ upstreams: [entry("c"), entry("a"), entry("b")], rules: withAffinity, logger });
    const sessions = Array.from({ length: 60 }, (_, index) => `chat-${index}`);
    const names = (gateway: UpstreamGateway) => sessions.map((session) => gateway.next("m", new Set(), [], session)!.name);
    const chosen = names(first);
    expect(names(second)).toEqual(chosen);
    // Spread over the members (balancing alone would alternate the same way on both only by chance).
    expect(new Set(chosen).size).toBe(3);
    // A member more than maxLoadRatio times as loaded as the least is left out: its sessions go elsewhere.
    const [a] = first.targets;
    const ends = [a!.begin(), a!.begin()];
    expect(names(first).filter((name) => name === "a")).toEqual([]);
    for (const end of ends) end();
    expect(first.affinityOutcomes.new).toBe(120);
    first.dispose();
    second.dispose();
  });

  it("ignores sessions when affinity is off", () => {
    const gateway = new UpstreamGateway({ upstreams: [entry("a"), entry("b")], rules, logger });
    gateway.rememberSession("m", "chat-1", gateway.targets[1]!);
    expect(gateway.hasAffinity).toBe(false);
    expect([0, 1, 2, 3].map(() => gateway.next("m", new Set(), [], "chat-1")!.name).sort()).toEqual(["a", "a", "b", "b"]);
    expect(gateway.affinityOutcomes).toEqual({ hit: 0, moved: 0, new: 0 });
    gateway.dispose();
  });
});

describe("UpstreamGateway.next with the upstreams' own queues (their /metrics)", () => {
  it("counts the requests waiting in a vLLM upstream's queue, from a fresh reading only", async () => {
    // Two small HTTP servers stand in for vLLM (none can run here): each answers /metrics in vLLM's format.
    const queues = { a: 5, b: 0 };
    const servers = await Promise.all(
      (["a", "b"] as const).map(
        (name) =>
          new Promise<http.Server>((resolve) => {
            const server = http.createServer((request, response) => {
              response.writeHead(request.url === "/metrics" ? 200 : 404, { "content-type": "text/plain" });
              response.end(
                `# TYPE vllm:num_requests_waiting gauge\nvllm:num_requests_waiting{model_name="m"} ${queues[name]}\n` +
                  `# TYPE vllm:kv_cache_usage_perc gauge\nvllm:kv_cache_usage_perc{model_name="m"} 0.5\n`,
              );
            });
            server.listen(0, "127.0.0.1", () => resolve(server));
          }),
      ),
    );
    try {
      let nowMs = 0;
      const upstreams = servers.map((server, index) => ({
        ...entry(index === 0 ? "a" : "b"),
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
      }));
      const gateway = new UpstreamGateway({ upstreams, rules, logger, now: () => nowMs });
      const [a, b] = gateway.targets;
      await Promise.all(gateway.targets.map((target) => target.readLoad()));
      expect(a!.info()).toMatchObject({ queued: 5, kvCacheUsage: 0.5 });
      // b has 4 requests of ours in flight, a has 5 waiting of others': b still has fewer.
      const ends = [0, 1, 2, 3].map(() => b!.begin());
      expect(gateway.next("m", new Set())).toBe(b);
      ends.push(b!.begin(), b!.begin());
      expect(gateway.next("m", new Set())).toBe(a);
      // A reading older than loadFreshMs no longer counts: a's queue is unknown, so a (0 in flight) wins.
      for (const end of ends.splice(0, 5)) end();
      queues.a = 0;
      nowMs += 10_000;
      expect(a!.queued).toBe(0);
      expect(gateway.next("m", new Set())).toBe(a);
      gateway.dispose();
    } finally {
      for (const server of servers) server.close();
    }
  });
});
