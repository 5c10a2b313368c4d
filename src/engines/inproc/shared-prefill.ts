import type { LlamaContextSequence, Token } from "node-llama-cpp";
import type { PrefixCache, PrefixCacheEntry } from "./prefix-cache.js";
import { sharedPrefixLength } from "./prefix-cache.js";

/**
 * The fewest prompt tokens a request must be spared (beyond what its slot and the prefix cache already give it) to wait
 * for another request's prefill of the same prefix, and the fewest a request must have left to evaluate to be waited
 * for. A follower pays a save (shared once by all followers of one prefill) and a load: 2 to 8 ms for 64 tokens on the
 * models measured in docs/engine.md ("The prefix cache"), against 22 to 504 ms of prefill for those 64 tokens, 1
 * thread. Twice the prefix cache's own threshold (32), so that a prompt that shares only a short preamble never waits.
 */
export const defaultMinSharedPrefillTokens = 64;

/** Counters of shared prefills, for logs and tests. */
export interface SharedPrefillStats {
  /** Prefills whose state was saved once for requests that waited for them. */
  shared: number;
  /** Requests that waited for another's prefill and got its state (whether or not they restored it). */
  followers: number;
  /** Requests that waited for a prefill that failed, ended without a prompt step, or whose state could not be saved. */
  missed: number;
}

/** A request waiting for a lead's prefill. */
interface Waiter {
  /** Receives the lead's saved state, pinned for this waiter, or `undefined` when there is none. */
  resolve: (entry: PrefixCacheEntry | undefined) => void;
}

/**
 * One request's prompt evaluation in flight that others may wait for (see {@link SharedPrefills}). Registered before
 * its prompt step runs; {@link share} or {@link abandon} ends it, whichever comes first (the other is then a no-op).
 */
export class SharedPrefill {
  /** The lead's prompt tokens. */
  readonly tokens: readonly Token[];
  /** How many of them its sequence held before its prefill (its slot's and the prefix cache's). */
  readonly keep: number;
  /** Whether the lead is a batch request, which interactive requests do not wait for (see {@link SharedPrefills.find}). */
  readonly isBatch: boolean;
  readonly #owner: SharedPrefills;
  readonly #waiters = new Set<Waiter>();
  #isOver = false;

  /** Made by {@link SharedPrefills.start}, which registers it. */
  constructor(owner: SharedPrefills, tokens: readonly Token[], keep: number, isBatch: boolean) {
    this.#owner = owner;
    this.tokens = tokens;
    this.keep = keep;
    this.isBatch = isBatch;
  }

  /** Requests waiting now. */
  get waiting(): number {
    return this.#waiters.size;
  }

