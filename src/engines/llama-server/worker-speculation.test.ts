import { describe, expect, it } from "vitest";
import { AcceptanceWatch, StreamDraftCounts, resolveWorkerSpeculation, workerLookupPatternTokens } from "./worker-speculation.js";

describe("resolveWorkerSpeculation", () => {
  const model = { id: "m", isRecurrentOrHybrid: false, blockCount: 24 };
  const cpu = { gpuLayers: 0, cpuMoeLayers: 0 };

  it("prompt lookup: a 3-token pattern (no longer than the draft) and the in-process default draft length (3) unless set", () => {
    expect(resolveWorkerSpeculation({ type: "ngram" }, model, cpu)).toEqual({
      speculation: { type: "ngram", maxDraftTokens: 3, patternTokens: workerLookupPatternTokens },
    });
    expect(resolveWorkerSpeculation({ type: "ngram", maxDraftTokens: 8 }, model, cpu).speculation).toMatchObject({
      maxDraftTokens: 8,
      patternTokens: 3,
    });
    // ngram-simple never drafts fewer tokens than its pattern's length.
    expect(resolveWorkerSpeculation({ type: "ngram", maxDraftTokens: 2 }, model, cpu).speculation).toMatchObject({ patternTokens: 2 });
  });

  it("a draft model: in-process defaults (16 tokens, confidence 0); on the GPU only when the whole target is", () => {
    const draft = { type: "draft" as const, draftModel: "d.gguf" };
    expect(resolveWorkerSpeculation(draft, model, cpu).speculation).toEqual({
      type: "draft",
      draftModelPath: "d.gguf",
      maxDraftTokens: 16,
      minConfidence: 0,
      gpuLayers: 0,
    });
    expect(resolveWorkerSpeculation(draft, model, { gpuLayers: 25, cpuMoeLayers: 0 }).speculation).toMatchObject({ gpuLayers: "all" });
    // Experts in RAM, or some layers on the CPU: the GPU is full, the draft stays in RAM.
    expect(resolveWorkerSpeculation(draft, model, { gpuLayers: 25, cpuMoeLayers: 10 }).speculation).toMatchObject({ gpuLayers: 0 });
    expect(resolveWorkerSpeculation(draft, model, { gpuLayers: 12, cpuMoeLayers: 0 }).speculation).toMatchObject({ gpuLayers: 0 });
  });

  it("not applied, with a warning, on recurrent or hybrid models and with byDefault false", () => {
    const recurrent = resolveWorkerSpeculation({ type: "ngram" }, { ...model, isRecurrentOrHybrid: true }, cpu);
    expect(recurrent.speculation).toBeUndefined();
    expect(recurrent.warning).toMatch(/recurrent or hybrid/);
    const optIn = resolveWorkerSpeculation({ type: "ngram", byDefault: false }, model, cpu);
    expect(optIn.speculation).toBeUndefined();
    expect(optIn.warning).toMatch(/byDefault is false/);
    expect(resolveWorkerSpeculation(undefined, model, cpu)).toEqual({});
  });
});

