import type { MiddlewareHandler } from "hono";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { AffinityOutcome } from "../gateway/session-affinity.js";
import type { ModelBackend, UpstreamInfo, UsageEvent, UsageSink } from "../spec/index.js";
import type { AppEnv } from "./app-env.js";
import { mergeWorkerMetrics, scrapeWorkerMetrics } from "./worker-metrics.js";

/** What the metrics read live at each scrape. */
export interface MetricsSources {
  /** The loaded models. */
  loadedBackends(): readonly ModelBackend[];
  /** Memory the scheduler counts for each loaded model, bytes, by id. */
  modelMemoryBytes(): ReadonlyMap<string, number>;
  /** Model loads since start. */
  loadCount(): number;
  /** The upstreams (config `upstreams`, docs/gateway.md) and their state. Defaults to none. */
  upstreams?(): readonly UpstreamInfo[];
  /** Requests of a named session by affinity outcome since start (`UpstreamGateway.affinityOutcomes`). Defaults to none. */
  affinityOutcomes?(): Readonly<Record<AffinityOutcome, number>>;
}

/** Options of {@link Metrics}. */
export interface MetricsOptions {
  /**
   * How long one worker's scrape (`ModelBackend.scrapeMetrics`) may take at each `/metrics`, ms: a slower worker is
   * left out of that answer and counted in `moestro_worker_scrape_errors_total`. Defaults to 1000.
   */
  workerScrapeTimeoutMs?: number;
}

/**
 * moestro's Prometheus metrics (prom-client), one registry per app: HTTP requests by route and status with latency
 * histograms, TTFT and time per output token, tokens in and out, requests by outcome, queue depth, sequences in use,
 * model memory and loads, each loaded model's engine, its worker's restarts and speculation, each upstream's state, in-flight
 * requests, requests, errors and latency, plus Node's default process metrics.
 * Names follow Prometheus conventions (base units: seconds, bytes; counters end in `_total`). {@link render} adds the
 * loaded workers' own metrics (llama-server's `llamacpp:*`), labelled by model.
 */
