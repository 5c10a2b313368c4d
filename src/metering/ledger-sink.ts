import type { Logger } from "pino";
import type { UsageCounts, UsageEvent, UsageRun, UsageSink, UsageStart } from "../spec/index.js";
import type { ServerInstance, UsageRecord, UsageRepository } from "../store/index.js";
import { budgetWindow, insufficientQuota } from "./budget-guard.js";
import { costAtPrices, lookUpRequestPrices, worstCaseCostMicroUsd, type RequestCost, type RequestPrices } from "./cost.js";
import { settleInterruptedRequests } from "./interrupted-requests.js";
import type { MachinePower } from "../planner/machine-power.js";
import type { PriceBook } from "./price-book.js";

/** Inputs of {@link openLedgerSink}. */
export interface LedgerSinkOptions {
  /** Where rows go. */
  usage: UsageRepository;
  /** Prices of served models and of their cloud equivalents. */
  priceBook: PriceBook;
  /**
   * The machine's power as time pricing assumes it where the price book gives no `watts`, or a function read at each
   * request's start (the server learns its GPU after the ledger opens). Defaults to the planner's figure for this host
   * (`defaultMachinePower` of time-pricing.ts).
   */
  machine?: MachinePower | (() => MachinePower);
  /** This server process's instance: the owner of the rows it starts. */
  instance: ServerInstance;
  /** Where failed heartbeats and recoveries are logged. */
  logger: Logger;
  /** Clock, epoch ms. Defaults to `Date.now`. */
  now?: () => number;
  /**
   * How often the counters of running requests are flushed, ms. At most a third of the `staleAfterMs` of every instance
   * that shares the store, which takes a row whose heartbeat is older for interrupted (the config caps it at 10000).
   * Defaults to 1000.
   */
  heartbeatMs?: number;
  /**
   * A running row whose heartbeat is older than this is interrupted, whoever owns it (except the requests this sink
   * runs), ms. Defaults to {@link defaultStaleAfterMs}.
   */
  staleAfterMs?: number;
  /** How often running rows of other instances are checked, ms. Defaults to 5000. */
  recoverEveryMs?: number;
}

/**
 * How old a running row's heartbeat may be, ms, before any instance takes it for interrupted: 30 s, three of the
 * longest heartbeat the config allows (`metering.heartbeatMs` at most 10000), so that a live instance's rows are never
 * taken for stale by another one.
 */
export const defaultStaleAfterMs = 30_000;

/** The usage ledger as a usage sink, with its heartbeat and its recovery of interrupted requests. */
export interface LedgerSink extends UsageSink, AsyncDisposable {
  /**
   * Admits a request: inserts its row as `running`, with its worst-case cost reserved against its key's budget
   * (`start.budget`), atomically across the processes that share the store. Its counters are flushed with every
   * heartbeat, and by its run's `checkpoint` (the final counts, before the response's last bytes); its run's `finish`
   * settles the row with the real cost and releases the reservation.
   *
   * @throws {MoestroError} `insufficient_quota` (429) when the key's settled spend plus its running reservations plus
   *   this request's worst case would pass the budget; nothing is stored then.
   */
  start(start: UsageStart): Promise<UsageRun>;
  /** Stores a request that was never started (admitted and ended at once) as one settled row. */
  record(event: UsageEvent): Promise<void>;
  /** Flushes the running requests' counters now (the heartbeat does it every `heartbeatMs`). */
  flushHeartbeat(): Promise<void>;
  /**
   * Settles the running rows of gone instances, and stale ones, as `interrupted` (never a request this sink runs, however
   * old its heartbeat: its own end settles it); resolves how many.
   */
  recoverInterrupted(): Promise<number>;
  /** Stops the heartbeat and the recovery timer (waiting for a flush, and the settlements, under way). Idempotent. */
  dispose(): Promise<void>;
}

/** A request this process admitted and has not ended. */
interface RunningRequest {
  /** The request as admitted. */
  start: UsageStart;
  /** The id its row was stored under (`start.requestId`, else `id:uuid` when that was taken). */
  requestId: string;
  /** This process's instance, the owner of the running row. */
  instanceId: string;
  /** Its worst-case cost held against its key's budget while it runs, micro-USD. */
  reservedMicroUsd: number;
  /** The upstream that serves it and the upstreams tried, once one serves it (else `start`'s). */
  served: Pick<UsageRecord, "upstream" | "attempts">;
  /** The prices in effect at its start (a batch line's at the batch rate): every heartbeat, and its end, are priced by them. */
  prices: BilledPrices;
  readCounts(): UsageCounts;
}

