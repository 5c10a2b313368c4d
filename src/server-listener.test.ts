import { describe, expect, it } from "vitest";
import { loadConfig } from "./config/index.js";
import { MoestroError } from "./errors/index.js";
import { openServerListener } from "./server-listener.js";

describe("openServerListener", () => {
  it("answers 503 server_unavailable with Retry-After: 1 in the OpenAI error shape until it is handed the app", async () => {
    const config = loadConfig({ flags: { server: { host: "127.0.0.1", port: 0 } } });
    const listener = await openServerListener(config);
    try {
      const url = `http://127.0.0.1:${listener.address.port}/v1/models`;
      const starting = await fetch(url);
      expect(starting.status).toBe(503);
      expect(starting.headers.get("retry-after")).toBe("1");
      expect(await starting.json()).toEqual({
        error: {
          message: "The server is starting: its models are loading. Retry in a moment.",
          type: "server_error",
          param: null,
          code: "server_unavailable",
        },
      });
      listener.handleWith(() => new Response("ready"));
      expect(await (await fetch(url)).text()).toBe("ready");
      // A second listener on the same port is refused with a clear error.
      const busy = loadConfig({ flags: { server: { host: "127.0.0.1", port: listener.address.port } } });
      const refused = await openServerListener(busy).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(MoestroError);
      expect(refused).toMatchObject({ code: "port_in_use", param: "server.port" });
    } finally {
      await listener.close();
    }
  });
});
