import type { ServerInstance, UsageRecord, UsageRepository } from "../store/index.js";

/** Inputs of {@link settleInterruptedRequests}. */
export interface InterruptedRequestsOptions {
  /** The ledger. */
  usage: UsageRepository;
  /** This process's instance: its id, and how to tell other instances are gone. */
  instance: ServerInstance;
  /** Now, epoch ms. */
  atMs: number;
  /** A running row whose heartbeat is older than this, ms, is interrupted whoever owns it (but see `isRunningHere`). */
  staleAfterMs: number;
  /**
   * Whether this process runs the request `requestId` (its ledger does): such a row is never settled, however old its
   * heartbeat, since its own end will settle it. Defaults to none.
   */
  isRunningHere?: (requestId: string) => boolean;
}

/**
 * Settles as `interrupted` every running ledger row whose request can no longer end: its instance is gone (a crash or
 * `kill -9` of another server process, or of this one's predecessor), or its heartbeat is older than `staleAfterMs`
 * (an instance that hangs, or a row this process lost track of, such as one whose settlement failed). A request of
 * `isRunningHere` is never settled here. Each is settled with the counters and cost of its
 * last heartbeat, its latency up to that heartbeat, and its reservation released, in one transaction with its rollup.
 * A row that ends meanwhile keeps its real end (the settle runs only while the row is running).
 *
 * @returns how many rows were settled.
 */
export async function settleInterruptedRequests(options: InterruptedRequestsOptions): Promise<number> {
  const { usage, instance, atMs, staleAfterMs, isRunningHere } = options;
  const gone = new Map<string, Promise<boolean>>();
  const isGone = (instanceId: string): Promise<boolean> => {
    let known = gone.get(instanceId);
    if (known === undefined) gone.set(instanceId, (known = instance.isGone(instanceId)));
    return known;
  };
  let settled = 0;
  for (const row of await usage.listRunning()) {
    if (isRunningHere?.(row.requestId)) continue;
    const lastSeenAtMs = row.heartbeatAtMs ?? row.startedAtMs;
    const interrupted =
      lastSeenAtMs < atMs - staleAfterMs ||
      (row.instanceId !== undefined && row.instanceId !== instance.id && (await isGone(row.instanceId)));
    if (!interrupted) continue;
    const end: UsageRecord = {
      ...row,
      status: "interrupted",
      latencyMs: Math.max(0, lastSeenAtMs - row.startedAtMs),
      reservedMicroUsd: undefined,
    };
    if (await usage.settle(end, atMs, { lateFromInterrupted: false })) settled++;
  }
  return settled;
}