/**
 * Opens the usage ledger's sink: first settles as `interrupted` the running rows left by instances that are gone (so
 * a restarted server bills its predecessor's cut requests before it serves), then keeps, until disposed, a heartbeat
 * that flushes the counters of this process's running requests every `heartbeatMs` and a check every `recoverEveryMs`
 * for rows of other instances that went away. Costs are priced by the book in effect at each request's start, looked
 * up once then: by tokens, or (local models without a token price) by the engine time the request took
 * (`UsageCounts.engineTimeMs`) at the hourly cost of time pricing.
 * A request's run writes its final counts (`checkpoint`) before the response's last bytes and is settled (`finish`)
 * once they left: a response that left whole is `ok`, and a crash in between leaves a running row with exact counts,
 * which the recovery settles as `interrupted`. `finish` and `record` resolve once their transaction is committed.
 *
 * @throws what the store throws during the first recovery.
 */
export async function openLedgerSink(options: LedgerSinkOptions): Promise<LedgerSink> {
  const now = options.now ?? Date.now;
  const { usage, priceBook, instance, logger } = options;
  const machine = (): MachinePower | undefined => (typeof options.machine === "function" ? options.machine() : options.machine);
  const staleAfterMs = options.staleAfterMs ?? defaultStaleAfterMs;
  // By request id (the id its row was stored under).
  const running = new Map<string, RunningRequest>();
  // `keyId model` pairs already warned about (see warnIfUnpriced), bounded so that it cannot grow without end.
  const warnedUnpriced = new Set<string>();
  /**
   * Logs once per key and model (per process) that a request of a key with a budget cost $0 for want of a price: its
   * model has no token price and it measured no engine time (an upstream's model), so the budget never counts it
   * (docs/studio.md, "Unpriced models").
   */
  const warnIfUnpriced = (budgeted: UsageStart, prices: BilledPrices, end: UsageRecord): void => {
    if (budgeted.budget === undefined || budgeted.keyId === undefined || prices.local.time === undefined) return;
    if ((end.costNanoUsd ?? end.costMicroUsd * 1000) !== 0 || (end.engineTimeUs ?? 0) !== 0) return;
    if (end.promptTokens + end.completionTokens === 0) return;
    const pair = `${budgeted.keyId} ${end.model}`;
    if (warnedUnpriced.has(pair) || warnedUnpriced.size >= 1024) return;
    warnedUnpriced.add(pair);
    logger.warn(
      { keyId: budgeted.keyId, model: end.model },
      `a request of a key with a budget cost $0: the price book gives the model '${end.model}' no price (no tiers or hourly entry, and no engine time to charge), so the budget never counts its requests; give it a price (docs/studio.md, Unpriced models)`,
    );
  };

  const recoverInterrupted = async (): Promise<number> => {
    const settled = await settleInterruptedRequests({
      usage,
      instance,
      atMs: now(),
      staleAfterMs,
      isRunningHere: (requestId) => running.has(requestId),
    });
    if (settled > 0) logger.warn({ settled }, "settled the running requests of gone server instances as interrupted");
    return settled;
  };
  const flushHeartbeat = async (): Promise<void> => {
    if (running.size === 0) return;
    const atMs = now();
    const rows = [...running.values()].map((request) => runningRow(request, request.readCounts(), atMs));
    await usage.heartbeat(rows, atMs);
  };

  await recoverInterrupted();
  // One flush, and one recovery, at a time: a tick that finds its own task under way is skipped, so a slow store cannot
  // pile them up. Each has its own: a slow recovery must not hold the heartbeat back (its rows would look stale).
  const every = (ms: number, task: () => Promise<unknown>, what: string): { stop(): Promise<unknown> } => {
    let underWay: Promise<unknown> | undefined;
    const timer = setInterval(() => {
      if (underWay !== undefined) return;
      underWay = task()
        .catch((error: unknown) => logger.warn({ err: error }, `ledger ${what} failed`))
        .finally(() => (underWay = undefined));
    }, ms);
    timer.unref();
    return {
      stop: () => {
        clearInterval(timer);
        return Promise.resolve(underWay);
      },
    };
  };
  const timers = [
    every(options.heartbeatMs ?? 1000, flushHeartbeat, "heartbeat"),
    every(options.recoverEveryMs ?? 5000, recoverInterrupted, "recovery"),
  ];
  // Settlements under way: a response's settlement runs after its last byte, so a shutdown may come before it commits.
  const settling = new Set<Promise<unknown>>();
  let disposing: Promise<void> | undefined;
  const dispose = (): Promise<void> =>
    (disposing ??= (async () => {
      await Promise.all(timers.map((timer) => timer.stop()));
      await Promise.allSettled(settling);
    })());

  return {
    async start(start) {
      const atMs = now();
      const prices = billedPrices(priceBook, start, machine());
      const reservedMicroUsd = Math.round(worstCaseCostMicroUsd(prices.local, start) * prices.ratio);
      const request: RunningRequest = {
        start,
        requestId: start.requestId,
        instanceId: instance.id,
        reservedMicroUsd,
        served: { upstream: start.upstream, attempts: start.attempts },
        prices,
        readCounts: start.readCounts,
      };
      const budget =
        start.budget === undefined || start.keyId === undefined
          ? undefined
          : { limitMicroUsd: start.budget.limitMicroUsd, fromDay: budgetWindow(start.budget.period, start.startedAtMs).startDay };
      const outcome = await usage.start(runningRow(request, start.readCounts(), atMs), budget, atMs);
      if (!outcome.admitted) throw insufficientQuota(start.budget!, outcome.use, atMs, reservedMicroUsd);
      request.requestId = outcome.requestId;
      running.set(request.requestId, request);
      return {
        checkpoint: async () => {
          const atMs = now();
          await usage.heartbeat([runningRow(request, request.readCounts(), atMs)], atMs);
        },
        served: ({ upstream, attempts }) => {
          // Written by the next heartbeat or the checkpoint (`heartbeatColumns` include them).
          request.served = { upstream, attempts };
        },
        finish: async (event) => {
          running.delete(request.requestId);
          const end = endRow(request.prices, event, request.requestId);
          warnIfUnpriced(start, request.prices, end);
          const settled = usage.settle(end, now(), { lateFromInterrupted: true });
          settling.add(settled);
          try {
            await settled;
          } finally {
            settling.delete(settled);
          }
        },
        cancel: async () => {
          running.delete(request.requestId);
          await usage.discard(request.requestId);
        },
      };
    },
    async record(event) {
      await usage.record(endRow(billedPrices(priceBook, event, machine()), event, event.requestId), now());
    },
    flushHeartbeat,
    recoverInterrupted,
    dispose,
    [Symbol.asyncDispose]: dispose,
  };
}

