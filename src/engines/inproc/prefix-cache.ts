import { existsSync, rmSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { LlamaContextSequence, Token } from "node-llama-cpp";
import type { Logger } from "pino";

/**
 * The fewest tokens a restore from the prefix cache must add to what the slot already shares with the prompt, and the
 * fewest tokens of history a slot must be about to lose for its state to be saved. Measured here with node-llama-cpp
 * 3.21.1 on /dev/shm (docs/engine.md, "The prefix cache"): a load takes 0.1 to 2 ms for up to 64 tokens and a few ms
 * for 700 tokens of the 735M test MoE (5.7 MB), a save 0.5 to 40 ms, while prefill costs about 1 ms a token on the
 * tiny models and 3.5 to 11 ms a token on the MoE, 1 thread. So a restore pays from a few tokens; 32 keeps the cache,
 * its files and its budget for what is worth it (a system prompt, a conversation's history), not for the few tokens
 * of a chat template's preamble that most prompts share.
 */
export const defaultMinRestoreTokens = 32;

/** The prefix of a folder of state files: `moestro-prefix-cache-<pid>-XXXXXX`, so that a later start finds its leftovers. */
const folderPrefix = "moestro-prefix-cache-";

/** Options of {@link PrefixCache.create}. */
export interface PrefixCacheOptions {
  /** The most bytes the state files may hold together; least recently used entries are evicted beyond it. */
  budgetBytes: number;
  /** Where the folder of state files goes. Defaults to {@link defaultStateFileRoot}: /dev/shm when present, else the OS temp dir. */
  root?: string;
  /** See {@link defaultMinRestoreTokens}. Defaults to it. */
  minRestoreTokens?: number;
  logger: Logger;
  /** The model, for logs. */
  modelId: string;
  /**
   * The explicit cache's live pins (`ContextCachePins` of src/engines/context-cache.ts): an entry whose tokens start
   * with a pinned prefix is kept beyond LRU eviction until the pin expires. Defaults to none.
   */
  pins?: PinnedPrefixes;
}

/** What the prefix cache asks of the explicit cache's pins. */
export interface PinnedPrefixes {
  /** The longest live pinned prefix `tokens` start with, in tokens; 0 when none. */
  pinnedLength(tokens: readonly Token[]): number;
}

/** One saved sequence state: the tokens it holds and its file. */
export interface PrefixCacheEntry {
  /** The tokens the saved sequence held (its key). */
  tokens: Token[];
  /** The state file. */
  file: string;
  /** The state file's size, bytes (what the budget counts). */
  sizeBytes: number;
  /** Restores reading the file now; an evicted entry's file is removed when the last one ends. */
  readers: number;
  isEvicted: boolean;
}

/** Counters of a prefix cache, for logs and tests. */
export interface PrefixCacheStats {
  /** Saved states now. */
  entries: number;
  /** Bytes of their state files. */
  usedBytes: number;
  /** The budget, bytes. */
  budgetBytes: number;
  /** States saved since the start. */
  saves: number;
  /** States loaded into a slot since the start. */
  restores: number;
  /** States evicted to make room since the start (not those replaced by a longer state of the same tokens). */
  evictions: number;
  /** Of `evictions`, states that held a live pinned prefix, evicted because pinned states alone passed the budget. */
  pinnedEvictions: number;
}

/**
 * The folder state files go to: /dev/shm (memory-backed, so a save and a load cost a copy in RAM, not disk I/O) when
 * it exists and is writable, else the OS temp dir.
 */
export function defaultStateFileRoot(): string {
  return existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir();
}

/**
 * A host-RAM cache of KV states of sequences, keyed by the tokens they hold, beyond the slots of the context: when a
 * slot is about to be reused for a prompt that does not share what it holds, its state is saved
 * (`LlamaContextSequence.saveStateToFile`, node-llama-cpp 3.21.1); when a later prompt shares a longer prefix with a
 * saved state than with its slot, the state is loaded into the slot (`loadStateFromFile`) and only the rest of the
 * prompt is evaluated. State files live in a folder of their own under {@link defaultStateFileRoot}, removed on
 * {@link dispose} and at process exit; a start removes the folders of processes that no longer run.
 *
 * Entries are kept in least-recently-used order under `budgetBytes` (the file sizes), except that a restored entry
 * goes first in line for eviction (its slot holds its tokens now, and saves them again when it moves on); a save that
 * supersedes an entry (its tokens start with the entry's) replaces it, and a sequence whose tokens an entry already
 * holds is not saved.
 *
 * Explicit cache: an entry that holds a live pinned prefix (`options.pins`) is not evicted for room while an entry
 * without one can go instead. Only when pinned entries alone exceed the budget (memory runs short) is the least
 * recently used of them evicted, with a warning: its pin then stays (its requests are still billed as hits until it
 * expires) but its prefix is evaluated again by the next request, whose slot holds it afterwards.
 */
export class PrefixCache {
  readonly #folder: string;
  readonly #budgetBytes: number;
  readonly #logger: Logger;
  readonly #modelId: string;
  /** In least-recently-used order: the first is evicted first. */
  readonly #entries = new Set<PrefixCacheEntry>();
  readonly #onExit: () => void;
  readonly #pins: PinnedPrefixes | undefined;
  readonly minRestoreTokens: number;
  #usedBytes = 0;
  #nextFile = 0;
  #saves = 0;
  #restores = 0;
  #evictions = 0;
  #pinnedEvictions = 0;
  #isDisposed = false;

  private constructor(folder: string, options: PrefixCacheOptions) {
    this.#folder = folder;
    this.#budgetBytes = options.budgetBytes;
    this.#logger = options.logger;
    this.#modelId = options.modelId;
    this.#pins = options.pins;
    this.minRestoreTokens = options.minRestoreTokens ?? defaultMinRestoreTokens;
    // The files are in RAM on /dev/shm: a process that exits without dispose() must not leave them there.
    this.#onExit = () => rmSync(this.#folder, { recursive: true, force: true });
    process.once("exit", this.#onExit);
  }

  /**
   * Creates the cache's folder, after removing the folders left by moestro processes that no longer run.
   *
   * @throws when the folder cannot be created.
   */
  static async create(options: PrefixCacheOptions): Promise<PrefixCache> {
    const root = options.root ?? defaultStateFileRoot();
    await removeLeftovers(root);
    const folder = await mkdtemp(path.join(root, `${folderPrefix}${process.pid}-`));
    return new PrefixCache(folder, options);
  }

  /** The folder of this cache's state files. */
  get folder(): string {
    return this.#folder;
  }

  /** The cache's counters now. */
  stats(): PrefixCacheStats {
    return {
      entries: this.#entries.size,
      usedBytes: this.#usedBytes,
      budgetBytes: this.#budgetBytes,
      saves: this.#saves,
      restores: this.#restores,
      evictions: this.#evictions,
      pinnedEvictions: this.#pinnedEvictions,
    };
  }

  /**
   * The saved state that shares the longest prefix with `promptTokens`, and that length, or `undefined` when none
   * shares any token.
   */
  longestPrefix(promptTokens: readonly Token[]): { entry: PrefixCacheEntry; length: number } | undefined {
    let best: { entry: PrefixCacheEntry; length: number } | undefined;
    for (const entry of this.#entries) {
      const length = sharedPrefixLength(entry.tokens, promptTokens);
      if (length > (best?.length ?? 0)) best = { entry, length };
    }
    return best;
  }

  /**
   * Saves what `sequence` holds, unless it holds fewer than `minRestoreTokens` tokens or an entry already holds them
   * (then that entry is marked used). Entries whose tokens are a prefix of the sequence's are replaced. A file larger
   * than the whole budget is dropped, unless `options.pin`. Never throws: a failed save is logged and the cache goes on
   * without it.
   *
   * The sequence's evaluation lock is requested before the first `await` (node-llama-cpp 3.21.1's `saveStateToFile`), so
   * an evaluation step asked for after this call starts runs after the save (a shared prefill relies on it).
   *
   * @param options.pin - pins the entry (see {@link pin}) before the budget is enforced, for a caller that hands it to
   *   requests about to restore it (a shared prefill); the caller unpins it.
   * @returns the entry that holds the sequence's tokens (the new one, or one that held them already), or `undefined`
   *   when none was saved (too few tokens, a failed save, a disposed cache, or a file over the budget without `pin`).
   */
  async save(sequence: LlamaContextSequence, options: { pin?: boolean } = {}): Promise<PrefixCacheEntry | undefined> {
    if (this.#isDisposed) return undefined;
    const tokens = sequence.contextTokens;
    if (tokens.length < this.minRestoreTokens) return undefined;
    for (const entry of this.#entries) {
      if (entry.tokens.length >= tokens.length && sharedPrefixLength(entry.tokens, tokens) === tokens.length) {
        if (options.pin) this.pin(entry);
        else this.#touch(entry);
        return entry;
      }
    }
    const file = path.join(this.#folder, `${this.#nextFile++}.state`);
    try {
      // The size llama.cpp reports is the file's (`llama_state_seq_save_file` returns where it stopped writing): no
      // `stat`, whose trip to libuv's pool came before the new prompt's prefill (issue 19, TTFT).
      const { fileSize: sizeBytes } = await sequence.saveStateToFile(file);
      if (this.#isDisposed) return void (await rm(file, { force: true }));
      for (const entry of [...this.#entries]) {
        if (entry.tokens.length <= tokens.length && sharedPrefixLength(entry.tokens, tokens) === entry.tokens.length)
          this.#evict(entry, false);
      }
      const entry: PrefixCacheEntry = { tokens, file, sizeBytes, readers: options.pin ? 1 : 0, isEvicted: false };
      this.#entries.add(entry);
      this.#usedBytes += sizeBytes;
      this.#saves++;
      this.#makeRoom();
      return entry.isEvicted ? undefined : entry;
    } catch (error) {
      await rm(file, { force: true }).catch(() => undefined);
      this.#logger.warn({ model: this.#modelId, err: error }, "could not save a sequence's state to the prefix cache");
      return undefined;
    }
  }

  /**
   * Whether a slot holding `tokens` that keeps only its first `keep` would lose part of a live pinned prefix: then its
   * state must be saved however few tokens it loses.
   */
  losesPinnedPrefix(tokens: readonly Token[], keep: number): boolean {
    return (this.#pins?.pinnedLength(tokens) ?? 0) > keep;
  }

  /**
   * Keeps `entry` from eviction until {@link unpin} (and marks it used): a request pins the entry it will restore
   * before it saves its slot's state, so that the save (or another request's) cannot evict it first.
   */
  pin(entry: PrefixCacheEntry): void {
    entry.readers++;
    this.#touch(entry);
  }

  /**
   * Ends a {@link pin}; an entry evicted meanwhile loses its file now. The budget is enforced again once nothing is
   * pinned by reads: pinned entries may have held the files above it.
   */
  unpin(entry: PrefixCacheEntry): void {
    entry.readers--;
    if (entry.readers > 0) return;
    if (entry.isEvicted) void rm(entry.file, { force: true }).catch(() => undefined);
    else if (this.#usedBytes > this.#budgetBytes && !this.#isDisposed) this.#makeRoom();
  }

  /**
   * Loads `entry`'s state into `sequence` (which then holds exactly the entry's tokens) and puts the entry first in
   * line for eviction.
   *
   * @returns whether it was loaded; on failure (logged) the sequence is cleared, and the caller evaluates the prompt whole.
   */
  async restore(entry: PrefixCacheEntry, sequence: LlamaContextSequence): Promise<boolean> {
    if (this.#isDisposed || entry.isEvicted) return false;
    this.pin(entry);
    try {
      await sequence.loadStateFromFile(entry.file, { acceptRisk: true });
      this.#restores++;
      // The slot now holds these tokens and will be saved with them (and what follows) when it moves on, so this copy
      // is the first to go under pressure: kept last, a conversation's older states crowded out the newer ones of
      // conversations not yet back (16 conversations over 4 slots: 2 of 16 follow-ups missed).
      this.#demote(entry);
      return true;
    } catch (error) {
      this.#logger.warn({ model: this.#modelId, err: error }, "could not restore a sequence's state from the prefix cache");
      await sequence.clearHistory().catch(() => undefined);
      return false;
    } finally {
      this.unpin(entry);
    }
  }

  /** Removes every state file and the folder. Idempotent. */
  async dispose(): Promise<void> {
    if (this.#isDisposed) return;
    this.#isDisposed = true;
    process.removeListener("exit", this.#onExit);
    this.#entries.clear();
    this.#usedBytes = 0;
    await rm(this.#folder, { recursive: true, force: true });
  }

  /**
   * Evicts least recently used entries until the files fit the budget: first those without a live pinned prefix, then,
   * only if pinned ones alone pass it, pinned ones (logged). Entries being read are never evicted.
   */
  #makeRoom(): void {
    const isPinned = (entry: PrefixCacheEntry): boolean => (this.#pins?.pinnedLength(entry.tokens) ?? 0) > 0;
    for (const pass of ["unpinned", "pinned"] as const) {
      for (const oldest of [...this.#entries]) {
        if (this.#usedBytes <= this.#budgetBytes) return;
        // An entry being read is about to be restored by a request that chose it.
        if (oldest.readers > 0 || isPinned(oldest) !== (pass === "pinned")) continue;
        if (pass === "pinned") {
          this.#pinnedEvictions++;
          this.#logger.warn(
            { model: this.#modelId, budgetBytes: this.#budgetBytes, tokens: oldest.tokens.length },
            "the prefix cache's budget is full of pinned prefixes: the least recently used pinned state is evicted (cache_control)",
          );
        }
        this.#evict(oldest, true);
      }
    }
  }

  #touch(entry: PrefixCacheEntry): void {
    this.#entries.delete(entry);
    this.#entries.add(entry);
  }

  #demote(entry: PrefixCacheEntry): void {
    const others = [...this.#entries].filter((other) => other !== entry);
    this.#entries.clear();
    this.#entries.add(entry);
    for (const other of others) this.#entries.add(other);
  }

  #evict(entry: PrefixCacheEntry, isForRoom: boolean): void {
    this.#entries.delete(entry);
    this.#usedBytes -= entry.sizeBytes;
    entry.isEvicted = true;
    if (isForRoom) this.#evictions++;
    if (entry.readers === 0) void rm(entry.file, { force: true }).catch(() => undefined);
  }
}

/** How many leading tokens two token lists share. */
export function sharedPrefixLength(a: readonly Token[], b: readonly Token[]): number {
  const length = Math.min(a.length, b.length);
  let index = 0;
  while (index < length && a[index] === b[index]) index++;
  return index;
}

/** Removes the state-file folders of moestro processes that no longer run (a crash, a `kill -9`). */
async function removeLeftovers(root: string): Promise<void> {
  const names = await readdir(root).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.startsWith(folderPrefix)) continue;
    const pid = Number(name.slice(folderPrefix.length).split("-")[0]);
    if (!Number.isInteger(pid) || pid === process.pid || isRunning(pid)) continue;
    await rm(path.join(root, name), { recursive: true, force: true }).catch(() => undefined);
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process runs, under another user.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
