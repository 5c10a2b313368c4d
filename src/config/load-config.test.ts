import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { MoestroError } from "../errors/index.js";
import { envNameFor, loadConfig, loadConfigWithSources, unknownEnvVariables } from "./load-config.js";
import { availableCores, defaultThreadCount, physicalCores } from "./schema.js";

describe("loadConfig", () => {
  it("applies defaults and caps threads at the available cores", () => {
    const config = loadConfig();
    expect(config.server).toMatchObject({ host: "127.0.0.1", port: 8080 });
    const threads = defaultThreadCount({ physical: physicalCores(), available: availableCores() });
    expect(config.engine).toMatchObject({ parallel: 4, batchSize: 512, maxQueuedRequests: 64, gpu: "auto", threads });
    expect(loadConfig({ flags: { engine: { threads: 999 } } }).engine.threads).toBe(availableCores());
  });

  it("defaults threads to every physical core but one, at least 1, within the available cores", () => {
    expect(defaultThreadCount({ physical: 2, available: 2 })).toBe(1);
    expect(defaultThreadCount({ physical: 1, available: 1 })).toBe(1);
    expect(defaultThreadCount({ physical: 8, available: 16 })).toBe(7); // hyperthreads do not count
    expect(defaultThreadCount({ physical: 16, available: 4 })).toBe(3); // pinned to 4 CPUs (taskset, a container)
    expect(physicalCores()).toBeGreaterThanOrEqual(1);
    expect(physicalCores()).toBeLessThanOrEqual(os.cpus().length);
  });

  it("reads MOESTRO_* variables, and flags win over them", () => {
    const env = {
      MOESTRO_SERVER__PORT: "9000",
      MOESTRO_ENGINE__PARALLEL: "2",
      MOESTRO_ENGINE__CONTEXT_TOKENS: "1024",
      MOESTRO_LOG_LEVEL: "debug",
    };
    const config = loadConfig({ env, flags: { engine: { parallel: 3 } } });
    expect(config.server.port).toBe(9000);
    expect(config.engine.parallel).toBe(3);
    expect(config.engine.contextTokens).toBe(1024);
    expect(config.logLevel).toBe("debug");
  });

  it("reads switches as the CLI does (on/off, true/false, 1/0) and refuses any other text by name", () => {
    expect(loadConfig({ env: { MOESTRO_ENGINE__FLASH_ATTENTION: "off" } }).engine.flashAttention).toBe(false);
    expect(loadConfig({ env: { MOESTRO_ENGINE__FLASH_ATTENTION: "on" } }).engine.flashAttention).toBe(true);
    expect(loadConfig({ env: { MOESTRO_ENGINE__THINKING: "false" } }).engine.thinking).toBe(false);
    expect(loadConfig({ env: { MOESTRO_ENGINE__THINKING: "1" } }).engine.thinking).toBe(true);
    expect(loadConfig({ env: {} }).engine.sharedPrefill).toBe(true);
    expect(loadConfig({ env: { MOESTRO_ENGINE__SHARED_PREFILL: "off" } }).engine.sharedPrefill).toBe(false);
    expect(() => loadConfig({ env: { MOESTRO_ENGINE__FLASH_ATTENTION: "maybe" } })).toThrow(/engine\.flashAttention/);
  });

  it("names the key of an invalid value", () => {
    expect(() => loadConfig({ env: { MOESTRO_SERVER__PORT: "70000" } })).toThrow(MoestroError);
    expect(() => loadConfig({ env: { MOESTRO_SERVER__PORT: "70000" } })).toThrow(/server\.port/);
  });

  it("says which variable holds a bad value, what it accepts and what it got", () => {
    const message = (options: Parameters<typeof loadConfig>[0]) => {
      try {
        loadConfig(options);
      } catch (error) {
        expect(error).toBeInstanceOf(MoestroError);
        return (error as MoestroError).message;
      }
      throw new Error("loadConfig accepted it");
    };
    expect(message({ env: { MOESTRO_ENGINE__THREADS: "abc" } })).toBe(
      'MOESTRO_ENGINE__THREADS (engine.threads): expected a whole number ≥ 1, got "abc"',
    );
    expect(message({ env: { MOESTRO_SERVER__PORT: "70000" } })).toBe(
      'MOESTRO_SERVER__PORT (server.port): expected a whole number from 0 to 65535, got "70000"',
    );
    expect(message({ env: { MOESTRO_ENGINE__GPU: "tpu" } })).toMatch(/expected one of auto, cpu, cuda, vulkan, metal, got "tpu"$/);
    expect(message({ env: { MOESTRO_ENGINE__FLASH_ATTENTION: "maybe" } })).toMatch(/expected on or off .*got "maybe"$/);
    expect(message({ env: { HF_ENDPOINT: "nope" } })).toMatch(/^HF_ENDPOINT \(hub\.endpoint\): expected a URL/);
    expect(message({ env: { MOESTRO_MODELS: "[{bad" } })).toMatch(/^MOESTRO_MODELS \(models\): expected .*list.*got "\[\{bad"$/);
  });

  it("caps the ledger's heartbeat at a third of the 30 s after which a running row is taken for interrupted", () => {
    expect(loadConfig({ env: { MOESTRO_METERING__HEARTBEAT_MS: "10000" } }).metering.heartbeatMs).toBe(10_000);
    expect(() => loadConfig({ env: { MOESTRO_METERING__HEARTBEAT_MS: "10001" } })).toThrow(
      'MOESTRO_METERING__HEARTBEAT_MS (metering.heartbeatMs): expected a whole number from 50 to 10000, got "10001"',
    );
  });

  it("never repeats a secret in the message", () => {
    expect(() => loadConfig({ env: { MOESTRO_ADMIN_KEY: "tooshort-secret" } })).toThrow(
      /^MOESTRO_ADMIN_KEY \(adminKey\): expected a text of at least 16 characters, got another value \(a secret, not shown\)$/,
    );
  });

  it("names the key and the file of a bad value in the config file, and the flag of a bad flag", () => {
    const folder = mkdtempSync(path.join(os.tmpdir(), "moestro-config-"));
    try {
      const file = path.join(folder, "config.json");
      writeFileSync(file, JSON.stringify({ engine: { threads: "abc" }, models: [{ id: "x" }] }));
      expect(() => loadConfig({ configFile: file })).toThrow(`engine.threads in ${file}: expected a whole number ≥ 1, got "abc"`);
      writeFileSync(file, JSON.stringify({ models: [{ id: "x" }] }));
      expect(() => loadConfig({ configFile: file })).toThrow(`models.0.path in ${file}: expected a non-empty text, but it is missing`);
      // A variable overrides the file's bad value.
      expect(loadConfig({ configFile: file, env: { MOESTRO_MODELS: '[{"path": "a.gguf"}]' } }).models[0]!.path).toBe("a.gguf");
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
    expect(() => loadConfig({ flags: { engine: { parallel: 0 } }, flagNames: { "engine.parallel": "--parallel" } })).toThrow(
      "--parallel (engine.parallel): expected a whole number from 1 to 256, got 0",
    );
  });

  it("refuses an unknown key in the config file, naming the key, the file and the key meant", () => {
    const folder = mkdtempSync(path.join(os.tmpdir(), "moestro-config-"));
    const file = path.join(folder, "config.json");
    const refusal = (content: unknown) => {
      writeFileSync(file, JSON.stringify(content));
      try {
        loadConfig({ configFile: file });
      } catch (error) {
        expect(error).toBeInstanceOf(MoestroError);
        return (error as MoestroError).message;
      }
      throw new Error("loadConfig accepted it");
    };
    try {
      expect(refusal({ engine: { contextTokens: 1024, thread: 2 } })).toBe(
        `unknown key engine.thread in ${file}; did you mean engine.threads? (every key: docs/config.md)`,
      );
      expect(refusal({ serverr: { port: 1 } })).toBe(`unknown key serverr in ${file}; did you mean server? (every key: docs/config.md)`);
      // A key in the wrong place, and a key written as serve's flag (llama.cpp's --ctx-size).
      expect(refusal({ threads: 2 })).toMatch(/^unknown key threads in .*; did you mean engine\.threads\?/);
      expect(refusal({ engine: { ctxSize: 8192 } })).toMatch(/^unknown key engine\.ctxSize in .*; did you mean engine\.contextTokens\?/);
      // Inside list items, records and refined objects; nothing close: no guess.
      expect(refusal({ models: [{ path: "a.gguf" }, { path: "b.gguf", idd: "b" }] })).toMatch(
        /^unknown key models\[1\]\.idd in .*; did you mean models\[1\]\.id\?/,
      );
      expect(refusal({ models: [{ path: "a.gguf", speculative: { type: "ngram", maxDraft: 4 } }] })).toMatch(
        /^unknown key models\[0\]\.speculative\.maxDraft in /,
      );
      expect(refusal({ pools: { qwen: { fallback: ["x"] } } })).toMatch(
        /^unknown key pools\.qwen\.fallback in .*; did you mean pools\.qwen\.fallbacks\?/,
      );
      expect(refusal({ gateway: { affinity: { enabld: true } } })).toMatch(/did you mean gateway\.affinity\.enabled\?/);
      expect(refusal({ zzzzzz: 1 })).toBe(`unknown key zzzzzz in ${file} (every key: docs/config.md)`);
      writeFileSync(file, JSON.stringify({ engine: { thread: 2 } }));
      expect(() => loadConfig({ configFile: file })).toThrow(expect.objectContaining({ code: "invalid_request", param: "engine.thread" }));
      // The deprecated key is still a key; fallbacks may be one name or a list.
      writeFileSync(
        file,
        JSON.stringify({ engine: { workerCacheRamBytes: 1024 }, pools: { a: { fallbacks: "b", contextFallbacks: ["c"] } } }),
      );
      expect(loadConfig({ configFile: file }).engine.workerCacheRamBytes).toBe(1024);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
    expect(() => loadConfig({ env: { MOESTRO_MODELS: '[{"path": "a.gguf", "pth": "b"}]' } })).toThrow(
      "MOESTRO_MODELS (models): unknown key models[0].pth; did you mean models[0].path? (every key: docs/config.md)",
    );
  });

  it("warns of MOESTRO_* variables that name no key, and of no variable moestro reads for another purpose", () => {
    expect(
      unknownEnvVariables({
        MOESTRO_ENGINE__THREAD: "3",
        MOESTRO_SERVER_PORT: "9",
        MOESTRO_NOTHING_LIKE_IT: "1",
        MOESTRO_ENGINE__THREADS: "1",
        MOESTRO_HOME: "/tmp/x",
        MOESTRO_CONFIG: "/tmp/x.json",
        MOESTRO_API_KEY: "k",
        MOESTRO_SHARED: "../shared",
        MOESTRO_CI_CACHE: "/tmp/ci",
        MOESTRO_TEST_MODELS: "/tmp/m",
        MOESTRO_FUZZ_SEED: "1",
        HF_ENDPOINT: "http://x",
        PATH: "/bin",
      }),
    ).toEqual([
      "MOESTRO_ENGINE__THREAD is not a variable moestro reads, so it is ignored; did you mean MOESTRO_ENGINE__THREADS (engine.threads)? (every key: docs/config.md)",
      "MOESTRO_SERVER_PORT is not a variable moestro reads, so it is ignored; did you mean MOESTRO_SERVER__PORT (server.port)? (every key: docs/config.md)",
      "MOESTRO_NOTHING_LIKE_IT is not a variable moestro reads, so it is ignored (every key: docs/config.md)",
    ]);
    expect(unknownEnvVariables({ MOESTRO_DEFAULT_MODEL: "hf:a/b:Q8_0", MOESTRO_GATEWAY__AFFINITY__ENABLED: "on" })).toEqual([]);
  });

  it("resolves the config file's relative paths against its folder, and the variable read for each key", () => {
    const folder = mkdtempSync(path.join(os.tmpdir(), "moestro-config-"));
    try {
      const file = path.join(folder, "config.json");
      writeFileSync(
        file,
        JSON.stringify({
          models: [
            { path: "m.gguf", speculative: { type: "draft", draftModel: "drafts/d.gguf" } },
            { path: "/abs/x.gguf" },
            { path: "hf:owner/repo:Q8_0" },
            { path: "https://host/y.gguf" },
            { path: "short" },
          ],
          aliases: { short: "hf:owner/repo:Q4_K_M" },
          engine: { llamaServer: "bin/llama-server" },
          metering: { priceBookPath: "prices.json" },
          home: "data",
        }),
      );
      const { config, sources } = loadConfigWithSources({ configFile: file });
      expect(sources.models).toBe("file");
      expect(config.models.map((model) => model.path)).toEqual([
        path.join(folder, "m.gguf"),
        "/abs/x.gguf",
        "hf:owner/repo:Q8_0",
        "https://host/y.gguf",
        "short",
      ]);
      expect(config.models[0]!.speculative!.draftModel).toBe(path.join(folder, "drafts/d.gguf"));
      expect(config.engine.llamaServer).toBe(path.join(folder, "bin/llama-server"));
      expect(config.metering.priceBookPath).toBe(path.join(folder, "prices.json"));
      expect(config.home).toBe(path.join(folder, "data"));
      // Flags and variables stay relative to the current directory, as given.
      const overridden = loadConfig({ configFile: file, flags: { models: [{ path: "m.gguf" }] }, env: { MOESTRO_HOME: "here" } });
      expect(overridden.models[0]!.path).toBe("m.gguf");
      expect(overridden.home).toBe("here");
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
    const loaded = loadConfigWithSources({ env: { HF_ENDPOINT: "http://mirror.example", MOESTRO_SERVER__PORT: "9000" } });
    expect(loaded.envVariables).toEqual({ "hub.endpoint": "HF_ENDPOINT", "server.port": "MOESTRO_SERVER__PORT" });
    const both = loadConfigWithSources({ env: { HF_ENDPOINT: "http://a.example", MOESTRO_HUB__ENDPOINT: "http://b.example" } });
    expect(both.envVariables["hub.endpoint"]).toBe("MOESTRO_HUB__ENDPOINT");
    expect(both.config.hub.endpoint).toBe("http://b.example");
  });

  it("derives environment variable names mechanically", () => {
    expect(envNameFor(["engine", "maxQueuedRequests"])).toBe("MOESTRO_ENGINE__MAX_QUEUED_REQUESTS");
    expect(envNameFor(["logLevel"])).toBe("MOESTRO_LOG_LEVEL");
  });

  it("returns a frozen object", () => {
    expect(Object.isFrozen(loadConfig().engine)).toBe(true);
  });
});