describe("AcceptanceWatch", () => {
  it("backs off once, on the first window of drafted tokens accepted below minAcceptance, and then ignores the rest", () => {
    const backOffs: Array<{ acceptance: number; draftTokens: number }> = [];
    const watch = new AcceptanceWatch({
      modelId: "m",
      minAcceptance: 0.3,
      windowTokens: 100,
      warn: () => expect.unreachable("backOff is on: no warning"),
      onBackOff: (window, message) => {
        expect(message).toMatch(
          /switched off on model 'm'.*0 of its last 120 drafted tokens accepted \(0%, below minAcceptance 0\.3\).*restarted without speculation/,
        );
        backOffs.push(window);
      },
    });
    // A good window (40%): nothing.
    expect(watch.record(60, 24)).toBeUndefined();
    expect(watch.record(40, 16)).toBeUndefined();
    // A partial window, however bad, decides nothing yet.
    expect(watch.record(50, 0)).toBeUndefined();
    expect(watch.backedOff).toBe(false);
    // The window closes below the threshold (a generation's counts are added whole: 120 tokens).
    expect(watch.record(70, 0)).toBe("back-off");
    expect(backOffs).toEqual([{ model: "m", acceptance: 0, draftTokens: 120, acceptedDraftTokens: 0 }]);
    expect(watch.backedOff).toBe(true);
    // Spent: later windows change nothing.
    expect(watch.record(500, 0)).toBeUndefined();
    expect(backOffs).toHaveLength(1);
  });

  it("defaults to backing off over windows of 512 drafted tokens; minAcceptance 0 never backs off", () => {
    let backedOff = 0;
    // Fields given as undefined (unset config keys) take their defaults.
    const watch = new AcceptanceWatch({
      modelId: "m",
      minAcceptance: 0.3,
      windowTokens: undefined,
      backOff: undefined,
      warn: () => undefined,
      onBackOff: () => backedOff++,
    });
    expect(watch.record(0, 0)).toBeUndefined();
    expect(watch.record(511, 0)).toBeUndefined();
    expect(watch.record(1, 0)).toBe("back-off");
    expect(backedOff).toBe(1);
    const never = new AcceptanceWatch({
      modelId: "m",
      minAcceptance: 0,
      windowTokens: 10,
      warn: () => undefined,
      onBackOff: () => backedOff++,
    });
    for (let index = 0; index < 5; index++) expect(never.record(10, 0)).toBeUndefined();
    expect(backedOff).toBe(1);
  });

  it("backOff false: warns instead, at most once per interval, and keeps watching", () => {
    let nowMs = 0;
    const warnings: Array<{ acceptance: number; draftTokens: number }> = [];
    const watch = new AcceptanceWatch({
      modelId: "m",
      minAcceptance: 0.3,
      windowTokens: 100,
      backOff: false,
      warnEveryMs: 1000,
      warn: (window, message) => {
        expect(message).toMatch(/slowing model 'm' down.*speculative\.backOff is false/);
        warnings.push(window);
      },
      onBackOff: () => expect.unreachable("backOff is off"),
      now: () => nowMs,
    });
    // A good window (40%): nothing.
    watch.record(60, 24);
    watch.record(40, 16);
    expect(warnings).toEqual([]);
    // A bad one (10%): one warning, with the window's figures.
    expect(watch.record(100, 10)).toBe("warn");
    expect(warnings).toEqual([{ model: "m", acceptance: 0.1, draftTokens: 100, acceptedDraftTokens: 10 }]);
    // Another bad one within the interval: quiet; after it: again.
    expect(watch.record(100, 0)).toBeUndefined();
    expect(warnings).toHaveLength(1);
    nowMs = 1000;
    expect(watch.record(150, 0)).toBe("warn");
    expect(warnings).toHaveLength(2);
    expect(watch.backedOff).toBe(false);
  });
});

describe("StreamDraftCounts", () => {
  it("turns a stream's running draft_n and draft_n_accepted into what each step added, once per step", () => {
    const counts = new StreamDraftCounts();
    // No timings, or none drafted yet (llama-server leaves the fields out until a token was drafted).
    expect(counts.advance(undefined)).toBeUndefined();
    expect(counts.advance({})).toBeUndefined();
    expect(counts.advance({ draft_n: 16, draft_n_accepted: 3 })).toEqual({ draftTokens: 16, acceptedDraftTokens: 3 });
    // The step's other tokens repeat its figures: nothing new.
    expect(counts.advance({ draft_n: 16, draft_n_accepted: 3 })).toBeUndefined();
    expect(counts.advance({ draft_n: 32, draft_n_accepted: 3 })).toEqual({ draftTokens: 16, acceptedDraftTokens: 0 });
    expect({ draftTokens: counts.draftTokens, acceptedDraftTokens: counts.acceptedDraftTokens }).toEqual({
      draftTokens: 32,
      acceptedDraftTokens: 3,
    });
    // Counts that go back are not a report (they only grow within a task).
    expect(counts.advance({ draft_n: 8, draft_n_accepted: 0 })).toBeUndefined();
    expect(counts.draftTokens).toBe(32);
  });

  it("fed step by step, the watch backs off mid-stream: on the step that fills the window, not at the stream's end", () => {
    let backOffs = 0;
    const watch = new AcceptanceWatch({
      modelId: "m",
      minAcceptance: 0.3,
      windowTokens: 64,
      warn: () => undefined,
      onBackOff: (window) => {
        backOffs++;
        // The window overshoots by less than one step.
        expect(window).toEqual({ model: "m", acceptance: 0, draftTokens: 64, acceptedDraftTokens: 0 });
      },
    });
    const counts = new StreamDraftCounts();
    const verdicts: Array<string | undefined> = [];
    // One long stream whose 16-token drafts are never accepted: 100 steps.
    for (let step = 1; step <= 100; step++) {
      const drafts = counts.advance({ draft_n: 16 * step, draft_n_accepted: 0 });
      verdicts.push(watch.record(drafts!.draftTokens, drafts!.acceptedDraftTokens));
    }
    expect(verdicts.indexOf("back-off")).toBe(3);
    expect(backOffs).toBe(1);
  });
});
