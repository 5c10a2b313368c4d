import { Hono } from "hono";
import { stream } from "hono/streaming";
import { z } from "zod";
import { MoestroError } from "../../../errors/index.js";
import { parseKeepAliveMs, parseWith } from "../../../dialects/openai/convert-request.js";
import { keepAliveSchema } from "../../../dialects/openai/schemas.js";
import { formatSseData, sseHeaders } from "../../../util/sse.js";
import type {
  WireLoadedModel,
  WireLoadResult,
  WireModelEntry,
  WirePullProgress,
  WireUnloadResult,
  WireUpstream,
} from "../../../wire/console.js";
import type { LoadedModelInfo, UpstreamInfo, WorkerSpeculationInfo } from "../../../spec/index.js";
import type { AppDeps, AppEnv } from "../../app-env.js";
import { createModelHeaderFactsReader } from "../../model-header-facts.js";
import { toWireError } from "../../error-response.js";
import { readJsonBody } from "../../serving/json-body.js";
import { requestSignal } from "../../serving/request-abort.js";

/** The body of the model routes: `{"model": "<id>", "keep_alive"?}`. */
const modelBodySchema = z.object({ model: z.string().min(1), keep_alive: keepAliveSchema });

/**
 * @throws {MoestroError} `invalid_request` (400) naming the invalid field.
 */
function parseModelBody(body: unknown): z.infer<typeof modelBodySchema> {
  return parseWith(modelBodySchema, body);
}

/**
 * Model management for the console and scripts, under `/v1/moestro/` (admin-only when key checks are on):
 * - `GET /models`: every model that can be served, with `loaded` and `facts` from its GGUF header (architecture,
 *   experts, whether it can think; `null` when the header cannot be read), so that the console offers only what fits;
 * - `GET /ps`: the loaded models: memory, requests and sequences in use, expiry, and which engine serves each
 *   (`engine`, `placement`, and `worker` with its pid, arguments, restarts and uptime for a llama-server worker);
 * - `POST /models/load` `{model, keep_alive?}` (`keep_alive` 0 is a 400: it would unload at once) and
 *   `POST /models/unload` `{model}`;
 * - `POST /pull` `{model}`: pulls into the store, streaming progress as NDJSON lines
 *   (`{"status","model","file","completed_bytes","total_bytes"}`), or as server-sent events when the request accepts
 *   `text/event-stream`. The last line is `{"status":"done",…}` or `{"error":{…}}`.
 */
export function createAdminModelRoutes(deps: AppDeps): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  const headerFacts = createModelHeaderFactsReader();
  routes.get("/models", async (c) => {
    const loaded = new Set(deps.models.listLoaded().map((model) => model.id));
    // A loaded model's backend knows for sure whether it can think; the header read says the same for the others.
    const canThinkById = new Map(deps.models.loadedBackends().map((backend) => [backend.info.id, backend.info.canThink]));
    const entries = await deps.models.listEntries();
    const priceBook = deps.admin?.pricing?.priceBook;
    const nowMs = (deps.now ?? Date.now)();
    const data: WireModelEntry[] = await Promise.all(
      entries.map(async (entry) => {
        const facts = entry.path === "" ? undefined : await headerFacts.read(entry.path);
        return {
          id: entry.id,
          aliases: [...(entry.aliases ?? [])],
          path: entry.path,
          source: entry.source,
          loaded: loaded.has(entry.id),
          // An upstream's model priced by time has no engine time to charge: $0 (docs/studio.md, "Unpriced models").
          ...(priceBook === undefined
            ? {}
            : { unpriced: entry.source === "upstream" && priceBook.localPrice(entry.id, nowMs).time !== undefined }),
          facts:
            facts === undefined
              ? null
              : {
                  architecture: facts.architecture,
                  expert_count: facts.expertCount ?? null,
                  expert_used_count: facts.expertUsedCount ?? null,
                  can_think: canThinkById.get(entry.id) ?? facts.canThink,
                },
        };
      }),
    );
    return c.json({ data });
  });
  routes.get("/ps", (c) => {
    const nowMs = (deps.now ?? Date.now)();
    return c.json({ data: deps.models.listLoaded().map((model) => toWireLoadedModel(model, nowMs)) });
  });
  routes.post("/models/load", async (c) => {
    const body = parseModelBody(await readJsonBody(c));
    const keepAliveMs = parseKeepAliveMs(body.keep_alive);
    if (keepAliveMs === 0) {
      // Ollama's keep_alive 0 means "unload after this request": a load that unloads at once would answer nothing useful.
      throw new MoestroError(
        "invalid_request",
        "keep_alive 0 would unload the model as soon as it is loaded; give a duration (negative keeps it loaded), or call POST /v1/moestro/models/unload to unload it.",
        { param: "keep_alive" },
      );
    }
    // Through the request's abort controller: the Node adapter's own abort reason is a string, no Error.
    const abort = requestSignal(c, deps);
    const info = await deps.models
      .load(body.model, { signal: abort.signal, keepAliveMs })
      .catch((error: unknown) => {
        throw abort.errorFor(error);
      })
      .finally(() => abort.detach());
    // Unloaded again before the answer (an unload was waiting for it): say so rather than fail.
    if (info === undefined) return c.json({ id: body.model, loaded: false, memory_bytes: null } satisfies WireLoadResult);
    return c.json({ id: info.id, loaded: true, memory_bytes: info.memoryBytes } satisfies WireLoadResult);
  });
  routes.post("/models/unload", async (c) => {
    const body = parseModelBody(await readJsonBody(c));
    return c.json({ id: body.model, was_loaded: await deps.models.unload(body.model) } satisfies WireUnloadResult);
  });
  routes.post("/pull", async (c) => {
    const body = parseModelBody(await readJsonBody(c));
    const puller = deps.puller;
    if (puller === undefined) throw new MoestroError("not_found", "This server has no model store to pull into.");
    // A reference pull cannot take is a 400 here, before the 200 of the progress stream.
    puller.checkRef(body.model);
    const asSse = (c.req.header("accept") ?? "").includes("text/event-stream");
    // Progress must reach the client as it comes, in either format: no caching, no proxy buffering.
    for (const [name, value] of Object.entries(sseHeaders)) c.header(name, value);
    if (!asSse) c.header("Content-Type", "application/x-ndjson; charset=utf-8");
    const line = (payload: unknown) => (asSse ? formatSseData(payload) : JSON.stringify(payload) + "\n");
    return stream(c, async (output) => {
      // Ends with the client's connection or the server's shutdown (whose grace period a pull does not get).
      const abort = requestSignal(c, deps);
      output.onAbort(() => abort.abort());
      try {
        for await (const progress of puller.pull(body.model, { signal: abort.signal })) {
          await output.write(
            line({
              status: progress.status,
              model: progress.model,
              file: progress.file ?? null,
              completed_bytes: progress.completedBytes,
              total_bytes: progress.totalBytes ?? null,
            } satisfies WirePullProgress),
          );
        }
      } catch (error) {
        const reported = abort.errorFor(error);
        const requestId = c.get("requestId");
        // An unexpected failure is sent as a generic internal_error: its cause goes to the log (a client that left is none).
        if (!(reported instanceof MoestroError) && !abort.signal.aborted) deps.logger.error({ err: error, requestId }, "pull failed");
        if (!output.aborted) await output.write(line(toWireError(reported, requestId).body));
      } finally {
        abort.detach();
      }
    });
  });
  return routes;
}