export class Metrics {
  /** moestro's own metrics; {@link render} gives them with the workers'. */
  readonly registry = new Registry();
  readonly #sources: MetricsSources;
  readonly #workerScrapeTimeoutMs: number;
  readonly #workerScrapeErrors = new Counter({
    name: "moestro_worker_scrape_errors_total",
    help: "Scrapes of a worker's own metrics (llama-server /metrics) that failed or timed out, leaving its metrics out of that answer, by model.",
    labelNames: ["model"],
    registers: [this.registry],
  });
  readonly #fallbacks = new Counter({
    name: "moestro_gateway_fallbacks_total",
    help: "Requests moved to a fallback model before their first byte (docs/gateway.md, Fallbacks), by the model that failed, the fallback tried next, and the error code that moved them.",
    labelNames: ["from", "to", "reason"],
    registers: [this.registry],
  });
  readonly #httpRequests = new Counter({
    name: "moestro_http_requests_total",
    help: "HTTP requests by route, method and status.",
    labelNames: ["route", "method", "status"],
    registers: [this.registry],
  });
  readonly #httpDuration = new Histogram({
    name: "moestro_http_request_duration_seconds",
    help: "HTTP request duration until the response starts (for streams: until the first byte; see the TTFT and TPOT histograms), by route.",
    labelNames: ["route"],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [this.registry],
  });
  readonly #ttft = new Histogram({
    name: "moestro_time_to_first_token_seconds",
    help: "Time from request to first generated token (TTFT), by model.",
    labelNames: ["model"],
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly #tpot = new Histogram({
    name: "moestro_time_per_output_token_seconds",
    help: "Mean time per output token after the first (TPOT) of each request, by model.",
    labelNames: ["model"],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  });
  readonly #tokens = new Counter({
    name: "moestro_tokens_total",
    help: "Tokens by model and direction (prompt, completion, reasoning, cached; cache_creation and cache_read for the explicit cache).",
    labelNames: ["model", "kind"],
    registers: [this.registry],
  });
  readonly #draftTokens = new Counter({
    name: "moestro_draft_tokens_total",
    help: "Speculative decoding: tokens drafted (by prompt lookup or a draft model) and checked by the model, by model.",
    labelNames: ["model"],
    registers: [this.registry],
  });
  readonly #acceptedDraftTokens = new Counter({
    name: "moestro_accepted_draft_tokens_total",
    help: "Speculative decoding: drafted tokens the model accepted, by model; rate(accepted) / rate(drafted) is the acceptance rate.",
    labelNames: ["model"],
    registers: [this.registry],
  });
  /** Drafted and accepted tokens per model since start, for the acceptance-rate gauge. */
  readonly #draftTotals = new Map<string, { drafted: number; accepted: number }>();
  readonly #modelRequests = new Counter({
    name: "moestro_model_requests_total",
    help: "Model requests by model, endpoint and outcome (ok, error, aborted).",
    labelNames: ["model", "endpoint", "status"],
    registers: [this.registry],
  });

  /**
   * @param sources live figures read at each scrape.
   * @param options how workers are scraped.
   */
  constructor(sources: MetricsSources, options: MetricsOptions = {}) {
    this.#sources = sources;
    this.#workerScrapeTimeoutMs = options.workerScrapeTimeoutMs ?? 1000;
    collectDefaultMetrics({ register: this.registry, prefix: "moestro_" });
    new Gauge({
      name: "moestro_model_loaded",
      help: "1 for each loaded model, labelled with the engine that serves it (inproc: node-llama-cpp in this process; llama-server: a managed worker process).",
      labelNames: ["model", "engine"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const backend of sources.loadedBackends()) this.set({ model: backend.info.id, engine: backend.engine().kind }, 1);
      },
    });
    new Gauge({
      name: "moestro_worker_restarts",
      help: "Restarts of each loaded model's llama-server worker since the model was loaded (after the worker died).",
      labelNames: ["model"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const backend of sources.loadedBackends()) {
          const worker = backend.engine().worker;
          if (worker !== undefined) this.set({ model: backend.info.id }, worker.restarts);
        }
      },
    });
    new Gauge({
      name: "moestro_worker_speculating",
      help: "Speculative decoding of each loaded model's llama-server worker started with it: 1 while it speculates, 0 once it backed off (restarted without speculation for low acceptance, until the model is reloaded).",
      labelNames: ["model"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const backend of sources.loadedBackends()) {
          const speculation = backend.engine().worker?.speculation;
          if (speculation !== undefined) this.set({ model: backend.info.id }, speculation.backedOff === undefined ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: "moestro_queue_depth",
      help: "Requests waiting for a free sequence, by model.",
      labelNames: ["model"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const backend of sources.loadedBackends()) this.set({ model: backend.info.id }, backend.stats().queuedRequests);
      },
    });
    new Gauge({
      name: "moestro_sequences_in_use",
      help: "Sequences (slots) generating, by model.",
      labelNames: ["model"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const backend of sources.loadedBackends()) this.set({ model: backend.info.id }, backend.stats().sequencesInUse);
      },
    });
    new Gauge({
      name: "moestro_sequences_total",
      help: "Sequences (slots) per loaded model.",
      labelNames: ["model"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const backend of sources.loadedBackends()) this.set({ model: backend.info.id }, backend.info.parallelSequences);
      },
    });
    new Gauge({
      name: "moestro_model_memory_bytes",
      help: "Estimated memory of each loaded model (weights, KV cache, compute buffers).",
      labelNames: ["model"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [model, bytes] of sources.modelMemoryBytes()) this.set({ model }, bytes);
      },
    });
    const upstreams = () => sources.upstreams?.() ?? [];
    new Gauge({
      name: "moestro_upstream_up",
      help: "1 for each upstream that gets requests, 0 for one ejected (failed its health check, or requests in a row), by upstream.",
      labelNames: ["upstream"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const upstream of upstreams()) this.set({ upstream: upstream.name }, upstream.state === "healthy" ? 1 : 0);
      },
    });
    new Gauge({
      name: "moestro_upstream_ejected_reason",
      help: "1 for each ejected upstream, labelled with why (a failed health check, a 401 or 403 on its model list, its requests' failures); absent while it gets requests.",
      labelNames: ["upstream", "reason"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const upstream of upstreams())
          if (upstream.state === "ejected") this.set({ upstream: upstream.name, reason: upstream.reason ?? "" }, 1);
      },
    });
    new Gauge({
      name: "moestro_upstream_in_flight",
      help: "Requests each upstream is serving now.",
      labelNames: ["upstream"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const upstream of upstreams()) this.set({ upstream: upstream.name }, upstream.inFlight);
      },
    });
    new Gauge({
      name: "moestro_upstream_queued",
      help: "Requests waiting in each upstream's own queue, as its /metrics last said (vLLM, SGLang, llama.cpp, moestro upstreams; fresh readings only).",
      labelNames: ["upstream"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const upstream of upstreams()) if (upstream.queued !== undefined) this.set({ upstream: upstream.name }, upstream.queued);
      },
    });
    const affinityOutcomes = sources.affinityOutcomes;
    new Counter({
      name: "moestro_gateway_affinity_total",
      help: "Requests of a named session (session affinity on) by where their pool's first member choice sent them: hit (the member that served the session last), moved (another one), new (a session not remembered).",
      labelNames: ["outcome"],
      registers: [this.registry],
      collect() {
        this.reset();
        if (affinityOutcomes === undefined) return;
        for (const [outcome, count] of Object.entries(affinityOutcomes())) this.inc({ outcome }, count);
      },
    });
    new Counter({
      name: "moestro_upstream_requests_total",
      help: "Requests sent to each upstream (every attempt counts, a failed-over one too).",
      labelNames: ["upstream"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const upstream of upstreams()) this.inc({ upstream: upstream.name }, upstream.requestsTotal);
      },
    });
    new Counter({
      name: "moestro_upstream_errors_total",
      help: "Requests each upstream failed: refused connections, timeouts, 5xx, 429, broken streams.",
      labelNames: ["upstream"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const upstream of upstreams()) this.inc({ upstream: upstream.name }, upstream.errorsTotal);
      },
    });
    new Gauge({
      name: "moestro_upstream_latency_seconds",
      help: "Moving average of each upstream's time to its first streamed event (or its whole JSON answer).",
      labelNames: ["upstream"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const upstream of upstreams())
          if (upstream.latencyMs !== undefined) this.set({ upstream: upstream.name }, upstream.latencyMs / 1000);
      },
    });
    const draftTotals = this.#draftTotals;
    new Gauge({
      name: "moestro_draft_acceptance_ratio",
      help: "Speculative decoding: the share of drafted tokens the model accepted since start, 0 to 1, by model (models that drafted only).",
      labelNames: ["model"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [model, totals] of draftTotals) this.set({ model }, totals.drafted === 0 ? 0 : totals.accepted / totals.drafted);
      },
    });
    new Gauge({
      name: "moestro_model_loads_total",
      help: "Model loads since start (a reload counts; requests that change only sampling options never reload).",
      registers: [this.registry],
      collect() {
        this.set(sources.loadCount());
      },
    });
  }

  /** The content type of {@link render}'s text (Prometheus text format 0.0.4). */
  get contentType(): string {
    return this.registry.contentType;
  }

  /**
   * The text `/metrics` answers: moestro's own metrics, then the loaded workers' own (scraped all at once, each within
   * `workerScrapeTimeoutMs`, merged by {@link mergeWorkerMetrics}: every sample labelled `model`, each family once).
   * A worker whose scrape fails or times out is left out and counted in `moestro_worker_scrape_errors_total`, which
   * this same answer already shows. Takes at most about `workerScrapeTimeoutMs` longer than moestro's own metrics.
   */
  async render(): Promise<string> {
    const scraped = await scrapeWorkerMetrics(this.#sources.loadedBackends(), {
      timeoutMs: this.#workerScrapeTimeoutMs,
      onError: (model) => this.#workerScrapeErrors.inc({ model }),
    });
    const own = await this.registry.metrics();
    const reserved = new Set(this.registry.getMetricsAsArray().map((metric) => metric.name));
    const workers = mergeWorkerMetrics(scraped, reserved);
    if (workers === "") return own;
    return (own.endsWith("\n") ? own : own + "\n") + workers;
  }

  /**
   * Counts a request moved from the model `from` (as it was asked for: an id or an alias) to its fallback `to`, because
   * of the error code `reason` (`context_length_exceeded`, `model_not_found`, `upstream_failed`, ...). The labels come
   * from the config's `pools` and moestro's error codes, never from a client's free text, so they stay few.
   */
  countFallback(from: string, to: string, reason: string): void {
    this.#fallbacks.inc({ from, to, reason });
  }

  /** Middleware that counts every HTTP request and times it until its response starts. */
  middleware(): MiddlewareHandler<AppEnv> {
    return async (c, next) => {
      const startedAt = performance.now();
      await next();
      const route = c.req.routePath && c.req.routePath !== "/*" && c.req.routePath !== "*" ? c.req.routePath : "unmatched";
      const labels = { route, method: c.req.method, status: String(c.res.status) };
      this.#httpRequests.inc(labels);
      this.#httpDuration.observe({ route }, (performance.now() - startedAt) / 1000);
    };
  }

  /** A usage sink that feeds the model metrics (TTFT, TPOT, tokens, outcomes). */
  usageSink(): UsageSink {
    return {
      record: async (event: UsageEvent) => {
        const model = event.model;
        this.#modelRequests.inc({ model, endpoint: event.endpoint, status: event.status });
        this.#tokens.inc({ model, kind: "prompt" }, event.promptTokens);
        this.#tokens.inc({ model, kind: "completion" }, event.completionTokens);
        this.#tokens.inc({ model, kind: "reasoning" }, event.reasoningTokens);
        this.#tokens.inc({ model, kind: "cached" }, event.cachedPromptTokens);
        // The explicit cache (`cache_control`), only from requests that marked a prefix: no zero series otherwise.
        if (event.cacheCreationInputTokens !== undefined || event.cacheReadInputTokens !== undefined) {
          this.#tokens.inc({ model, kind: "cache_creation" }, event.cacheCreationInputTokens ?? 0);
          this.#tokens.inc({ model, kind: "cache_read" }, event.cacheReadInputTokens ?? 0);
        }
        if (event.draftTokens !== undefined && event.draftTokens > 0) {
          const accepted = event.acceptedDraftTokens ?? 0;
          this.#draftTokens.inc({ model }, event.draftTokens);
          this.#acceptedDraftTokens.inc({ model }, accepted);
          const totals = this.#draftTotals.get(model) ?? { drafted: 0, accepted: 0 };
          totals.drafted += event.draftTokens;
          totals.accepted += accepted;
          this.#draftTotals.set(model, totals);
        }
        if (event.timeToFirstTokenMs !== undefined) {
          this.#ttft.observe({ model }, event.timeToFirstTokenMs / 1000);
          if (event.completionTokens > 1)
            this.#tpot.observe({ model }, (event.latencyMs - event.timeToFirstTokenMs) / 1000 / (event.completionTokens - 1));
        }
      },
    };
  }
}