  /**
   * Waits until the lead's prompt is evaluated and its state saved, or the lead fails, or `signal` aborts.
   *
   * @returns the saved state, pinned for the caller (who must `unpin` it from the prefix cache), or `undefined` when
   *   there is none (the lead failed, or the save did) or the signal aborted (then nothing is pinned).
   */
  async wait(signal?: AbortSignal): Promise<PrefixCacheEntry | undefined> {
    if (this.#isOver || signal?.aborted) return undefined;
    return await new Promise<PrefixCacheEntry | undefined>((resolve) => {
      const waiter: Waiter = {
        resolve: (entry) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(entry);
        },
      };
      // A cancelled waiter leaves the line at once: the lead and the other waiters go on without it.
      const onAbort = (): void => {
        if (this.#waiters.delete(waiter)) resolve(undefined);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.add(waiter);
    });
  }

  /**
   * The lead's prompt step ended: saves its sequence's state to the prefix cache once when requests wait, and hands it
   * to each of them pinned. Call it right after the step, before the lead's next step: the save takes the sequence's
   * evaluation lock at once (node-llama-cpp 3.21.1 queues locks in order), so the lead's next token is evaluated after
   * the save, which holds the prompt. Never throws; a failed save leaves the waiters to evaluate their prompts.
   */
  async share(sequence: LlamaContextSequence): Promise<void> {
    if (this.#isOver) return;
    this.#isOver = true;
    this.#owner.end(this);
    if (this.#waiters.size === 0) return;
    const entry = await this.#owner.cache.save(sequence, { pin: true });
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    if (entry === undefined) this.#owner.counters.missed += waiters.length;
    else {
      this.#owner.counters.shared++;
      this.#owner.counters.followers += waiters.length;
    }
    for (const waiter of waiters) {
      if (entry !== undefined) this.#owner.cache.pin(entry);
      waiter.resolve(entry);
    }
    if (entry !== undefined) this.#owner.cache.unpin(entry);
  }

  /** The lead ends without a shared state (its prompt step failed, it was cancelled first, it never evaluated): waiters go on alone. */
  abandon(): void {
    if (this.#isOver) return;
    this.#isOver = true;
    this.#owner.end(this);
    this.#owner.counters.missed += this.#waiters.size;
    for (const waiter of this.#waiters) waiter.resolve(undefined);
    this.#waiters.clear();
  }
}

/**
 * Shared prefills of one context (docs/engine.md, "The prefix cache", "A shared system prompt across parallel
 * sequences"): when requests that share a long prefix arrive together on different slots, the first one evaluates its
 * prompt (the lead) and the others wait; once the lead's prompt is evaluated, its state is saved once to the prefix
 * cache, and each waiting request loads it into its own sequence, erases what follows the shared prefix and evaluates
 * only its rest. node-llama-cpp 3.21.1 cannot copy KV cells between sequences (`llama_memory_seq_cp` is not exposed),
 * so the state goes through the prefix cache's memory-backed files.
 *
 * A request waits only when it would be spared at least `minTokens` tokens, and when the lead evaluates no more beyond
 * the shared prefix than it would be spared (a lead with a long prompt of its own after a short shared part would make
 * it wait longer than its own prefill).
 */
export class SharedPrefills {
  /** Where the leads' states go, and where the followers load them from. */
  readonly cache: PrefixCache;
  /** See {@link defaultMinSharedPrefillTokens}. */
  readonly minTokens: number;
  /** Updated by the leads; read with {@link stats}. */
  readonly counters: SharedPrefillStats = { shared: 0, followers: 0, missed: 0 };
  readonly #leads = new Set<SharedPrefill>();

  /** @param minTokens see {@link defaultMinSharedPrefillTokens}; defaults to it. */
  constructor(cache: PrefixCache, minTokens = defaultMinSharedPrefillTokens) {
    this.cache = cache;
    this.minTokens = minTokens;
  }

  /**
   * The prefill in flight `promptTokens` should wait for, or `undefined`: the one that spares it the most tokens, at
   * least `minTokens`, beyond the `keep` it has without waiting. An interactive request never waits for a batch one,
   * whose prompt step waits while interactive prompts are evaluated (docs/batch.md).
   */
  find(promptTokens: readonly Token[], keep: number, isBatch: boolean): SharedPrefill | undefined {
    let best: { lead: SharedPrefill; gain: number } | undefined;
    for (const lead of this.#leads) {
      if (lead.isBatch && !isBatch) continue;
      const shared = sharedPrefixLength(lead.tokens, promptTokens);
      // The last prompt token is always evaluated again (its logits give the first token).
      const gain = Math.min(shared, promptTokens.length - 1) - keep;
      const leadRest = lead.tokens.length - Math.max(shared, lead.keep);
      if (gain >= this.minTokens && leadRest <= gain && gain > (best?.gain ?? 0)) best = { lead, gain };
    }
    return best?.lead;
  }

  /**
   * Registers a prompt evaluation that others may wait for, when it evaluates at least `minTokens` tokens; the caller
   * must end it with {@link SharedPrefill.share} or {@link SharedPrefill.abandon}.
   */
  start(promptTokens: readonly Token[], keep: number, isBatch: boolean): SharedPrefill | undefined {
    if (promptTokens.length - 1 - keep < this.minTokens) return undefined;
    const lead = new SharedPrefill(this, promptTokens, keep, isBatch);
    this.#leads.add(lead);
    return lead;
  }

  /** Removes an ended lead (called by the lead). */
  end(lead: SharedPrefill): void {
    this.#leads.delete(lead);
  }

  /** The counters now. */
  stats(): SharedPrefillStats {
    return { ...this.counters };
  }
}