/**
 * Every field of `T`, each given (`undefined` where it has no value): the rows below are built as one object literal
 * with all of them, so that the compiler checks that none is left out and every row has one shape. Spreading several
 * objects into one (`{...a, ...b}`) took the slow path of V8's object copy on each of the ledger's three writes per
 * request (docs/gateway.md, "Overhead").
 */
type EveryField<T> = { [K in keyof Required<T>]: T[K] | undefined };

/**
 * A ledger row of `request` (its start or its end), with `counts` priced at `cost`. Only `status`'s `running` rows
 * carry `instanceId`, `heartbeatAtMs` and `reservedMicroUsd`; `counts` of an ended request carry its end's fields.
 */
function ledgerRow(
  request: UsageStart | UsageEvent,
  requestId: string,
  counts: UsageCounts,
  cost: RequestCost,
  end: Pick<UsageRecord, "status" | "errorCode" | "timeToFirstTokenMs" | "latencyMs" | "instanceId" | "heartbeatAtMs" | "reservedMicroUsd">,
  served: Pick<UsageRecord, "upstream" | "attempts">,
): UsageRecord {
  const row: EveryField<UsageRecord> = {
    requestId,
    keyId: request.keyId,
    model: request.model,
    endpoint: request.endpoint,
    stream: request.stream,
    engine: request.engine,
    upstream: served.upstream,
    attempts: served.attempts,
    requestedModel: request.requestedModel,
    status: end.status,
    errorCode: end.errorCode,
    promptTokens: counts.promptTokens,
    cachedPromptTokens: counts.cachedPromptTokens,
    completionTokens: counts.completionTokens,
    reasoningTokens: counts.reasoningTokens,
    draftTokens: counts.draftTokens ?? 0,
    acceptedDraftTokens: counts.acceptedDraftTokens ?? 0,
    cacheCreationInputTokens: counts.cacheCreationInputTokens ?? 0,
    cacheReadInputTokens: counts.cacheReadInputTokens ?? 0,
    usageEstimated: counts.usageEstimated === true ? true : undefined,
    costMicroUsd: cost.costMicroUsd,
    costNanoUsd: cost.costNanoUsd,
    engineTimeUs: cost.engineTimeUs,
    costEstimated: cost.costEstimated,
    cloudCostMicroUsd: cost.cloudCostMicroUsd,
    cloudCostNanoUsd: cost.cloudCostNanoUsd,
    priceEffectiveAtMs: cost.priceEffectiveAtMs,
    cloudModel: cost.cloudModel,
    startedAtMs: request.startedAtMs,
    timeToFirstTokenMs: end.timeToFirstTokenMs,
    latencyMs: end.latencyMs,
    instanceId: end.instanceId,
    heartbeatAtMs: end.heartbeatAtMs,
    reservedMicroUsd: end.reservedMicroUsd,
  };
  return row as UsageRecord;
}

