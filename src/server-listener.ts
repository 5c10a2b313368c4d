import type { AddressInfo } from "node:net";
import { serve, type ServerType } from "@hono/node-server";
import { dialectError, type ErrorDialect } from "./api/error-response.js";
import { type Config, envNameFor } from "./config/index.js";
import { MoestroError } from "./errors/index.js";

/** A bound HTTP server whose requests go to a handler that can be swapped (503 while starting). */
export interface ServerListener {
  server: ServerType;
  address: AddressInfo;
  /** Sends every request from now on to `fetch`. */
  handleWith(fetch: (request: Request, env: unknown) => Response | Promise<Response>): void;
  /** Closes the socket and every connection (for a failed start). */
  close(): Promise<void>;
}

/**
 * Binds the port (`config.server.port`, or `options.port`: the Ollama port, whose errors name `options.portKey`),
 * answering 503 `server_unavailable` (in `options.errorDialect`'s error shape, OpenAI's by default; `Retry-After: 1`)
 * until `handleWith` is called, as llama-server answers while its model loads.
 *
 * @throws {MoestroError} `port_in_use` (EADDRINUSE); `invalid_request` naming `server.port` (EACCES) or `server.host`
 *   (an address that is not this machine's).
 */
export async function openServerListener(
  config: Config,
  options: { port?: number; portKey?: "port" | "ollamaPort"; errorDialect?: ErrorDialect } = {},
): Promise<ServerListener> {
  const { host } = config.server;
  const port = options.port ?? config.server.port;
  const portKey = options.portKey ?? "port";
  const startingError = new MoestroError("server_unavailable", "The server is starting: its models are loading. Retry in a moment.", {
    retryAfterSeconds: 1,
  });
  const starting = (request: Request): Response => {
    const requestId = request.headers.get("x-request-id") ?? "unknown";
    const { status, body, retryAfterSeconds } = dialectError(options.errorDialect ?? "openai", startingError, requestId);
    return Response.json(body, { status, headers: { "retry-after": String(retryAfterSeconds ?? 1) } });
  };
  let handler: (request: Request, env: unknown) => Response | Promise<Response> = starting;
  let server: ServerType | undefined;
  const address = await new Promise<AddressInfo>((resolve, reject) => {
    server = serve({ fetch: (request, env) => handler(request, env), hostname: host, port }, (info) => resolve(info));
    server.once("error", reject);
  }).catch((error: unknown) => {
    throw describeListenError(error, host, port, portKey);
  });
  return {
    server: server!,
    address,
    handleWith: (fetch) => {
      handler = fetch;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server!.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      }),
  };
}

/** One clear error for a port that cannot be bound, saying which setting picks another. */
function describeListenError(error: unknown, host: string, port: number, portKey: "port" | "ollamaPort"): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  const portSetting = `${portKey === "port" ? "--port" : "--ollama-port"} or ${envNameFor(["server", portKey])}`;
  const hostSetting = `--host or ${envNameFor(["server", "host"])}`;
  if (code === "EADDRINUSE")
    return new MoestroError("port_in_use", `port ${port} on ${host} is in use; pick another with ${portSetting}`, {
      param: `server.${portKey}`,
      cause: error,
    });
  if (code === "EACCES")
    return new MoestroError(
      "invalid_request",
      `port ${port} on ${host} needs privileges this process lacks; pick one above 1023 with ${portSetting}`,
      { param: `server.${portKey}`, cause: error },
    );
  if (code === "EADDRNOTAVAIL" || code === "ENOTFOUND" || code === "EAI_AGAIN")
    return new MoestroError("invalid_request", `${host} is not an address of this machine; pick another with ${hostSetting}`, {
      param: "server.host",
      cause: error,
    });
  return error;
}
