import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { MoestroError } from "../errors/index.js";
import { envNameFor, loadConfig } from "./load-config.js";
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

  it("derives environment variable names mechanically", () => {
    expect(envNameFor(["engine", "maxQueuedRequests"])).toBe("MOESTRO_ENGINE__MAX_QUEUED_REQUESTS");
    expect(envNameFor(["logLevel"])).toBe("MOESTRO_LOG_LEVEL");
  });

  it("returns a frozen object", () => {
    expect(Object.isFrozen(loadConfig().engine)).toBe(true);
  });
});
