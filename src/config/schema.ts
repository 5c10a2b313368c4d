import os from "node:os";
import { z } from "zod";

/** CPU cores this process may use (`os.availableParallelism()`), the default and the cap for `engine.threads`. */
export function availableCores(): number {
  return os.availableParallelism();
}

/** One model to serve: a GGUF file and the id clients send as `model`. */
export const modelEntrySchema = z.object({
  path: z.string().min(1).describe("Path of the GGUF file."),
  id: z.string().min(1).optional().describe("The id clients send as `model`. Defaults to the file name without .gguf."),
});

/**
 * The one schema of moestro's configuration. Every field says its unit and default. Values come from flags, then
 * environment variables (`MOESTRO_` + the upper-case path with `__` between levels, such as `MOESTRO_ENGINE__THREADS`),
 * then defaults; `loadConfig` applies that precedence.
 */
export const configSchema = z.object({
  server: z
    .object({
      host: z.string().default("127.0.0.1").describe("Address to listen on. Defaults to 127.0.0.1 (this machine only)."),
      port: z.number().int().min(0).max(65535).default(8080).describe("TCP port; 0 picks a free one. Defaults to 8080."),
      bodyLimitBytes: z
        .number()
        .int()
        .min(1024)
        .default(32 * 1024 * 1024)
        .describe("Largest request body, in bytes; larger bodies get 413. Defaults to 32 MiB."),
    })
    .default({}),
  engine: z
    .object({
      threads: z
        .number()
        .int()
        .min(1)
        .optional()
        .describe("CPU threads for prefill and decode. Defaults to the available cores; never more."),
      parallel: z
        .number()
        .int()
        .min(1)
        .max(256)
        .default(4)
        .describe("Sequences decoded in parallel per model (continuous batching slots). Defaults to 4."),
      contextTokens: z
        .number()
        .int()
        .min(16)
        .optional()
        .describe("Context window of each sequence, in tokens. Defaults to the model's training context, capped at 4096."),
      batchSize: z
        .number()
        .int()
        .min(1)
        .default(512)
        .describe("Tokens per evaluation batch (prefill chunk). Defaults to 512."),
      maxQueuedRequests: z
        .number()
        .int()
        .min(0)
        .default(64)
        .describe("Requests that may wait for a free sequence per model; beyond it the server answers 503. Defaults to 64."),
      gpu: z
        .enum(["auto", "cpu", "cuda", "vulkan", "metal"])
        .default("auto")
        .describe("Compute backend: auto picks a GPU when there is one, cpu forces the CPU. Defaults to auto."),
    })
    .default({}),
  models: z.array(modelEntrySchema).default([]).describe("Models to serve. Defaults to none."),
  logLevel: z
    .enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"])
    .default("info")
    .describe("Log level of the structured (pino) logs on stderr. Defaults to info."),
});

/** moestro's effective configuration, after defaults. */
export type Config = z.infer<typeof configSchema>;
/** A configuration before defaults: every field optional. */
export type ConfigInput = z.input<typeof configSchema>;
