import { MoestroError } from "../../errors/index.js";

/**
 * The endpoints a batch line may call (issue 20): OpenAI's four that run a model here. Anthropic's Message Batches are
 * out of scope.
 */
export const batchEndpoints = ["/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/responses"] as const;

/** One of {@link batchEndpoints}. */
export type BatchEndpoint = (typeof batchEndpoints)[number];

/** The most lines one batch input file may hold: OpenAI's limit (50,000 requests per batch). */
export const maxBatchLines = 50_000;

/** One request of a batch input file, as OpenAI's batch input format gives it. */
export interface BatchInputLine {
  /** The caller's id of the line, unique in the file; copied to its output line. */
  custom_id: string;
  /** `POST`. */
  method: "POST";
  /** One of {@link batchEndpoints}. */
  url: BatchEndpoint;
  /** The request body, as the endpoint takes it. */
  body: Record<string, unknown>;
}

/**
 * Parses and checks a batch input file (JSONL, OpenAI's batch input format): one JSON object per non-empty line with a
 * string `custom_id` unique in the file, `method` `POST`, a `url` among {@link batchEndpoints} and an object `body`
 * holding a string `model`; `stream: true` is refused (a batch answers whole responses). The body itself is checked
 * when its line runs, by the endpoint, as any request is: an invalid one lands in the error file.
 *
 * @param text the file, UTF-8.
 * @returns the lines in file order (empty lines skipped; `line` numbers in errors count every line from 1).
 * @throws {MoestroError} `invalid_request` (400, param `file`) naming the first bad line and what is wrong with it;
 *   an empty file, or one of more than {@link maxBatchLines} lines.
 */
export function parseBatchInput(text: string): BatchInputLine[] {
  const lines: BatchInputLine[] = [];
  const customIds = new Map<string, number>();
  const rawLines = text.split("\n");
  for (let index = 0; index < rawLines.length; index++) {
    const raw = rawLines[index]!.replace(/\r$/, "");
    if (raw.trim().length === 0) continue;
    const lineNumber = index + 1;
    const fail = (message: string): never => {
      throw new MoestroError("invalid_request", `Line ${lineNumber} of the batch input file ${message}`, { param: "file" });
    };
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (error) {
      fail(`is not valid JSON: ${(error as Error).message}.`);
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) fail("is not a JSON object.");
    const line = value as Record<string, unknown>;
    if (typeof line.custom_id !== "string" || line.custom_id.length === 0) fail("has no custom_id (a non-empty string).");
    const customId = line.custom_id as string;
    const earlier = customIds.get(customId);
    if (earlier !== undefined) fail(`repeats the custom_id '${customId}' of line ${earlier}; each line needs its own.`);
    customIds.set(customId, lineNumber);
    if (line.method !== "POST") fail(`has method ${JSON.stringify(line.method)}; only "POST" is supported.`);
    if (typeof line.url !== "string" || !(batchEndpoints as readonly string[]).includes(line.url))
      fail(`has url ${JSON.stringify(line.url)}; supported: ${batchEndpoints.join(", ")}.`);
    if (typeof line.body !== "object" || line.body === null || Array.isArray(line.body)) fail("has no body object.");
    const body = line.body as Record<string, unknown>;
    if (typeof body.model !== "string" || body.model.length === 0) fail("has no body.model (a model id).");
    if (body.stream === true) fail("asks for stream: true; batch requests are answered whole, leave stream out.");
    lines.push({ custom_id: customId, method: "POST", url: line.url as BatchEndpoint, body });
    if (lines.length > maxBatchLines) fail(`passes the limit of ${maxBatchLines} requests per batch file.`);
  }
  if (lines.length === 0) {
    throw new MoestroError("invalid_request", "The batch input file holds no request: give one JSON request per line (JSONL).", {
      param: "file",
    });
  }
  return lines;
}
