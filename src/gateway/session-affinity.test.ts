import { describe, expect, it } from "vitest";
import { keepsAffinity, rendezvousMember, SessionAffinity, sessionOf } from "./session-affinity.js";

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

describe("rendezvousMember", () => {
  const members = [
    { name: "a", weight: 1 },
    { name: "b", weight: 1 },
    { name: "c", weight: 2 },
  ];
  const sessions = Array.from({ length: 4000 }, (_, index) => `chat-${index}`);

  it("gives each member a share of the sessions near its share of the weight", () => {
    const counts = new Map<string, number>();
    for (const session of sessions) {
      const { name } = rendezvousMember("m", session, members);
      counts.set(name, (counts.get(name) ?? 0) + 1);
    }
    // Expected 1000, 1000, 2000; a binomial's standard deviation here is about 27 to 32.
    expect(counts.get("a")).toBeGreaterThan(880);
    expect(counts.get("a")).toBeLessThan(1120);
    expect(counts.get("b")).toBeGreaterThan(880);
    expect(counts.get("b")).toBeLessThan(1120);
    expect(counts.get("c")).toBeGreaterThan(1850);
    expect(counts.get("c")).toBeLessThan(2150);
  });

  it("depends only on the names: the same answer in any order, and a leaving member moves only its own sessions", () => {
    const reversed = [...members].reverse();
    const withoutB = members.filter((member) => member.name !== "b");
    for (const session of sessions.slice(0, 500)) {
      const chosen = rendezvousMember("m", session, members);
      expect(rendezvousMember("m", session, reversed)).toBe(chosen);
      if (chosen.name !== "b") expect(rendezvousMember("m", session, withoutB)).toBe(chosen);
    }
    // The pool is part of the hash: one session spreads differently in two pools.
    const differs = sessions
      .slice(0, 200)
      .some((session) => rendezvousMember("m", session, members) !== rendezvousMember("n", session, members));
    expect(differs).toBe(true);
    expect(() => rendezvousMember("m", "s", [])).toThrow(RangeError);
  });
});
