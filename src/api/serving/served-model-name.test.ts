import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { createFakeApp, type FakeApp } from "../../../test/helpers/fake-app.js";
import { createFakeBackend } from "../../../test/helpers/fake-backend.js";
import { createStaticModelRegistry } from "../../engines/model-registry.js";
import { createApp } from "../app.js";
import { createOllamaPortFetch } from "../routes/ollama/ollama-port.js";

// Model names on the OpenAI- and Anthropic-compatible routes (`servedModelName`): `NAME:latest`, as `/api/tags` lists an
// untagged id, reaches `NAME` on every `/v1` route; ids stay case-sensitive, except on the Ollama port, where Ollama's
// rules apply in full. Each answer names the model's real id.

const messages = [{ role: "user", content: "Say hello" }];

let app: FakeApp | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

describe("model names on /v1", () => {
  it("lists stories260K as stories260K:latest on /api/tags, and every /v1 route takes that name", async () => {
    app = await createFakeApp([createFakeBackend({ id: "stories260K", script: "Hello." })]);
    const tags = (await (await app.fetch("/api/tags")).json()) as { models: { name: string }[] };
    expect(tags.models.map((model) => model.name)).toEqual(["stories260K:latest"]);
    const calls: [string, Record<string, unknown>][] = [
      ["/v1/chat/completions", { messages }],
      ["/v1/chat/completions", { messages, stream: true }],
      ["/v1/completions", { prompt: "Once" }],
      ["/v1/embeddings", { input: "Once" }],
      ["/v1/responses", { input: "Once" }],
      ["/v1/messages", { max_tokens: 8, messages }],
      ["/v1/messages/count_tokens", { messages }],
    ];
    for (const [path, body] of calls) {
      const response = await app.post(path, { model: "stories260K:latest", ...body });
      expect(response.status, path).toBe(200);
      const text = await response.text();
      // The answer names the model's real id, never the name as sent (Ollama's `/v1` echoes the name as sent).
      if (path !== "/v1/messages/count_tokens") expect(text, path).toContain('"model":"stories260K"');
      expect(text, path).not.toContain("stories260K:latest");
    }
  });

  it("keeps ids case-sensitive, and refuses another tag, on the main port", async () => {
    app = await createFakeApp([createFakeBackend({ id: "stories260K" })]);
    for (const model of ["STORIES260K", "STORIES260K:latest", "stories260K:q8"]) {
      const response = await app.post("/v1/chat/completions", { model, messages });
      expect(response.status, model).toBe(404);
      expect(((await response.json()) as any).error).toMatchObject({ code: "model_not_found", param: "model" });
    }
  });

  it("prefers a model whose id is NAME:latest itself", async () => {
    app = await createFakeApp([createFakeBackend({ id: "m", script: "plain" }), createFakeBackend({ id: "m:latest", script: "tagged" })]);
    const response = await app.client.chat.completions.create({ model: "m:latest", messages: [{ role: "user", content: "Hi" }] });
    expect(response.model).toBe("m:latest");
    expect(response.choices[0]?.message.content).toBe("tagged");
  });

  it("reads names by Ollama's rules on the Ollama port's /v1 (without case), answering the real id", async () => {
    const served = createApp({
      models: createStaticModelRegistry([createFakeBackend({ id: "stories260K", script: "Hello." })]),
      logger: pino({ level: "silent" }),
    });
    const ollamaPort = createOllamaPortFetch((request, env) => served.fetch(request, env));
    for (const model of ["STORIES260K", "Stories260K:latest", "stories260K:latest"]) {
      const request = new Request("http://moestro.test/v1/chat/completions", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model, messages }),
      });
      const response = await ollamaPort(request, {});
      expect(response.status, model).toBe(200);
      expect(((await response.json()) as any).model).toBe("stories260K");
    }
  });
});
