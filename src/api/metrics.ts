import type { MiddlewareHandler } from "hono";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { ModelBackend, UsageEvent, UsageSink } from "../spec/index.js";
import type { AppEnv } from "./app-env.js";

/** What the metrics read live at each scrape. */
export interface MetricsSources {
  /** The loaded models. */
  loadedBackends(): readonly ModelBackend[];
  /** Memory the scheduler counts for each loaded model, bytes, by id. */
  modelMemoryBytes(): ReadonlyMap<string, number>;
  /** Model loads since start. */
  loadCount(): number;
}

/**
 * moestro's Prometheus metrics (prom-client), one registry per app: HTTP requests by route and status with latency
 * histograms, TTFT and time per output token, tokens in and out, requests by outcome, queue depth, sequences in use,
 * model memory and loads, plus Node's default process metrics. Names follow Prometheus conventions (base units:
 * seconds, bytes; counters end in `_total`).
 */
export class Metrics {
  /** The registry `/metrics` renders. */
  readonly registry = new Registry();
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
    help: "Tokens by model and direction (prompt, completion, reasoning, cached).",
    labelNames: ["model", "kind"],
    registers: [this.registry],
  });
  readonly #modelRequests = new Counter({
    name: "moestro_model_requests_total",
    help: "Model requests by model, endpoint and outcome (ok, error, aborted).",
    labelNames: ["model", "endpoint", "status"],
    registers: [this.registry],
  });

  /** @param sources live figures read at each scrape. */
  constructor(sources: MetricsSources) {
    collectDefaultMetrics({ register: this.registry, prefix: "moestro_" });
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
    new Gauge({
      name: "moestro_model_loads_total",
      help: "Model loads since start (a reload counts; requests that change only sampling options never reload).",
      registers: [this.registry],
      collect() {
        this.set(sources.loadCount());
      },
    });
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
        if (event.timeToFirstTokenMs !== undefined) {
          this.#ttft.observe({ model }, event.timeToFirstTokenMs / 1000);
          if (event.completionTokens > 1)
            this.#tpot.observe({ model }, (event.latencyMs - event.timeToFirstTokenMs) / 1000 / (event.completionTokens - 1));
        }
      },
    };
  }
}
