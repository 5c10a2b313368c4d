import { describe, expect, it } from "vitest";
import { MoestroError } from "../errors/index.js";
import { attemptsOf, FallbackRoutes, fallbackKindOf, withAttempts } from "./fallbacks.js";

const tooLong = new MoestroError("context_length_exceeded", "too long");
const down = new MoestroError("upstream_failed", "every upstream failed", { retryAfterSeconds: 1 });
const unknown = new MoestroError("model_not_found", "no such model");

describe("fallbackKindOf", () => {
  it("reads the kind of fallback an error calls for, and none for the request's own faults", () => {
    expect(fallbackKindOf(tooLong)).toBe("context");
    for (const code of ["model_not_found", "upstream_failed", "upstream_timeout", "upstream_rate_limited", "server_busy"] as const)
      expect(fallbackKindOf(new MoestroError(code, "x"))).toBe("unavailable");
    expect(fallbackKindOf(new MoestroError("invalid_request", "x"))).toBeUndefined();
    expect(fallbackKindOf(new MoestroError("insufficient_quota", "x"))).toBeUndefined();
    expect(fallbackKindOf(new Error("plain"))).toBeUndefined();
  });

  it("carries the attempts a pool made on its error", () => {
    expect(attemptsOf(withAttempts(new MoestroError("upstream_failed", "x"), 3))).toBe(3);
    expect(attemptsOf(new Error("x"))).toBe(1);
  });
});

describe("FallbackPlan", () => {
  const routes = new FallbackRoutes({
    pools: {
      small: { contextFallbacks: ["long"], fallbacks: ["backup", "other"], localWeight: 2 },
      backup: { fallbacks: ["small", "spare"] },
      long: { fallbacks: ["long-backup"] },
      a: { fallbacks: ["b"] },
      b: { fallbacks: ["a"] },
      s: { fallbacks: ["b"] },
    },
    aliases: { short: "small", s: "a" },
    maxFallbacks: 3,
  });

  it("goes to the longer-context model on context_length_exceeded, to the fallback pools when unavailable", () => {
    expect(routes.plan("small").next("small", tooLong)).toBe("long");
    expect(routes.plan("small").next("small", down)).toBe("backup");
    expect(routes.plan("small").next("small", unknown)).toBe("backup");
    expect(routes.plan("small").next("small", new MoestroError("invalid_request", "x"))).toBeUndefined();
    expect(routes.plan("nothing").next("nothing", down)).toBeUndefined();
  });

  it("reads rules through aliases, both ways", () => {
    expect(routes.plan("short").next("short", down)).toBe("backup");
    // An alias's model id learned once served: its rules apply.
    const plan = routes.plan("short");
    expect(plan.next("short", tooLong, "small")).toBe("long");
    expect(routes.localWeight("short")).toBe(2);
    expect(routes.localWeight("small")).toBe(2);
    expect(routes.localWeight("other")).toBe(1);
  });

  it("never tries a model twice: A → B → A stops", () => {
    const plan = routes.plan("a");
    expect(plan.next("a", down)).toBe("b");
    expect(plan.next("b", down)).toBeUndefined();
    expect(plan.tried).toEqual(["a", "b"]);
    // The same through an alias: s is a.
    const viaAlias = routes.plan("s");
    expect(viaAlias.next("s", down)).toBe("b");
    expect(viaAlias.next("b", down)).toBeUndefined();
  });

  it("tries a failed fallback's own fallbacks first, then the ones waiting, at most maxFallbacks", () => {
    const plan = routes.plan("small");
    expect(plan.next("small", down)).toBe("backup");
    // backup's own: small (tried) is skipped, spare comes before small's other.
    expect(plan.next("backup", down)).toBe("spare");
    expect(plan.next("spare", down)).toBe("other");
    expect(plan.taken).toBe(3);
    expect(plan.tried).toEqual(["small", "backup", "spare", "other"]);
    expect(plan.next("other", down)).toBeUndefined();
    const bounded = new FallbackRoutes({ pools: { x: { fallbacks: ["y", "z"] } }, maxFallbacks: 1 }).plan("x");
    expect(bounded.next("x", down)).toBe("y");
    expect(bounded.next("y", down)).toBeUndefined();
  });

  it("moves from a context fallback that is down to its own fallbacks", () => {
    const plan = routes.plan("small");
    expect(plan.next("small", tooLong)).toBe("long");
    expect(plan.next("long", down)).toBe("long-backup");
  });
});
