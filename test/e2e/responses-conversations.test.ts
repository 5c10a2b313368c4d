import { describe, expect, it } from "vitest";
import OpenAI from "openai";
import { hasTestModels } from "../helpers/models.js";
import { lastUser, messagesOf, useResponsesServer, weatherTool } from "../helpers/responses.js";
import { postJson } from "../helpers/server.js";

describe.skipIf(!hasTestModels)("the Responses API with the official openai client: conversations, the store, refusals", () => {
  const state = useResponsesServer();

  it("previous_response_id continues a conversation: the items are carried over, the instructions are not", async () => {
    state.script = (request) => {
      const messages = messagesOf(request);
      const system = messages.find((message) => message.role === "system");
      if (lastUser(request) === "My name is Ada.") return system?.text === "Be terse." ? "Hello Ada." : "no instructions";
      const remembers = messages.some((message) => message.role === "user" && message.text === "My name is Ada.");
      const answered = messages.some((message) => message.role === "assistant" && message.text === "Hello Ada.");
      return `${remembers && answered ? "Ada" : "unknown"}${system === undefined ? "" : ` (system: ${system.text})`}`;
    };
    const first = await state.client.responses.create({
      model: "scripted",
      instructions: "Be terse.",
      input: "My name is Ada.",
      reasoning: { effort: "none" },
    });
    expect(first.output_text).toBe("Hello Ada.");
    expect(first.instructions).toBe("Be terse.");
    const second = await state.client.responses.create({
      model: "scripted",
      previous_response_id: first.id,
      input: "What is my name?",
      reasoning: { effort: "none" },
    });
    expect(second.output_text).toBe("Ada");
    expect(second.previous_response_id).toBe(first.id);
    // A third turn with its own instructions, streamed, continues the second.
    const third = state.client.responses.stream({
      model: "scripted",
      previous_response_id: second.id,
      instructions: "New rules.",
      input: "And again?",
      reasoning: { effort: "none" },
    });
    expect((await third.finalResponse()).output_text).toBe("Ada (system: New rules.)");

    // An item_reference resolves among the previous response's items.
    const userItemId = (await state.client.responses.inputItems.list(first.id)).data.find((item) => item.type === "message")!.id;
    state.script = (request) =>
      messagesOf(request).filter((message) => message.text === "My name is Ada.").length === 2 ? "twice" : "once";
    const referenced = await state.client.responses.create({
      model: "scripted",
      previous_response_id: first.id,
      input: [{ type: "item_reference", id: userItemId }],
      reasoning: { effort: "none" },
    });
    expect(referenced.output_text).toBe("twice");
    // Without previous_response_id, a reference finds an item a stored response brought (its output here).
    state.script = (request) =>
      messagesOf(request).some((message) => message.role === "assistant" && message.text === "Hello Ada.") ? "found" : "lost";
    const byStore = await state.client.responses.create({
      model: "scripted",
      input: [
        { type: "item_reference", id: first.output[0]!.id! },
        { role: "user", content: "Go on." },
      ],
      reasoning: { effort: "none" },
    });
    expect(byStore.output_text).toBe("found");
    const unknown = await state.client.responses
      .create({ model: "scripted", input: [{ type: "item_reference", id: "msg_nope" }] })
      .catch((error: unknown) => error);
    expect(unknown).toMatchObject({ status: 400, param: "input[0].id" });
  });

  it("retrieves, lists input items, deletes; store: false keeps nothing; unknown ids are 404", async () => {
    state.script = () => "Stored.";
    const created = await state.client.responses.create({
      model: "scripted",
      input: "Keep this.",
      metadata: { topic: "test" },
      reasoning: { effort: "none" },
    });
    expect((created as unknown as { store: boolean }).store).toBe(true);
    const retrieved = await state.client.responses.retrieve(created.id);
    expect(retrieved).toMatchObject({ id: created.id, status: "completed", metadata: { topic: "test" } });
    expect(retrieved.output).toEqual(created.output);
    const items = await state.client.responses.inputItems.list(created.id);
    expect(items.data).toHaveLength(1);
    expect(items.data[0]).toMatchObject({ type: "message", role: "user", content: "Keep this." });
    const refused = await fetch(`${state.url}/v1/responses/${created.id}?stream=true`);
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: { param: "stream" } });
    expect(await state.client.responses.delete(created.id)).toEqual({ id: created.id, object: "response", deleted: true });
    const again = await state.client.responses.retrieve(created.id).catch((error: unknown) => error);
    expect(again).toBeInstanceOf(OpenAI.NotFoundError);

    expect((await fetch(`${state.url}/v1/responses/${created.id}`, { method: "DELETE" })).status).toBe(404);

    const unstored = await state.client.responses.create({
      model: "scripted",
      input: "Forget this.",
      store: false,
      reasoning: { effort: "none" },
    });
    expect((unstored as unknown as { store: boolean }).store).toBe(false);
    expect(await state.client.responses.retrieve(unstored.id).catch((error: unknown) => error)).toBeInstanceOf(OpenAI.NotFoundError);
    const continued = await state.client.responses
      .create({ model: "scripted", previous_response_id: unstored.id, input: "Again?" })
      .catch((error: unknown) => error);
    expect(continued).toMatchObject({ status: 400, param: "previous_response_id" });
  });

  it("accepts what agents send and refuses what it cannot serve, naming the field", async () => {
    state.script = (request) => `tools: ${request.tools?.definitions.map((tool) => tool.name).join(",") ?? "none"}`;
    // Roles, content parts and tool kinds beyond the basic ones: hosted tools are dropped, reasoning items dropped.
    const accepted = await state.client.responses.create({
      model: "scripted",
      instructions: "You are a coding agent.",
      input: [
        { type: "message", role: "developer", content: [{ type: "input_text", text: "Sandbox: read-only." }] },
        { type: "message", role: "system", content: "Be careful." },
        { type: "reasoning", id: "rs_1", summary: [], encrypted_content: null } as never,
        { type: "message", role: "assistant", content: [{ type: "output_text", text: "Earlier answer.", annotations: [] }] } as never,
        { type: "message", role: "user", content: [{ type: "input_text", text: "Hi" }] },
      ],
      tools: [{ type: "web_search" }, weatherTool, { type: "custom", name: "apply_patch" } as never, { type: "local_shell" } as never],
      tool_choice: "auto",
      parallel_tool_calls: false,
      reasoning: { effort: "none", summary: "auto" },
      text: { verbosity: "low" },
      include: ["reasoning.encrypted_content"],
      prompt_cache_key: "abc",
      safety_identifier: "user-1",
      truncation: "auto",
      service_tier: "auto",
      user: "me",
    });
    expect(accepted.output_text).toBe("tools: get_current_weather");
    expect(messagesOf(state.seen!)[0]).toEqual({ role: "system", text: "You are a coding agent.\n\nSandbox: read-only.\n\nBe careful." });
    expect(accepted).toMatchObject({ prompt_cache_key: "abc", safety_identifier: "user-1", user: "me", parallel_tool_calls: false });

    const refusals: Array<[Record<string, unknown>, number, string]> = [
      [{ input: [{ role: "user", content: [{ type: "input_image", image_url: "data:," }] }] }, 400, "input[0].content[0]"],
      [{ input: [{ role: "user", content: [{ type: "input_file", file_id: "f" }] }] }, 400, "input[0].content[0]"],
      [{ input: "Hi", background: true }, 400, "background"],
      [{ input: "Hi", tools: [{ type: "web_search" }], tool_choice: { type: "web_search" } }, 400, "tool_choice"],
      [{ input: "Hi", tools: [weatherTool], tool_choice: { type: "function", name: "nope" } }, 400, "tool_choice.name"],
      [{ input: "Hi", tools: [{ type: "web_search" }], tool_choice: "required" }, 400, "tool_choice"],
      [{ input: [{ role: "tool", content: "x" }] }, 400, "input[0].role"],
      [{ input: [{ type: "computer_call_output", call_id: "c" }] }, 400, "input[0]"],
      [{ input: "Hi", text: { format: { type: "xml" } } }, 400, "text.format.type"],
      [{ input: "Hi", max_output_tokens: 0 }, 400, "max_output_tokens"],
      [{}, 400, "input"],
    ];
    for (const [body, status, param] of refusals) {
      const response = await postJson(`${state.url}/v1/responses`, { model: "scripted", ...body });
      const error = (await response.json()) as { error: { param: string; type: string; message: string } };
      expect([response.status, error.error.param], JSON.stringify(body)).toEqual([status, param]);
      expect(error.error.type).toBe("invalid_request_error");
    }
    const schema = await postJson(`${state.url}/v1/responses`, {
      model: "scripted",
      input: "Hi",
      tools: [{ type: "web_search" }, { ...weatherTool, parameters: { type: "object", properties: { a: { type: "nonsense" } } } }],
    });
    expect(schema.status).toBe(400);
    expect(((await schema.json()) as { error: { param: string } }).error.param).toBe("tools[1].parameters");
  });

  it("a failure after the first byte ends the stream with error and response.failed events", async () => {
    // The scripted answer breaks its JSON schema: the serving layer's check fails the generation mid-stream.
    state.script = () => "not json";
    const events = await state.streamEvents({
      model: "scripted",
      input: "JSON please",
      reasoning: { effort: "none" },
      text: { format: { type: "json_schema", name: "x", schema: { type: "object" } } },
    });
    const last = events.slice(-2);
    expect(last.map((event) => event.event)).toEqual(["error", "response.failed"]);
    expect(last[0]!.data).toMatchObject({ code: "invalid_model_output", message: expect.any(String) });
    expect(last[1]!.data.response).toMatchObject({ status: "failed", error: { code: "invalid_model_output" } });
    expect(events[0]!.event).toBe("response.created");
  });
});