/**
 * A loaded model as `GET /v1/moestro/ps` shows it: times as ISO 8601, and for a worker its `uptime`, whole seconds
 * since its running process started (`startedAtMs`) at `nowMs` (epoch ms), never negative (a clock that stepped back).
 */
export function toWireLoadedModel(model: LoadedModelInfo, nowMs: number): WireLoadedModel {
  const { kind, placement, worker, upstreams } = model.engine;
  return {
    id: model.id,
    memory_bytes: model.memoryBytes,
    active_requests: model.activeRequests,
    sequences_in_use: model.sequencesInUse,
    expires_at: model.expiresAtMs === null ? null : new Date(model.expiresAtMs).toISOString(),
    loaded_at: new Date(model.loadedAtMs).toISOString(),
    engine: kind,
    placement: { description: placement.description, gpu_layers: placement.gpuLayers, cpu_moe_layers: placement.cpuMoeLayers },
    worker:
      worker === undefined
        ? null
        : {
            pid: worker.pid,
            binary: worker.binary,
            version: worker.version,
            args: [...worker.args],
            restarts: worker.restarts,
            started_at: new Date(worker.startedAtMs).toISOString(),
            uptime: Math.max(0, Math.floor((nowMs - worker.startedAtMs) / 1000)),
            speculation: describeWorkerSpeculation(worker.speculation),
          },
    ...(upstreams === undefined
      ? {}
      : {
          upstreams: upstreams.map((upstream) => toWireUpstream(upstream)),
        }),
  };
}

/**
 * A worker's speculative decoding in words, for `ps`: `draft` or `ngram` while it speculates, `off (backed off: 3% of
 * 512 drafted tokens accepted; restarted in 1840 ms)` once it backed off (`restarting` until the new process is ready),
 * `null` without speculation.
 */
export function describeWorkerSpeculation(speculation: WorkerSpeculationInfo | undefined): string | null {
  if (speculation === undefined) return null;
  const backedOff = speculation.backedOff;
  if (backedOff === undefined) return speculation.type;
  const restart = backedOff.restartMs === undefined ? "restarting" : `restarted in ${backedOff.restartMs} ms`;
  return `off (backed off: ${(backedOff.acceptance * 100).toFixed(0)}% of ${backedOff.draftTokens} drafted tokens accepted; ${restart})`;
}

/** Rounds a time to a tenth of a millisecond for the wire; `null` for none. */
function roundMs(ms: number | undefined): number | null {
  return ms === undefined ? null : Math.round(ms * 10) / 10;
}

/**
 * One upstream (or a pool's local member) as `GET /v1/moestro/ps` and `GET /v1/moestro/upstreams` show it: times in ms
 * to a tenth, `ejected_until` as ISO 8601, `null` for what is not known.
 */
export function toWireUpstream(upstream: UpstreamInfo): WireUpstream {
  return {
    name: upstream.name,
    url: upstream.url,
    kind: upstream.kind,
    state: upstream.state,
    weight: upstream.weight,
    in_flight: upstream.inFlight,
    queued: upstream.queued ?? null,
    kv_cache_usage: upstream.kvCacheUsage ?? null,
    requests_total: upstream.requestsTotal,
    errors_total: upstream.errorsTotal,
    consecutive_failures: upstream.consecutiveFailures,
    latency_ms: roundMs(upstream.latencyMs),
    latency_p50_ms: roundMs(upstream.latencyP50Ms),
    recent_attempts: upstream.recentAttempts ?? 0,
    recent_error_rate: upstream.recentErrorRate ?? null,
    ejected_until: upstream.ejectedUntilMs === undefined ? null : new Date(upstream.ejectedUntilMs).toISOString(),
    reason: upstream.reason ?? null,
    models: [...upstream.models],
  };
}
