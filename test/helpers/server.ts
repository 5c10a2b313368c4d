import OpenAI from "openai";
import { pino } from "pino";
import { loadConfig, type ConfigInput } from "../../src/config/index.js";
import { startServer, type RunningServer } from "../../src/server.js";

/** A real moestro server on a free port, with an official OpenAI client pointed at it. */
export interface TestServer {
  server: RunningServer;
  client: OpenAI;
  url: string;
  close(): Promise<void>;
}

/**
 * Starts the real server on 127.0.0.1 with a free port, one thread and the given models. Logs are silent unless
 * `MOESTRO_TEST_LOG` names a level.
 */
export async function startTestServer(input: ConfigInput): Promise<TestServer> {
  const config = loadConfig({
    flags: {
      ...input,
      server: { host: "127.0.0.1", port: 0, ...input.server },
      engine: { threads: 1, ...input.engine },
    },
  });
  const logger = pino({ level: process.env.MOESTRO_TEST_LOG ?? "silent" });
  const server = await startServer(config, logger);
  const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused", maxRetries: 0 });
  return { server, client, url: server.url, close: () => server.close() };
}

/** Parses an SSE body into its `data:` payloads, in order (`[DONE]` kept as a string). */
export function parseSse(body: string): Array<unknown> {
  return body
    .split("\n\n")
    .filter((block) => block.trim().length > 0)
    .map((block) => {
      const data = block
        .split("\n")
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).trimStart())
        .join("\n");
      return data === "[DONE]" ? data : (JSON.parse(data) as unknown);
    });
}
