import {
  InputLookupTokenPredictor,
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaModel,
  type Token,
} from "node-llama-cpp";
import type { SpeculativeOptions } from "../../spec/index.js";

/** Tokens drafted per step when `maxDraftTokens` is not set: node-llama-cpp's defaults (draft model 16, prompt lookup 3). */
export const defaultMaxDraftTokens = { draft: 16, ngram: 3 } as const;
/**
 * A draft model's lowest token probability worth drafting, when `minConfidence` is not set: 0, drafting always up to
 * `maxDraftTokens` (the back-off stops drafts that fail). Not node-llama-cpp's 0.6: a drafted token's probability
 * comes from node-llama-cpp's full distribution, which cost about 45 ms per token on a 151,936-token vocabulary against
 * 1 to 4 ms for the token alone (tiny-qwen3moe as draft, 1 thread), and on stories260K drafting the padded target, 0.6
 * cut most drafts short (1.09x plain decoding instead of 3.0x; docs/bench.md).
 */
export const defaultMinConfidence = 0;
/** The acceptance rate below which drafting pauses, when `minAcceptance` is not set (see {@link BackOff}). */
export const defaultMinAcceptance = 0.3;
/** Drafted tokens over which the acceptance rate is judged before a pause is decided (see {@link BackOff}). */
const acceptanceWindowTokens = 16;
/** Drafting steps after which the acceptance rate is judged, if 16 drafted tokens came first (see {@link BackOff}). */
const acceptanceWindowSteps = 4;
/** The length of a sequence's first draft (see {@link BackOff}). */
const firstDraftTokens = 4;
/** The first pause, in steps (target evaluations), after a window under `minAcceptance`; doubled on each failure. */
const firstPauseSteps = 16;
/** The longest pause, in steps: speculation is tried again at least this often, in case the text turned predictable. */
const maxPauseSteps = 512;

/** What a request's speculation did: tokens drafted and, of those, the ones the target model accepted. */
export interface DraftCounts {
  /** Tokens the predictor proposed that the target model checked. */
  draftTokens: number;
  /** Of those, the ones it accepted (its own pick at that position was the drafted token). */
  acceptedDraftTokens: number;
}

/**
 * Decides how much to draft, so that speculation costs little where the drafter cannot guess the model's text. Two
 * rules, per sequence, kept across its requests (a draft model that cannot predict a model's text on one request rarely
 * can on the next, and a request of a few dozen tokens would otherwise pay for a failed trial every time):
 * - draft length: the first draft is 4 tokens (or `maxTokens` when smaller); a draft accepted whole doubles the next
 *   one, up to `maxTokens`; a draft rejected in part makes the next one its accepted part plus one. Each drafted token
 *   costs the model one more position's evaluation (its output projection included: on a 151,936-token vocabulary that
 *   is most of a decode step on CPU), so a short draft is a cheap trial.
 * - pauses: drafts are judged in windows of 16 drafted tokens or 4 drafting steps, whichever comes first; a window whose
 *   acceptance rate is under `minAcceptance` pauses drafting for 16 steps (evaluations), then 32, 64 and so on up to
 *   512 while windows keep failing; a window that passes resets the pause. After a failed window a window is one
 *   drafting step (a probe), so that text the drafter cannot guess costs one short draft per pause.
 */
export class BackOff {
  readonly #minAcceptance: number;
  readonly #maxTokens: number;
  #draftTokens: number;
  #windowDrafted = 0;
  #windowAccepted = 0;
  #windowSteps = 0;
  #pauseSteps = firstPauseSteps;
  #pausedSteps = 0;

  /**
   * @param minAcceptance the acceptance rate a window needs, 0 to 1 (0 never pauses).
   * @param maxTokens the most tokens a draft may have.
   */
  constructor(minAcceptance: number, maxTokens: number) {
    this.#minAcceptance = minAcceptance;
    this.#maxTokens = maxTokens;
    this.#draftTokens = Math.min(firstDraftTokens, maxTokens);
  }

