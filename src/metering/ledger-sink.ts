import type { UsageEvent, UsageSink } from "../spec/index.js";
import type { UsageRepository } from "../store/index.js";
import { priceRequest } from "./cost.js";
import type { PriceBook } from "./price-book.js";

/** Inputs of {@link createLedgerSink}. */
export interface LedgerSinkOptions {
  /** Where rows go. */
  usage: UsageRepository;
  /** Prices of served models and of their cloud equivalents. */
  priceBook: PriceBook;
  /** Clock for `recorded_at`, epoch ms. Defaults to `Date.now`. */
  now?: () => number;
}

/**
 * The usage sink that writes the ledger: each event is priced by the book in effect at the request's start and stored
 * with its daily rollup in one transaction. `record` resolves once the transaction is committed; the routes await it
 * before the response's last byte, so a response the client saw whole always has its row (a crash loses at most the
 * requests still in flight).
 *
 * @throws what the store throws; the request then fails (500, or an error event in a stream) rather than go unmetered.
 */
export function createLedgerSink(options: LedgerSinkOptions): UsageSink {
  const now = options.now ?? Date.now;
  return {
    async record(event: UsageEvent): Promise<void> {
      const cost = priceRequest(options.priceBook, event);
      await options.usage.record(
        {
          requestId: event.requestId,
          keyId: event.keyId,
          model: event.model,
          endpoint: event.endpoint,
          stream: event.stream,
          status: event.status,
          errorCode: event.errorCode,
          promptTokens: event.promptTokens,
          cachedPromptTokens: event.cachedPromptTokens,
          completionTokens: event.completionTokens,
          reasoningTokens: event.reasoningTokens,
          startedAtMs: event.startedAtMs,
          timeToFirstTokenMs: event.timeToFirstTokenMs,
          latencyMs: event.latencyMs,
          ...cost,
        },
        now(),
      );
    },
  };
}
