import { type Context, Hono } from "hono";
import {
  inputItemsOf,
  parseResponseRequest,
  resolveItemReferences,
  toChatMessages,
  toResponseGenerateRequest,
} from "../../../dialects/responses/convert-request.js";
import {
  createResponseId,
  type ResponseContext,
  responseStatusOf,
  toOutputItems,
  toWireResponse,
} from "../../../dialects/responses/convert-response.js";
import type { InputItem } from "../../../dialects/responses/schemas.js";
import type { WireDeletedResponse, WireResponse } from "../../../dialects/responses/wire.js";
import { MoestroError } from "../../../errors/index.js";
import { createMemoryResponseRepository, type ResponseScope } from "../../../store/index.js";
import type { AppDeps, AppEnv, ResponsesDeps } from "../../app-env.js";
import { readJsonBody } from "../../serving/json-body.js";
import { namedEventSse, respondCollected, streamResponse, type StreamFormat } from "../../serving/respond.js";
import type { SchemaValidator } from "../../serving/schema-validator.js";
import { startGeneration } from "../../serving/start-generation.js";
import { ResponseEventEncoder } from "./response-events.js";

/** OpenAI's retention of stored responses, 30 days, in ms: the default when the app has no store configured. */
export const defaultResponseRetentionMs = 30 * 86_400_000;

/**
 * The Responses API (OpenAI API reference: Responses; docs/responses.md): `POST /v1/responses` (plain and streamed),
 * `GET /v1/responses/{id}`, `DELETE /v1/responses/{id}` and `GET /v1/responses/{id}/input_items`. Responses are kept
 * in `deps.responses` (the server's store) or, without one, in this app's memory, with the same retention rules.
 * Every generation goes through `startGeneration` (metered as endpoint `responses`, limited and budgeted like chat
 * completions). Stored responses are visible to the key that created them only (all of them when key checks are off).
 */
export function createResponsesRoutes(deps: AppDeps, validator: SchemaValidator): Hono<AppEnv> {
  const responses: ResponsesDeps = deps.responses ?? {
    repository: createMemoryResponseRepository(),
    retentionMs: defaultResponseRetentionMs,
  };
  const now = deps.now ?? Date.now;
  const scopeOf = (c: Context<AppEnv>): ResponseScope => ({ keyId: c.get("keyId"), nowMs: now() });
  const routes = new Hono<AppEnv>();

  routes.post("/", async (c) => await createResponse(c, deps, validator, responses, now));

  routes.get("/:id", async (c) => {
    if (c.req.query("stream") === "true") {
      throw new MoestroError(
        "unsupported_parameter",
        "Streaming a stored response again (stream=true) is not supported: retrieve it without stream.",
        { param: "stream" },
      );
    }
    const stored = await responses.repository.find(c.req.param("id"), scopeOf(c));
    if (stored === undefined) throw responseNotFound(c.req.param("id"));
    return c.json(stored.response);
  });

  routes.delete("/:id", async (c) => {
    const id = c.req.param("id");
    if (!(await responses.repository.delete(id, scopeOf(c)))) throw responseNotFound(id);
    const body: WireDeletedResponse = { id, object: "response", deleted: true };
    return c.json(body);
  });

  routes.get("/:id/input_items", async (c) => {
    const stored = await responses.repository.find(c.req.param("id"), scopeOf(c));
    if (stored === undefined) throw responseNotFound(c.req.param("id"));
    const order = c.req.query("order") ?? "desc";
    if (order !== "asc" && order !== "desc")
      throw new MoestroError("invalid_request", "Invalid 'order': expected 'asc' or 'desc'.", { param: "order" });
    const limitText = c.req.query("limit") ?? "20";
    const limit = Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100)
      throw new MoestroError("invalid_request", "Invalid 'limit': expected an integer from 1 to 100.", { param: "limit" });
    let items = stored.inputItems as InputItem[];
    if (order === "desc") items = [...items].reverse();
    const after = c.req.query("after");
    if (after !== undefined) items = items.slice(items.findIndex((item) => item.id === after) + 1);
    const page = items.slice(0, limit);
    return c.json({
      object: "list",
      data: page,
      first_id: page[0]?.id ?? null,
      last_id: page.at(-1)?.id ?? null,
      has_more: items.length > page.length,
    });
  });
  return routes;
}

function responseNotFound(id: string): MoestroError {
  return new MoestroError(
    "not_found",
    `No response found with id '${id}' (it may have expired, been deleted, or been created with store: false).`,
  );
}

