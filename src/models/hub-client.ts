import { MoestroError } from "../errors/index.js";

/** A file of a Hugging Face repository, as the hub's tree API lists it. */
export interface HubFile {
  /** Path in the repo. */
  path: string;
  /** Size in bytes. */
  sizeBytes: number;
  /** SHA-256 of the content, hex, for files stored with LFS (every GGUF); `undefined` when the hub gives none. */
  sha256?: string;
}

/** Options of {@link createHubClient}. */
export interface HubClientOptions {
  /** The hub's base URL (`HF_ENDPOINT`). Defaults to https://huggingface.co. */
  endpoint?: string;
  /** A token for gated or private repos (`HF_TOKEN`), sent as `Authorization: Bearer`. Defaults to none. */
  token?: string;
  /** How long a metadata request may take, ms, before the hub is called unreachable. Defaults to 15000. */
  timeoutMs?: number;
  /** The fetch implementation. Defaults to the global `fetch`. */
  fetch?: typeof fetch;
}

/** A minimal Hugging Face hub client: list a repo's files with their sizes and hashes, and build download URLs. */
export interface HubClient {
  /** The hub's base URL, without a trailing slash. */
  readonly endpoint: string;
  /** Headers for requests to the hub (authorization when a token is set). */
  readonly headers: Readonly<Record<string, string>>;
  /**
   * Lists every file of `owner/repo` at `main`, recursively (`GET /api/models/{owner}/{repo}/tree/main?recursive=true`).
   *
   * @throws {MoestroError} `hub_unreachable` (502) when the hub cannot be reached or times out; `model_not_found` (404)
   *   when the repo does not exist or is gated without a token.
   */
  listFiles(owner: string, repo: string, options?: { signal?: AbortSignal }): Promise<HubFile[]>;
  /** The download URL of a file: `{endpoint}/{owner}/{repo}/resolve/main/{path}`. */
  fileUrl(owner: string, repo: string, path: string): string;
}

/**
 * Creates a hub client. The endpoint follows Hugging Face's own convention (`HF_ENDPOINT`), so a mirror or a local test
 * server in the hub's URL layout works the same way.
 */
export function createHubClient(options: HubClientOptions = {}): HubClient {
  const endpoint = (options.endpoint ?? "https://huggingface.co").replace(/\/+$/, "");
  const fetchImpl = options.fetch ?? fetch;
  const headers: Record<string, string> = options.token ? { Authorization: `Bearer ${options.token}` } : {};
  const timeoutMs = options.timeoutMs ?? 15_000;
  const encodePath = (path: string) => path.split("/").map(encodeURIComponent).join("/");
  return {
    endpoint,
    headers,
    fileUrl: (owner, repo, path) => `${endpoint}/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}/resolve/main/${encodePath(path)}`,
    async listFiles(owner, repo, { signal } = {}) {
      const url = `${endpoint}/api/models/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}/tree/main?recursive=true`;
      const timeout = AbortSignal.timeout(timeoutMs);
      let response: Response;
      try {
        response = await fetchImpl(url, { headers, signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        throw new MoestroError(
          "hub_unreachable",
          `Cannot reach the model hub at ${endpoint} (${describeFetchError(error)}). Check the network or HF_ENDPOINT, or pass a local GGUF file with --model ./model.gguf.`,
          { cause: error },
        );
      }
      if (response.status === 401 || response.status === 403 || response.status === 404) {
        throw new MoestroError(
          "model_not_found",
          `The hub has no repository ${owner}/${repo}${response.status === 404 ? "" : " that this token can read (set HF_TOKEN for gated or private repos)"}.`,
          { param: "model" },
        );
      }
      if (!response.ok)
        throw new MoestroError("hub_unreachable", `The model hub at ${endpoint} answered ${response.status} for ${owner}/${repo}.`);
      const entries = (await response.json()) as Array<{
        type?: string;
        path: string;
        size?: number;
        lfs?: { oid?: string; size?: number };
      }>;
      return entries
        .filter((entry) => entry.type !== "directory")
        .map((entry) => ({ path: entry.path, sizeBytes: entry.lfs?.size ?? entry.size ?? 0, sha256: entry.lfs?.oid }));
    },
  };
}

/** A short reason for a failed fetch: the cause's code (`ECONNREFUSED`, `ENOTFOUND`) or a timeout. */
export function describeFetchError(error: unknown): string {
  if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError")) return "timed out";
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  return cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
}
