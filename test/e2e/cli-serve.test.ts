import { spawn, spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import OpenAI from "openai";
import { hasTestModels, storiesGreedy40, testModelPath } from "../helpers/models.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const bin = path.join(root, "bin/moestro.js");

describe("moestro CLI", () => {
  it("prints help and refuses to serve without a model, in one clear line", () => {
    const help = spawnSync(process.execPath, [bin, "serve", "--help"], { encoding: "utf8" });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain("--model");
    const noModel = spawnSync(process.execPath, [bin, "serve"], { encoding: "utf8", env: { ...process.env, MOESTRO_MODELS: "" } });
    expect(noModel.status).toBe(2);
    expect(noModel.stderr.trim().split("\n")).toHaveLength(1);
    expect(noModel.stderr).toContain("--model");
  });

  it.skipIf(!hasTestModels)("serves a model: 'listening on' once ready, then answers the OpenAI client; SIGTERM stops it", async () => {
    const child = spawn(process.execPath, [bin, "serve", "--model", `tales=${testModelPath("stories260K.gguf")}`, "--port", "0", "--threads", "1", "--log-level", "warn"], { stdio: ["ignore", "pipe", "pipe"] });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let output = "";
        child.stdout.on("data", (data: Buffer) => {
          output += data.toString();
          const match = /listening on (http:\/\/\S+)/.exec(output);
          if (match) resolve(match[1]!);
        });
        child.once("exit", (code) => reject(new Error(`serve exited with ${code}`)));
      });
      const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused", maxRetries: 0 });
      const completion = await client.completions.create({ model: "tales", prompt: "Once upon a time", max_tokens: 40, temperature: 0 });
      expect(completion.choices[0]!.text).toBe(storiesGreedy40);
      const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
    } finally {
      child.kill("SIGKILL");
    }
  });
});
