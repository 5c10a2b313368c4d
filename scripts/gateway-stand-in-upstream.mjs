// @ts-check
// A stand-in OpenAI-compatible upstream for bench-gateway-cpu.mjs (BENCH_STAND_IN=1): no model, almost no CPU of its
// own, so that the gateway's CPU per streamed event is measured alone. A streamed chat completion sends the role
// chunk, `max_tokens` text deltas (vLLM's chunk: id, created, model, `logprobs: null`, `usage: null`), the finish
// chunk, the usage chunk and `data: [DONE]`, each in its own write 1 ms after the last (one socket read each at the
// gateway, as a model's tokens arrive). `/health`, `/v1/models` and a non-streamed answer are enough for a gateway.
// usage: node scripts/gateway-stand-in-upstream.mjs   (prints `listening on http://127.0.0.1:PORT` once ready)
import http from "node:http";

const created = Math.floor(Date.now() / 1000);
const words = [" Once", " upon", " a", " time", ",", " there", " was", " a", " little", " girl", " named", " Lily", " é"];

/**
 * @param {object | null} delta
 * @param {string | null} finishReason
 * @param {object} [usage]
 */
const chunk = (delta, finishReason, usage) =>
  `data: ${JSON.stringify({
    id: "chatcmpl-stand-in",
    object: "chat.completion.chunk",
    created,
    model: "stories260K",
    choices: usage ? [] : [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    usage: usage ?? null,
  })}\n\n`;

const server = http.createServer((request, response) => {
  if (request.method === "GET") {
    response.writeHead(200, { "content-type": "application/json" });
    response.end(
      request.url === "/health" ? "{}" : JSON.stringify({ object: "list", data: [{ id: "stories260K", object: "model", created }] }),
    );
    return;
  }
  let body = "";
  request.setEncoding("utf8");
  request.on("data", (text) => (body += text));
  request.on("end", () => {
    const parsed = JSON.parse(body);
    const tokens = Number(parsed.max_tokens ?? 16);
    const usage = { prompt_tokens: 5, completion_tokens: tokens, total_tokens: 5 + tokens };
    if (parsed.stream !== true) {
      const content = Array.from({ length: tokens }, (_, index) => words[index % words.length]).join("");
      response.writeHead(200, { "content-type": "application/json" });
      response.end(
        JSON.stringify({
          id: "chatcmpl-stand-in",
          object: "chat.completion",
          created,
          model: "stories260K",
          choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "length" }],
          usage,
        }),
      );
      return;
    }
    response.writeHead(200, { "content-type": "text/event-stream" });
    let step = -1;
    const next = () => {
      if (response.destroyed) return;
      if (step === -1) response.write(chunk({ role: "assistant", content: "" }, null));
      else if (step < tokens) response.write(chunk({ content: words[step % words.length] }, null));
      else if (step === tokens) response.write(chunk({}, "length"));
      else return void response.end(`${chunk(null, null, usage)}data: [DONE]\n\n`);
      step++;
      setTimeout(next, 1);
    };
    next();
  });
});
server.listen(0, "127.0.0.1", () => {
  const address = /** @type {import("node:net").AddressInfo} */ (server.address());
  console.log(`listening on http://127.0.0.1:${address.port}`);
});
