/** The Playground's request written as code people can paste: curl, the `openai` npm client and the Python client. */

/** Options of the code snippets. */
export interface RequestCodeOptions {
  /** The API's base URL, ending in `/v1`. */
  baseUrl: string;
  /** The request body of `POST /v1/chat/completions`. */
  body: Record<string, unknown>;
  /** Whether the server checks keys: the snippets then read the key from `MOESTRO_API_KEY`. */
  needsKey: boolean;
}

/** Fields the OpenAI Python client has no keyword for: sent through `extra_body`. */
const pythonExtraFields = new Set(["enable_thinking", "thinking_budget", "top_k", "min_p", "chat_template_kwargs", "keep_alive"]);

/** The request as a curl command (streamed with `-N`). */
export function toCurl(options: RequestCodeOptions): string {
  const json = JSON.stringify(options.body, null, 2).replaceAll("'", "'\\''");
  const lines = [`curl ${options.baseUrl}/chat/completions${options.body.stream === true ? " -N" : ""}`];
  if (options.needsKey) lines.push(`  -H "Authorization: Bearer $MOESTRO_API_KEY"`);
  lines.push(`  -H "Content-Type: application/json"`, `  -d '${json}'`);
  return lines.join(" \\\n");
}

/** The request with the official `openai` npm client (extension fields pass through as they are). */
export function toOpenAiJavaScript(options: RequestCodeOptions): string {
  const body = JSON.stringify(options.body, null, 2);
  const apiKey = options.needsKey ? "process.env.MOESTRO_API_KEY" : '"unused"';
  const lines = [
    `import OpenAI from "openai";`,
    ``,
    `const client = new OpenAI({ baseURL: "${options.baseUrl}", apiKey: ${apiKey} });`,
    ``,
  ];
  if (options.body.stream === true) {
    lines.push(
      `const stream = await client.chat.completions.create(${body});`,
      `for await (const chunk of stream) {`,
      `  const delta = chunk.choices[0]?.delta ?? {};`,
      `  // moestro sends the thought apart, in reasoning_content, before the answer.`,
      `  process.stdout.write(delta.reasoning_content ?? delta.content ?? "");`,
      `  if (chunk.usage) console.log("\\n", chunk.usage);`,
      `}`,
    );
  } else {
    lines.push(
      `const completion = await client.chat.completions.create(${body});`,
      `console.log(completion.choices[0].message, completion.usage);`,
    );
  }
  return lines.join("\n");
}

/** The request with the official `openai` Python client; moestro's extension fields go in `extra_body`. */
export function toOpenAiPython(options: RequestCodeOptions): string {
  const standard: Array<[string, unknown]> = [];
  const extra: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options.body)) {
    if (pythonExtraFields.has(key)) extra[key] = value;
    else standard.push([key, value]);
  }
  if (Object.keys(extra).length > 0) standard.push(["extra_body", extra]);
  const args = standard.map(([key, value]) => `    ${key}=${toPython(value, 1)},`).join("\n");
  const apiKey = options.needsKey ? 'os.environ["MOESTRO_API_KEY"]' : '"unused"';
  const lines = [`import os`, `from openai import OpenAI`, ``, `client = OpenAI(base_url="${options.baseUrl}", api_key=${apiKey})`, ``];
  if (options.body.stream === true) {
    lines.push(
      `stream = client.chat.completions.create(\n${args}\n)`,
      `for chunk in stream:`,
      `    if chunk.choices:`,
      `        delta = chunk.choices[0].delta`,
      `        print(getattr(delta, "reasoning_content", None) or delta.content or "", end="", flush=True)`,
      `    if chunk.usage:`,
      `        print("\\n", chunk.usage)`,
    );
  } else {
    lines.push(`completion = client.chat.completions.create(\n${args}\n)`, `print(completion.choices[0].message, completion.usage)`);
  }
  return lines.join("\n");
}

/** A JSON value as a Python literal (`True`, `None`, dicts and lists indented by 4). */
function toPython(value: unknown, depth: number): string {
  const pad = "    ".repeat(depth + 1);
  const close = "    ".repeat(depth);
  if (value === null || value === undefined) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "number" || typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    return `[\n${value.map((item) => `${pad}${toPython(item, depth + 1)},`).join("\n")}\n${close}]`;
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) return "{}";
  return `{\n${entries.map(([key, item]) => `${pad}${JSON.stringify(key)}: ${toPython(item, depth + 1)},`).join("\n")}\n${close}}`;
}
