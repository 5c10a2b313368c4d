import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { EngineTimeClock } from "./engine-time.js";

describe("EngineTimeClock", () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["performance"] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("charges a step alone its whole duration, and n batched decode steps the duration divided by n", () => {
    const clock = new EngineTimeClock();
    const alone = clock.begin(1);
    vi.advanceTimersByTime(10);
    expect(clock.end(alone, 1)).toBeCloseTo(10);
    const marks = [clock.begin(1), clock.begin(1), clock.begin(1), clock.begin(1)];
    vi.advanceTimersByTime(20);
    const charged = marks.map((mark) => clock.end(mark, 1));
    for (const share of charged) expect(share).toBeCloseTo(5);
  });

  it("shares overlapping steps by weight, and the charges add up to the busy time", () => {
    const clock = new EngineTimeClock();
    // A prompt of 8 tokens runs alone for 4 ms, then beside a one-token decode step for 9 ms; then idle; then a decode.
    const prefill = clock.begin(8);
    vi.advanceTimersByTime(4);
    const decode = clock.begin(1);
    vi.advanceTimersByTime(9);
    const prefillShare = clock.end(prefill, 8);
    const decodeShare = clock.end(decode, 1);
    vi.advanceTimersByTime(100);
    const later = clock.begin(1);
    vi.advanceTimersByTime(2);
    const laterShare = clock.end(later, 1);
    expect(prefillShare).toBeCloseTo(4 + 8);
    expect(decodeShare).toBeCloseTo(1);
    expect(laterShare).toBeCloseTo(2);
    // Busy 4 + 9 + 2 ms; the idle 100 ms is nobody's.
    expect(prefillShare + decodeShare + laterShare).toBeCloseTo(15);
  });
});