/** A running row with the counts so far, priced at its request's prices, as of `atMs` (its heartbeat). */
function runningRow(request: RunningRequest, counts: UsageCounts, atMs: number): UsageRecord {
  const end = {
    status: "running" as const,
    errorCode: undefined,
    timeToFirstTokenMs: undefined,
    latencyMs: Math.max(0, atMs - request.start.startedAtMs),
    instanceId: request.instanceId,
    heartbeatAtMs: atMs,
    reservedMicroUsd: request.reservedMicroUsd,
  };
  return ledgerRow(request.start, request.requestId, counts, billedCost(request.prices, counts), end, request.served);
}

/** The settled row of an ended request, stored as `requestId`, priced at `prices` (those in effect at its start). */
function endRow(prices: BilledPrices, event: UsageEvent, requestId: string): UsageRecord {
  const end = {
    status: event.status,
    errorCode: event.errorCode,
    timeToFirstTokenMs: event.timeToFirstTokenMs,
    latencyMs: event.latencyMs,
    instanceId: undefined,
    heartbeatAtMs: undefined,
    reservedMicroUsd: undefined,
  };
  return ledgerRow(event, requestId, event, billedCost(prices, event), end, event);
}

/** A request's prices and the fraction of them it pays: the book's `batchPriceRatio` for a batch line, else 1. */
type BilledPrices = RequestPrices & { ratio: number };

function billedPrices(book: PriceBook, request: UsageStart | UsageEvent, machine: MachinePower | undefined): BilledPrices {
  return { ...lookUpRequestPrices(book, request, machine), ratio: request.batch === true ? book.batchPriceRatio : 1 };
}

/**
 * `costAtPrices` times the request's ratio (a batch line pays `batchPriceRatio` of the real-time price, docs/batch.md;
 * its cloud comparison too, as cloud batches are discounted alike), rounded to whole micro-USD once per request.
 */
function billedCost(prices: BilledPrices, counts: UsageCounts): RequestCost {
  const cost = costAtPrices(prices, counts);
  if (prices.ratio === 1) return cost;
  return {
    ...cost,
    costMicroUsd: Math.round(cost.costMicroUsd * prices.ratio),
    cloudCostMicroUsd: Math.round(cost.cloudCostMicroUsd * prices.ratio),
    // A time-priced line used the engine: its cost never rounds to 0 (as costAtPrices rounds time costs up).
    costNanoUsd: cost.costNanoUsd === 0 ? 0 : Math.max(1, Math.round(cost.costNanoUsd * prices.ratio)),
    cloudCostNanoUsd: Math.round(cost.cloudCostNanoUsd * prices.ratio),
  };
}
