import { describe, expect, it } from "vitest";
import { createFakeApp } from "../../../../test/helpers/fake-app.js";
import { createFakeBackend } from "../../../../test/helpers/fake-backend.js";
import { requestListLimits } from "../../../dialects/openai/schemas.js";

describe("POST /v1/embeddings (createApp, fake backend)", () => {
  it(`takes up to ${requestListLimits.embeddingInputs} inputs, and refuses more with 400 naming input`, async () => {
    const app = await createFakeApp([createFakeBackend()]);
    const inputs = (count: number) => Array.from({ length: count }, (_, index) => `text ${index}`);
    const accepted = await app.post("/v1/embeddings", { model: "fake", input: inputs(requestListLimits.embeddingInputs) });
    expect(accepted.status).toBe(200);
    expect(((await accepted.json()) as { data: unknown[] }).data).toHaveLength(requestListLimits.embeddingInputs);
    const refused = await app.post("/v1/embeddings", { model: "fake", input: inputs(requestListLimits.embeddingInputs + 1) });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: unknown }).error).toMatchObject({ code: "invalid_request", param: "input" });
    expect(app.events).toHaveLength(1);
    expect(app.events[0]?.engine).toBe("inproc");
  });
});
