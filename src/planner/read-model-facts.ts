import { readGgufFileInfo, type GgufFileInfo } from "node-llama-cpp";
import { MoestroError, isAbortError } from "../errors/index.js";
import { describeGguf, type ModelFacts } from "./model-facts.js";
import { defaultHubEndpoint, resolveModelSource, type ModelSource, type ResolveModelSourceOptions } from "./model-source.js";

/** Options of {@link readModelFacts}: how to resolve the reference (see {@link ResolveModelSourceOptions}) and read it. */
export interface ReadModelFactsOptions extends ResolveModelSourceOptions {
  /** Whether to resolve the chat template family with node-llama-cpp. Defaults to `true`. */
  detectChat?: boolean;
  /** Reads a GGUF header; tests may swap it. Defaults to node-llama-cpp's `readGgufFileInfo`. */
  readHeader?: (source: ModelSource, options: { hubEndpoint: string; hubToken?: string; signal?: AbortSignal }) => Promise<GgufFileInfo>;
}

/**
 * Reads a model's GGUF header with node-llama-cpp's `readGgufFileInfo(pathOrUrl, {readTensorInfo: true})`: a local file
 * reads only its header; a hub file is read with HTTP `Range` requests up to the end of the tensor infos (a few MB for a
 * 151k-token vocabulary), never the weights. Split models are read from every part. Retries twice on network errors.
 *
 * Only the token given in `hubToken` is sent: node-llama-cpp's own lookup of `HF_TOKEN` and `~/.cache/huggingface/token`
 * is turned off (`tokens: {huggingFace: null}`), so the caller decides.
 */
export async function readGgufHeader(
  source: ModelSource,
  options: { hubEndpoint: string; hubToken?: string; signal?: AbortSignal },
): Promise<GgufFileInfo> {
  const target = source.kind === "file" ? source.path : source.url;
  return await readGgufFileInfo(target, {
    readTensorInfo: true,
    logWarnings: false,
    sourceType: source.kind === "file" ? "filesystem" : "network",
    signal: options.signal,
    fetchHeaders: options.hubToken ? { Authorization: `Bearer ${options.hubToken}` } : {},
    fetchRetryOptions: { retries: 2, factor: 2, minTimeout: 200, maxTimeout: 2000 },
    tokens: { huggingFace: null as unknown as string },
    endpoints: { huggingFace: options.hubEndpoint },
  });
}

/**
 * Reads what moestro knows about a model without loading it: resolves `ref` (a `.gguf` path, a hub reference
 * `hf:owner/repo:QUANT`, or a store name through `resolveStoredModel`), reads the GGUF header and describes it.
 *
 * @example
 * const facts = await readModelFacts("hf:Qwen/Qwen3-30B-A3B-GGUF:Q4_K_M");
 * console.log(facts.parameters.total, facts.parameters.active);
 *
 * @throws {MoestroError} `model_not_found` when the reference resolves to nothing; `invalid_request` when the file is
 * not a readable GGUF; `hub_unreachable` when the hub cannot be reached. Rethrows the signal's reason on abort.
 */
export async function readModelFacts(ref: string, options: ReadModelFactsOptions = {}): Promise<ModelFacts> {
  const source = await resolveModelSource(ref, options);
  const hubEndpoint = options.hubEndpoint ?? defaultHubEndpoint;
  let info: GgufFileInfo;
  try {
    info = await (options.readHeader ?? readGgufHeader)(source, { hubEndpoint, hubToken: options.hubToken, signal: options.signal });
  } catch (error) {
    if (options.signal?.aborted || isAbortError(error)) throw error;
    const where = source.kind === "file" ? source.path : source.url;
    const message = `Cannot read a GGUF header from ${where}: ${error instanceof Error ? error.message : String(error)}`;
    // A local file that does not parse is the caller's; a hub file that cannot be fetched is the hub's.
    const isParseError = /magic|GGUF|unsupported|version/i.test(error instanceof Error ? `${error.name} ${error.message}` : "");
    throw new MoestroError(source.kind === "hub" && !isParseError ? "hub_unreachable" : "invalid_request", message, {
      cause: error,
      param: "model",
    });
  }
  return describeGguf(info, { source, detectChat: options.detectChat });
}
