import { describe, expect, it } from "vitest";
import { SlotPool } from "./slot-pool.js";

describe("SlotPool", () => {
  it("hands out free slots, then queues waiters first in, first out", async () => {
    const pool = new SlotPool(["a"], { maxWaiting: 2 });
    expect(await pool.acquire()).toBe("a");
    const order: string[] = [];
    const first = pool.acquire().then((slot) => order.push(`first:${slot}`));
    const second = pool.acquire().then((slot) => order.push(`second:${slot}`));
    expect(pool.waiting).toBe(2);
    expect(await pool.acquire()).toBeUndefined();
    pool.release("a");
    await first;
    pool.release("a");
    await second;
    expect(order).toEqual(["first:a", "second:a"]);
    expect(pool.inUse).toBe(1);
  });

  it("removes a waiter whose signal aborts", async () => {
    const pool = new SlotPool([1], { maxWaiting: 1 });
    await pool.acquire();
    const controller = new AbortController();
    const waiting = pool.acquire(controller.signal);
    controller.abort(new Error("gone"));
    await expect(waiting).rejects.toThrow("gone");
    expect(pool.waiting).toBe(0);
    pool.release(1);
    expect(pool.inUse).toBe(0);
  });

  it("rejects every waiter on rejectAll", async () => {
    const pool = new SlotPool([1], { maxWaiting: 4 });
    await pool.acquire();
    const waiting = pool.acquire();
    pool.rejectAll(new Error("closing"));
    await expect(waiting).rejects.toThrow("closing");
  });

  it("gives low-priority callers a slot only when no interactive caller waits and another slot stays free", async () => {
    const pool = new SlotPool(["a", "b", "c"], { maxWaiting: 4 });
    const low = () => pool.acquire(undefined, undefined, { low: true });
    const first = await low();
    const second = await low();
    expect([first, second]).toHaveLength(2);
    // The last free slot is kept for an interactive caller.
    let third: string | undefined;
    const waitingLow = low().then((slot) => (third = slot));
    expect(pool.waiting).toBe(1);
    const interactive = await pool.acquire();
    expect(interactive).toBeDefined();
    // An interactive waiter goes first when a slot comes back.
    const waitingInteractive = pool.acquire();
    pool.release(first!);
    expect(await waitingInteractive).toBe(first);
    expect(third).toBeUndefined();
    pool.release(interactive!);
    pool.release(second!);
    await waitingLow;
    expect(third).toBeDefined();
    expect(pool.inUse).toBe(2);
  });

  it("lets a low-priority caller take the only slot of a pool of one", async () => {
    const pool = new SlotPool(["only"], { maxWaiting: 1 });
    expect(await pool.acquire(undefined, undefined, { low: true })).toBe("only");
  });
});
