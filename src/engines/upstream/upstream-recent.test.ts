import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { UpstreamTarget } from "./upstream-target.js";

const logger = pino({ level: "silent" });

describe("UpstreamTarget.info: the error rate and median latency of its latest attempts (for the console)", () => {
  it("counts answers whole and failures (429s included), and takes the median of its times to the first event", () => {
    const target = new UpstreamTarget({
      entry: { name: "gpu1", url: "http://127.0.0.1:9/v1", weight: 1, timeoutMs: 1000, answerTimeoutMs: 600_000, kind: "vllm" },
      rules: { ejectAfterFailures: 3, cooldownMs: 1000 },
      logger,
      now: () => 0,
    });
    expect(target.info()).toMatchObject({ recentAttempts: 0, recentErrorRate: undefined, latencyP50Ms: undefined });
    for (const latencyMs of [30, 10, 20]) {
      target.recordLatency(latencyMs);
      target.recordSuccess();
    }
    target.recordFailure("answered 502");
    target.recordRateLimited(1);
    expect(target.info()).toMatchObject({ recentAttempts: 5, recentErrorRate: 0.4, latencyP50Ms: 20, errorsTotal: 2 });
    target.close();
  });
});