/**
 * `POST /v1/responses`: resolves the conversation (`previous_response_id`'s input and output items, then this
 * request's, each `item_reference` resolved among them or else among the items the caller's stored responses brought),
 * runs the generation and answers it whole or streamed; with `store` (the default) the response is stored before its
 * last event (or its body) is sent, so that a follow-up can continue it at once.
 *
 * @throws {MoestroError} `invalid_request` (400) naming `previous_response_id` when that response is not found (absent,
 *   expired, deleted, stored with `store: false`, or another key's); what the request converter and
 *   `startGeneration` throw.
 */
async function createResponse(
  c: Context<AppEnv>,
  deps: AppDeps,
  validator: SchemaValidator,
  responses: ResponsesDeps,
  now: () => number,
): Promise<Response> {
  const request = parseResponseRequest(await readJsonBody(c));
  const keyId = c.get("keyId");
  let carried: InputItem[] = [];
  if (request.previous_response_id) {
    const previous = await responses.repository.find(request.previous_response_id, { keyId, nowMs: now() });
    if (previous === undefined) {
      throw new MoestroError(
        "invalid_request",
        `Previous response with id '${request.previous_response_id}' not found (it may have expired, been deleted, or been created with store: false).`,
        { param: "previous_response_id" },
      );
    }
    // `instructions` are not carried over (Responses reference, `instructions`); the items are.
    carried = [
      ...(previous.inputItems as InputItem[]),
      ...((previous.response as unknown as WireResponse).output as unknown as InputItem[]),
    ];
  }
  const requestItems = inputItemsOf(request);
  // References to items outside the conversation are looked up among the caller's stored responses.
  const inConversation = new Set(
    [...carried, ...requestItems].flatMap((item) => (item.id && item.type !== "item_reference" ? [item.id] : [])),
  );
  const stored: InputItem[] = [];
  for (const item of requestItems) {
    if (item.type !== "item_reference" || !item.id || inConversation.has(item.id)) continue;
    const found = await responses.repository.findItem(item.id, { keyId, nowMs: now() });
    if (found !== undefined) stored.push(found as InputItem);
  }
  const own = resolveItemReferences(requestItems, [...carried, ...stored]);
  const messages = toChatMessages(request.instructions, [...carried, ...own], (index) =>
    index < carried.length ? "previous_response_id" : `input[${index - carried.length}]`,
  );
  const { generateRequest, schemaParams } = toResponseGenerateRequest(request, messages);
  const stream = request.stream === true;
  const generation = await startGeneration(c, deps, {
    model: request.model,
    request: generateRequest,
    n: 1,
    validator,
    schemaParams,
    endpoint: "responses",
    stream,
  });
  const createdAtMs = now();
  const context: ResponseContext = {
    id: createResponseId(),
    createdAtSeconds: Math.floor(createdAtMs / 1000),
    model: generation.backend.info.id,
    request,
    store: request.store ?? true,
  };
  const save = async (response: WireResponse): Promise<void> => {
    if (!context.store) return;
    await responses.repository.insert({
      id: context.id,
      keyId,
      model: context.model,
      status: response.status,
      previousResponseId: request.previous_response_id ?? undefined,
      inputItems: [...carried, ...own],
      carriedItemCount: carried.length,
      response: response as unknown as Record<string, unknown>,
      createdAtMs,
      expiresAtMs: createdAtMs + responses.retentionMs,
    });
  };
  const nowSeconds = (): number => Math.floor(now() / 1000);

  if (!stream) {
    return await respondCollected(c, generation, async (choices, usage) => {
      const choice = choices[0] ?? { text: "", reasoning: "", toolCalls: [], finishReason: "stop" as const };
      const status = responseStatusOf(choice.finishReason);
      const response = toWireResponse(context, {
        status,
        output: toOutputItems(choice),
        usage,
        completedAtSeconds: status === "completed" ? nowSeconds() : undefined,
      });
      await save(response);
      return response;
    });
  }

  const encoder = new ResponseEventEncoder(context, { onFinished: save, nowSeconds });
  const named = namedEventSse((error, requestId) => encoder.failure(error, requestId)[0]!);
  const format: StreamFormat = {
    ...named,
    // Both failure events (`error`, then `response.failed`), each with its sequence number.
    errorFrame: (error, requestId) =>
      encoder
        .failure(error, requestId)
        .map((payload) => named.frame(payload))
        .join(""),
  };
  return streamResponse(c, deps, generation, encoder, format);
}
