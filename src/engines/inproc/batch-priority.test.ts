import { describe, expect, it } from "vitest";
import { PriorityGate, yieldingBatching } from "./batch-priority.js";
import { DecodeBatching } from "./decode-batching.js";

describe("batch priority", () => {
  it("closes the gate while an interactive generation is held, and opens it when the last one lets go", async () => {
    const gate = new PriorityGate();
    const first = gate.hold();
    const second = gate.hold();
    let opened = false;
    const waiting = gate.opened().then(() => (opened = true));
    first();
    first();
    await Promise.resolve();
    expect(opened).toBe(false);
    second();
    await waiting;
    expect(gate.closed).toBe(false);
  });

  it("pauses a batch generation at its turn, out of the barrier, so that an interactive one decodes alone", async () => {
    const batching = new DecodeBatching(1_000_000);
    const gate = new PriorityGate();
    const batch = yieldingBatching(batching, gate);
    batch.join();
    batching.join();
    const letGo = gate.hold();
    let batchPassed = false;
    const batchTurn = batch.turn().then(() => (batchPassed = true));
    // The interactive generation is alone at the barrier while the batch one waits at the gate.
    await batching.turn();
    expect(batchPassed).toBe(false);
    batching.leave();
    letGo();
    await batchTurn;
    expect(batchPassed).toBe(true);
    batch.leave();
  });
});
