// @ts-check
// A greedy continuous-batching decode loop on node-llama-cpp 3.21.1's native addon, below its LlamaContext layer
// (issue 19, section 1 spike; scripts/spike-addon-floor.mjs and scripts/bench-serve-floor.mjs FLOOR_ENGINE=addon).
// Every active sequence goes into one batch per step, as llama-server's slot loop does: initBatch, addToBatch per
// sequence, one decodeBatch (a libuv pool trip), then one sampleToken per sequence in parallel (a second trip). No
// queue, locks, token meter, thread splitter or promise chain per token. It uses node-llama-cpp internals
// (`context._ctx`, `llama._bindings.AddonSampler`, `model._model`): a measurement, not a supported interface.

/**
 * The slice of node-llama-cpp's internal AddonContext (dist/bindings/AddonTypes.d.ts) this loop drives.
 * @typedef {{
 *   initBatch(size: number): void,
 *   addToBatch(sequenceId: number, firstPos: number, tokens: Uint32Array, logitIndexes: Uint32Array): Uint32Array,
 *   decodeBatch(): Promise<void>,
 *   sampleToken(batchLogitIndex: number, sampler: AddonSampler): Promise<Token | -1>,
 *   disposeSequence(sequenceId: number): void,
 * }} AddonContext
 * @typedef {{ applyConfig(config: { temperature?: number }): void, dispose(): void }} AddonSampler
 * @typedef {import("node-llama-cpp").Token} Token
 * @typedef {{ seq: number, pos: number, pending: Token[], out: Token[], maxTokens: number,
 *   onToken: ((token: Token) => void) | undefined, done: (tokens: Token[]) => void, fail: (error: unknown) => void }} Active
 */

/**
 * Creates the loop on a context that nothing else decodes on (its LlamaContext batch queue stays idle; sequence ids
 * 0..sequences-1 are owned here, so never call `context.getSequence()` on it).
 * @param {import("node-llama-cpp").LlamaModel} model
 * @param {import("node-llama-cpp").LlamaContext} context created with `sequences` sequences and `batchSize`
 * @param {{ sequences: number, batchSize: number }} options
 * @returns {{
 *   generate(prompt: Token[], maxTokens: number, onToken?: (token: Token) => void): Promise<Token[]>,
 *   ctx: AddonContext, samplers: AddonSampler[],
 *   trips: { decodeMs: number, decodes: number, sampleMs: number, samples: number },
 *   dispose(): void,
 * }} `generate` resolves with the generated tokens (end-of-generation excluded); `trips` sums the awaited wall ms
 *   of decodeBatch and of each step's sampleToken calls.
 * @throws {RangeError} from `generate`, synchronously, for an empty prompt or one longer than `batchSize` (no chunked
 *   prefill here); a failed decode or sample rejects every generation in flight.
 */
export function createAddonLoop(model, context, { sequences, batchSize }) {
  const ctx = /** @type {AddonContext} */ (/** @type {any} */ (context)._ctx);
  const AddonSamplerClass = /** @type {{ new (model: unknown): AddonSampler }} */ (
    /** @type {any} */ (model)._llama._bindings.AddonSampler
  );
  const samplers = Array.from({ length: sequences }, () => {
    const sampler = new AddonSamplerClass(/** @type {any} */ (model)._model);
    sampler.applyConfig({ temperature: 0 }); // greedy, once: node-llama-cpp re-applies its config every token
    return sampler;
  });
  /** @type {Active[]} */
  const active = [];
  /** @type {Active[]} */
  const waiting = [];
  const freeIds = Array.from({ length: sequences }, (_, i) => sequences - 1 - i);
  let running = false;
  const trips = { decodeMs: 0, decodes: 0, sampleMs: 0, samples: 0 };

  /** @param {Active} item */
  const finish = (item) => {
    ctx.disposeSequence(item.seq); // llama_memory_seq_rm(seq, -1, -1): all of the sequence's KV cells
    freeIds.push(item.seq);
    active.splice(active.indexOf(item), 1);
    item.done(item.out);
  };

  async function step() {
    while (waiting.length > 0 && freeIds.length > 0) {
      const next = /** @type {Active} */ (waiting.shift());
      next.seq = /** @type {number} */ (freeIds.pop());
      active.push(next);
    }
    let room = batchSize;
    /** @type {{ item: Active, index: number }[]} */
    const inBatch = [];
    for (const item of active) {
      if (item.pending.length > room) continue; // a prompt that does not fit waits for the next step
      room -= item.pending.length;
      inBatch.push({ item, index: -1 });
    }
    ctx.initBatch(batchSize - room);
    for (const entry of inBatch) {
      const { item } = entry;
      const pending = Uint32Array.from(item.pending);
      entry.index = ctx.addToBatch(item.seq, item.pos, pending, Uint32Array.of(pending.length - 1))[0];
      item.pos += pending.length;
    }
    let t = performance.now();
    await ctx.decodeBatch();
    trips.decodeMs += performance.now() - t;
    trips.decodes++;
    t = performance.now();
    const tokens = await Promise.all(inBatch.map(({ item, index }) => ctx.sampleToken(index, samplers[item.seq])));
    trips.sampleMs += performance.now() - t;
    trips.samples++;
    for (let i = 0; i < inBatch.length; i++) {
      const { item } = inBatch[i];
      const token = tokens[i];
      if (token === -1 || model.isEogToken(token)) {
        finish(item);
        continue;
      }
      item.out.push(token);
      item.onToken?.(token);
      if (item.out.length >= item.maxTokens) finish(item);
      else item.pending = [token];
    }
  }

  async function loop() {
    running = true;
    try {
      while (active.length > 0 || waiting.length > 0) await step();
    } catch (error) {
      for (const item of [...active, ...waiting]) item.fail(error);
      active.length = 0;
      waiting.length = 0;
    } finally {
      running = false;
    }
  }

  return {
    generate(prompt, maxTokens, onToken) {
      if (prompt.length === 0 || prompt.length > batchSize) throw new RangeError(`prompt of ${prompt.length} tokens`);
      return new Promise((done, fail) => {
        waiting.push({ seq: -1, pos: 0, pending: prompt, out: [], maxTokens, onToken, done, fail });
        if (!running) void loop();
      });
    },
    ctx,
    samplers,
    trips,
    dispose() {
      for (const sampler of samplers) sampler.dispose();
    },
  };
}
