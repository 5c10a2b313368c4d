import { type Command, CommanderError, InvalidArgumentError } from "commander";
import { describe, expect, it } from "vitest";
import { MoestroError } from "../errors/index.js";
import { describeCliError, formatCliError } from "./cli-error.js";
import { createCli } from "./index.js";

function commandTree(command: Command): Command[] {
  return [command, ...command.commands.flatMap(commandTree)];
}

describe("the moestro CLI", () => {
  it("gives every command that does something a --json flag", () => {
    const leaves = commandTree(createCli()).filter((command) => command.commands.length === 0);
    expect(leaves.length).toBeGreaterThan(10);
    for (const command of leaves)
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