  /** How many tokens to draft at this step: 0 during a pause (a paused step counts down). */
  draftTokens(): number {
    if (this.#pausedSteps === 0) return this.#draftTokens;
    this.#pausedSteps--;
    return 0;
  }

  /** Records one step's drafted tokens and, of those, the accepted ones; adapts the draft length, decides a pause. */
  record(drafted: number, accepted: number): void {
    if (drafted === 0) return;
    this.#draftTokens = accepted === drafted ? Math.min(this.#draftTokens * 2, this.#maxTokens) : accepted + 1;
    this.#windowDrafted += drafted;
    this.#windowAccepted += accepted;
    this.#windowSteps++;
    // After a failed window, one draft decides: the next pause, or that drafting pays again.
    const probing = this.#pauseSteps > firstPauseSteps;
    if (!probing && this.#windowDrafted < acceptanceWindowTokens && this.#windowSteps < acceptanceWindowSteps) return;
    if (this.#windowAccepted >= this.#minAcceptance * this.#windowDrafted) {
      this.#pauseSteps = firstPauseSteps;
    } else {
      this.#pausedSteps = this.#pauseSteps;
      this.#pauseSteps = Math.min(this.#pauseSteps * 2, maxPauseSteps);
    }
    this.#windowDrafted = 0;
    this.#windowAccepted = 0;
    this.#windowSteps = 0;
  }
}

/**
 * Proposes the tokens that follow a sequence's text, for one sequence of the target context at a time:
 * {@link Drafter.begin} starts a request, {@link Drafter.draft} proposes tokens.
 */
export interface Drafter {
  /** Starts a request whose whole prompt is `promptTokens` (prompt lookup searches it). */
  begin(promptTokens: readonly Token[]): void;
  /**
   * The tokens that likely follow `history` (the prompt and every generated token, the last one not evaluated yet), at
   * most `maxTokens`; may be empty.
   */
  draft(history: readonly Token[], maxTokens: number): Promise<Token[]> | Token[];
}

/**
 * Prompt lookup: the tokens that followed the last generated ones where they occur in the prompt (node-llama-cpp's
 * `InputLookupTokenPredictor`, patterns of at least 2 tokens, driven directly: each call gives it the new history).
 */
class LookupDrafter implements Drafter {
  readonly #lookup: InputLookupTokenPredictor;
  #known = 0;

  constructor(maxTokens: number) {
    this.#lookup = new InputLookupTokenPredictor({ patternLength: { min: 2 }, predictionLength: { min: 1, max: maxTokens } });
  }

  begin(promptTokens: readonly Token[]): void {
    this.#lookup.updateInputTokens(promptTokens.slice());
    this.#lookup.reset({ stateTokens: [] });
    this.#known = 0;
  }

  draft(history: readonly Token[], maxTokens: number): Token[] {
    if (history.length < this.#known) this.#lookup.reset({ stateTokens: history.slice() });
    else if (history.length > this.#known) this.#lookup.pushTokens(history.slice(this.#known));
    this.#known = history.length;
    return this.#lookup.predictTokens().slice(0, maxTokens);
  }
}

/**
 * A draft model's sequence that follows one target sequence: before each draft it takes in the tokens the target
 * accepted since the last one (its KV cache keeps the common prefix), then decodes greedily until `maxTokens`, an
 * end-of-generation token, or a token whose probability is under `minConfidence`.
 */
class ModelDrafter implements Drafter {
  readonly #sequence: LlamaContextSequence;
  readonly #minConfidence: number;

  constructor(sequence: LlamaContextSequence, minConfidence: number) {
    this.#sequence = sequence;
    this.#minConfidence = minConfidence;
  }

  begin(): void {}

  async draft(history: readonly Token[], maxTokens: number): Promise<Token[]> {
    const sequence = this.#sequence;
    const limit = Math.min(maxTokens, sequence.contextSize - history.length - 1);
    if (limit <= 0) return [];
    const { firstDifferentIndex } = sequence.compareContextTokens(history as Token[]);
    // The last token is evaluated again for its next-token logits.
    const keep = Math.min(firstDifferentIndex, history.length - 1);
    if (keep < sequence.nextTokenIndex) await sequence.eraseContextTokenRanges([{ start: keep, end: sequence.nextTokenIndex }]);
    const drafted: Token[] = [];
    // The probability is asked for only when it is used: it costs a full distribution per token (defaultMinConfidence).
    const metadata = { confidence: this.#minConfidence > 0 };
    const steps = sequence.evaluateWithMetadata(history.slice(keep), metadata, { temperature: 0, yieldEogToken: true });
    try {
      for await (const output of steps) {
        const { token, confidence } = output as { token: Token; confidence?: number };
        if (this.#minConfidence > 0 && (confidence ?? 1) < this.#minConfidence) break;
        drafted.push(token);
        if (drafted.length >= limit || sequence.model.isEogToken(token)) break;
      }
    } finally {
      await steps.return(undefined);
    }
    return drafted;
  }
}

/** Options of {@link createSpeculation}. */
export interface SpeculationSetupOptions {
  llama: Llama;
  /** The model that drafts are for (its vocabulary is checked against the draft model's). */
  target: LlamaModel;
  /** The model's speculative settings (`models[].speculative`). */
  options: SpeculativeOptions;
  /** Sequences of the target context: one drafter (and one draft sequence) each. */
  sequences: number;
  /** Context window per sequence, tokens; the draft context gets the same. */
  contextTokens: number;
  /** CPU threads of the draft context. */
  threads: number;
  /** Tokens per evaluation batch of the draft context. */
  batchSize: number;
  flashAttention: boolean;
}

/** A model's speculative decoding: one drafter per sequence, and the draft model when there is one. */
export interface Speculation {
  /** The drafter of the target context's sequence number `index`. */
  drafter(index: number): Drafter;
  /** The back-off of the target context's sequence number `index`, kept across its requests. */
  backOff(index: number): BackOff;
  /** The most tokens drafted per step. */
  maxDraftTokens: number;
  /** Whether requests that do not say speculate. */
  byDefault: boolean;
  /** Unloads the draft model and its context. */
  dispose(): Promise<void>;
}

/**
 * Sets up a model's speculative decoding: for `ngram`, prompt lookup; for `draft`, loads the draft model and a context
 * of one sequence per target sequence, each drafting for one target sequence.
 *
 * @throws when `type` is `draft` without `draftModel`; when the draft model cannot be loaded (node-llama-cpp's error);
 *   when its vocabulary differs from the target's (a draft whose token ids mean other text could never be accepted).
 */
export async function createSpeculation(setup: SpeculationSetupOptions): Promise<Speculation> {
  const { options } = setup;
  const minAcceptance = options.minAcceptance ?? defaultMinAcceptance;
  const maxDraftTokens = options.maxDraftTokens ?? defaultMaxDraftTokens[options.type];
  const backOffs = Array.from({ length: setup.sequences }, () => new BackOff(minAcceptance, maxDraftTokens));
  const common = { byDefault: options.byDefault ?? true, backOff: (index: number) => backOffs[index]!, maxDraftTokens };
  if (options.type === "ngram") {
    const drafters = Array.from({ length: setup.sequences }, () => new LookupDrafter(maxDraftTokens));
    return { ...common, drafter: (index) => drafters[index]!, dispose: async () => {} };
  }
  if (options.draftModel === undefined) throw new Error("speculative.type draft needs speculative.draftModel");
  const draftModel: LlamaModel = await setup.llama.loadModel({ modelPath: options.draftModel });
  let draftContext: LlamaContext;
  try {
    if (!sameVocabulary(setup.target, draftModel)) {
      throw new Error(`the draft model ${options.draftModel} has another vocabulary than the model it drafts for`);
    }
    draftContext = await draftModel.createContext({
      contextSize: setup.contextTokens,
      sequences: setup.sequences,
      threads: setup.threads,
      batchSize: Math.min(setup.batchSize, setup.contextTokens),
      flashAttention: setup.flashAttention,
    });
  } catch (error) {
    await draftModel.dispose();
    throw error;
  }
  const minConfidence = options.minConfidence ?? defaultMinConfidence;
  const drafters = Array.from({ length: setup.sequences }, () => new ModelDrafter(draftContext.getSequence(), minConfidence));
  return {
    ...common,
    drafter: (index) => drafters[index]!,
    async dispose() {
      await draftContext.dispose();
      await draftModel.dispose();
    },
  };
}

/** A model's vocabulary size (`tokenizer.ggml.tokens`). */
function vocabularySize(model: LlamaModel): number {
  return (model.fileInfo.metadata.tokenizer?.ggml?.tokens as readonly unknown[] | undefined)?.length ?? 0;
}

/** Whether two models share a vocabulary: the same size, the same BOS and EOS, the same text for a sample of ids. */
function sameVocabulary(target: LlamaModel, draft: LlamaModel): boolean {
  const size = vocabularySize(target);
  if (size !== vocabularySize(draft) || target.tokens.bos !== draft.tokens.bos || target.tokens.eos !== draft.tokens.eos) return false;
  const step = Math.max(1, Math.floor(size / 997));
  for (let token = 0; token < size; token += step) {
    if (target.detokenize([token as Token], true) !== draft.detokenize([token as Token], true)) return false;
  }
  return true;
}

/** What decides whether one request speculates. */
export interface SpeculationRequest {
  /** The request's own switch (`speculative`), `undefined` when it does not say. */
  speculative?: boolean;
  /** The model's default (`speculative.byDefault`). */
  byDefault: boolean;
  logprobs?: unknown;
  sampling: { temperature?: number; seed?: number; presencePenalty?: number; frequencyPenalty?: number };
  /** Whether a grammar constrains some of the output (JSON schema, `json_object`, tool calls). */
  hasGrammar: boolean;
}

/**
 * Whether a request decodes speculatively: when it asks (or the model's default says so), and only where node-llama-cpp's
 * speculative loop gives what plain decoding gives:
 * - no logprobs: moestro samples those itself from the full distribution, one token per evaluation;
 * - no grammar: the grammar that applies changes as the output moves between thought, answer and tool calls, and drafted
 *   tokens are sampled under the grammar of the step's start;
 * - no presence or frequency penalty: node-llama-cpp reads the penalized tokens once per evaluation, so drafted positions
 *   would not see the tokens just before them;
 * - no seed with temperature above 0: how many tokens a draft model has ready when the target samples depends on timing,
 *   and each position draws from the seeded generator, so seeded output would no longer repeat.
 * Greedy decoding (temperature 0) gives the same tokens with or without speculation.
 */
export function shouldSpeculate(request: SpeculationRequest): boolean {
  if (!(request.speculative ?? request.byDefault)) return false;
  const { sampling } = request;
  if (request.logprobs !== undefined || request.hasGrammar) return false;
  if ((sampling.presencePenalty ?? 0) !== 0 || (sampling.frequencyPenalty ?? 0) !== 0) return false;
  return sampling.seed === undefined || (sampling.temperature ?? 1) === 0;
}
