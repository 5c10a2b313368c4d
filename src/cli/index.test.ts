import { type Command, CommanderError, InvalidArgumentError } from "commander";
import { describe, expect, it } from "vitest";
import { ApiError } from "../client/api-error.js";
import { MoestroError } from "../errors/index.js";
import { describeCliError, formatCliError } from "./cli-error.js";
import { createCli } from "./index.js";

function commandTree(command: Command): Command[] {
  return [command, ...command.commands.flatMap(commandTree)];
}

describe("the moestro CLI", () => {
  it("gives every command a --json flag, command groups (moestro, keys, config, ...) included", () => {
    const commands = commandTree(createCli());
    expect(commands.filter((command) => command.commands.length === 0).length).toBeGreaterThan(10);
    expect(commands.filter((command) => command.commands.length > 0).map((command) => command.name())).toEqual(
      expect.arrayContaining(["moestro", "keys", "config", "batch", "engine"]),
    );
    for (const command of commands)
      expect(
        command.options.map((option) => option.long),
        command.name(),
      ).toContain("--json");
  });
});

describe("describeCliError", () => {
  it("keeps a MoestroError's code, type and param", () => {
    expect(describeCliError(new MoestroError("model_not_found", "No model named x.", { param: "model" }))).toEqual({
      message: "No model named x.",
      code: "model_not_found",
      type: "invalid_request_error",
      param: "model",
    });
  });

  it("turns a refused flag into invalid_request naming the long flag, without commander's prefix", () => {
    const error = new CommanderError(1, "commander.invalidArgument", "error: option '-p, --port <port>' argument 'x' is invalid.");
    expect(describeCliError(error)).toMatchObject({ code: "invalid_request", param: "--port", message: expect.stringMatching(/^option/) });
    expect(describeCliError(new InvalidArgumentError("give at least one --model."))).toMatchObject({
      code: "invalid_request",
      param: null,
    });
  });

  it("keeps a server's code, type, param and message, with its status; no answer at all is server_unavailable", () => {
    const answered = new ApiError("Key management needs key checks on.", {
      status: 403,
      code: "permission_denied",
      type: "invalid_request_error",
    });
    expect(describeCliError(answered)).toEqual({
      message: "Key management needs key checks on.",
      code: "permission_denied",
      type: "invalid_request_error",
      param: null,
      status: 403,
    });
    // A code from another OpenAI-compatible server is passed on as it came; none at all is internal_error.
    expect(describeCliError(new ApiError("x", { status: 418, code: "teapot", type: "odd_error", param: "pot" }))).toMatchObject({
      code: "teapot",
      type: "odd_error",
      param: "pot",
      status: 418,
    });
    expect(describeCliError(new ApiError("GET / answered HTTP 502.", { status: 502 }))).toMatchObject({
      code: "internal_error",
      type: "server_error",
      status: 502,
    });
    expect(
      describeCliError(new ApiError("Cannot reach http://127.0.0.1:1: fetch failed", { status: 0, code: "connection_error" })),
    ).toEqual({ message: "Cannot reach http://127.0.0.1:1: fetch failed", code: "server_unavailable", type: "server_error", param: null });
  });

  it("answers anything else as internal_error, in one JSON line with --json", () => {
    const line = formatCliError(new Error("disk on fire\nsecond line"), { json: true, prefix: "moestro" });
    expect(line.endsWith("\n")).toBe(true);
    expect(line.trim().split("\n")).toHaveLength(1);
    expect(JSON.parse(line)).toEqual({
      error: { message: "disk on fire\nsecond line", code: "internal_error", type: "server_error", param: null },
    });
    expect(formatCliError("plain", { json: false, prefix: "moestro ls" })).toBe("moestro ls: plain\n");
  });
});
