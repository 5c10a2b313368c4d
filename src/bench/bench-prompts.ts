import { readFile } from "node:fs/promises";
import { z } from "zod";
import { MoestroError } from "../errors/index.js";
import { createSeededRandom, hashString } from "../util/seeded-random.js";

/** One prompt of a serving benchmark. */
export interface BenchPrompt {
  /** The prompt: the user message (chat endpoint) or the raw prompt (completions endpoint). */
  text: string;
  /** Chat messages to send instead of `text` (chat endpoint only); the completions endpoint joins their contents. */
  messages?: Array<{ role: string; content: string }>;
  /** This prompt's `max_tokens`. Defaults to the bench's. */
  maxTokens?: number;
}

/** Short common words: most are one or two tokens in any tokenizer, even a 512-token one. */
const words = (
  "the a and to of in it is was he she they we you on at for with his her day time cat dog sun tree park ball " +
  "red big little happy sad play run jump look see went said came home mom dad friend good new old one two boy girl " +
  "bird fish toy box car hat cake milk book door room bed blue green sky rain snow wind hill road house garden water"
).split(" ");

/**
 * A synthetic prompt of `wordCount` words drawn with a seeded generator from a list of short common words, starting
 * with its index so that no two prompts share a prefix (a server's prefix cache then saves nothing between them). The
 * same `(index, wordCount, seed)` always gives the same text.
 */
export function createSyntheticPrompt(options: { index: number; wordCount: number; seed: number }): string {
  const random = createSeededRandom(hashString(`${options.seed}:${options.index}`));
  const drawn = Array.from({ length: Math.max(0, options.wordCount - 1) }, () => words[Math.floor(random() * words.length)]!);
  return [`${options.index}.`, ...drawn].join(" ");
}

const datasetLineSchema = z
  .object({
    prompt: z.string().min(1).optional(),
    question: z.string().min(1).optional(),
    messages: z
      .array(z.object({ role: z.string(), content: z.string() }).passthrough())
      .min(1)
      .optional(),
    max_tokens: z.number().int().positive().optional(),
  })
  .passthrough()
  .refine((line) => line.prompt !== undefined || line.question !== undefined || line.messages !== undefined, {
    message: "needs prompt, question or messages",
  });

/**
 * Parses a bench dataset in JSON Lines, one prompt a line (blank lines skipped): `{"prompt": "..."}`,
 * `{"messages": [{"role": "user", "content": "..."}]}`, or an eval line (`{"question": "..."}`, its question sent as the
 * prompt); an optional `max_tokens` overrides the bench's for that prompt.
 *
 * @throws {MoestroError} `invalid_request` naming the first invalid line, or when there is no prompt.
 */
export function parseBenchDataset(text: string, options: { source: string }): BenchPrompt[] {
  const prompts: BenchPrompt[] = [];
  text.split(/\r?\n/).forEach((line, index) => {
    if (line.trim() === "") return;
    const where = `${options.source} line ${index + 1}`;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch (error) {
      throw new MoestroError("invalid_request", `${where} is not JSON: ${(error as Error).message}`, { param: "dataset", cause: error });
    }
    const parsed = datasetLineSchema.safeParse(json);
    if (!parsed.success) throw new MoestroError("invalid_request", `${where}: ${parsed.error.issues[0]!.message}.`, { param: "dataset" });
    const row = parsed.data;
    const messages = row.messages?.map((message) => ({ role: message.role, content: message.content }));
    const prompt: BenchPrompt = { text: row.prompt ?? row.question ?? messages!.map((message) => message.content).join("\n\n") };
    if (messages) prompt.messages = messages;
    if (row.max_tokens !== undefined) prompt.maxTokens = row.max_tokens;
    prompts.push(prompt);
  });
  if (prompts.length === 0) throw new MoestroError("invalid_request", `${options.source} holds no prompt.`, { param: "dataset" });
  return prompts;
}

/**
 * Reads a bench dataset file (see {@link parseBenchDataset}).
 *
 * @throws {MoestroError} `invalid_request` when it cannot be read or is invalid.
 */
export async function loadBenchDataset(file: string): Promise<BenchPrompt[]> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new MoestroError("invalid_request", `Cannot read the dataset ${file}: ${(error as Error).message}`, {
      param: "dataset",
      cause: error,
    });
  }
  return parseBenchDataset(text, { source: file });
}
