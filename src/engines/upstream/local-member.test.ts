import { describe, expect, it } from "vitest";
import { MoestroError } from "../../errors/index.js";
import type { GenerateRequest, ModelBackend } from "../../spec/index.js";
import { LocalMember } from "./local-member.js";

describe("LocalMember", () => {
  it("refuses an option only an upstream can honour (refusedLocally) before its model is asked, counting nothing", async () => {
    let generated = 0;
    const backend = {
      generate: async () => {
        generated++;
        throw new Error("not reached");
      },
    } as unknown as ModelBackend;
    const member = new LocalMember(backend);
    const request: GenerateRequest = {
      input: { kind: "completion", prompt: "Hi" },
      sampling: {},
      stop: [],
      refusedLocally: { param: "audio", message: "audio output is not supported." },
    };
    const error = await member.generate(request).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(MoestroError);
    expect(error).toMatchObject({ code: "unsupported_parameter", status: 400, param: "audio" });
    expect(generated).toBe(0);
    expect(member.inFlight).toBe(0);
  });
});
