import { describe, expect, it } from "vitest";
import { keepsAffinity, SessionAffinity, sessionOf } from "./session-affinity.js";

describe("SessionAffinity", () => {
  it("remembers the member of each session per model, forgets the least recently used past maxSessions", () => {
    const affinity = new SessionAffinity({ maxSessions: 2, ttlMs: 60_000, now: () => 0 });
    affinity.remember("m", "s1", "a");
    affinity.remember("m", "s2", "b");
    expect(affinity.memberOf("m", "s1")).toBe("a");
    expect(affinity.memberOf("other", "s1")).toBeUndefined();
    // s1 is served again after s2: s2 is now the least recently used, and goes first.
    affinity.remember("m", "s1", "a");
    affinity.remember("m", "s3", "c");
    expect(affinity.size).toBe(2);
    expect(affinity.memberOf("m", "s2")).toBeUndefined();
    expect(affinity.memberOf("m", "s1")).toBe("a");
    expect(affinity.memberOf("m", "s3")).toBe("c");
  });

  it("forgets a session not used for ttlMs", () => {
    let nowMs = 0;
    const affinity = new SessionAffinity({ maxSessions: 10, ttlMs: 1000, now: () => nowMs });
    affinity.remember("m", "s", "a");
    nowMs = 1000;
    expect(affinity.memberOf("m", "s")).toBe("a");
    nowMs = 2001;
    expect(affinity.memberOf("m", "s")).toBeUndefined();
    expect(affinity.size).toBe(0);
  });
});

describe("keepsAffinity and sessionOf", () => {
  it("keeps a session on its member until it is more than maxLoadRatio times as loaded as the least", () => {
    expect(keepsAffinity(1, 1, 2)).toBe(true);
    expect(keepsAffinity(2, 1, 2)).toBe(true);
    expect(keepsAffinity(3, 1, 2)).toBe(false);
  });

  it("names the session by the header, else the user field when allowed", () => {
    expect(sessionOf("abc", "alice", true)).toBe("abc");
    expect(sessionOf(undefined, "alice", true)).toBe("alice");
    expect(sessionOf(undefined, "alice", false)).toBeUndefined();
    expect(sessionOf("", 42, true)).toBeUndefined();
    expect(sessionOf("x".repeat(1000), undefined, true)).toHaveLength(256);
  });
});
