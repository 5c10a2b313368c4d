import { describe, expect, it } from "vitest";
import { MoestroError } from "../errors/index.js";
import { envNameFor, loadConfig } from "./load-config.js";
import { availableCores } from "./schema.js";

describe("loadConfig", () => {
  it("applies defaults and caps threads at the available cores", () => {
    const config = loadConfig();
    expect(config.server).toMatchObject({ host: "127.0.0.1", port: 8080 });
    expect(config.engine).toMatchObject({ parallel: 4, batchSize: 512, maxQueuedRequests: 64, gpu: "auto", threads: availableCores() });
    expect(loadConfig({ flags: { engine: { threads: 999 } } }).engine.threads).toBe(availableCores());
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
    expect(() => loadConfig({ env: { MOESTRO_ENGINE__FLASH_ATTENTION: "maybe" } })).toThrow(/engine\.flashAttention/);
  });

  it("names the key of an invalid value", () => {
    expect(() => loadConfig({ env: { MOESTRO_SERVER__PORT: "70000" } })).toThrow(MoestroError);
    expect(() => loadConfig({ env: { MOESTRO_SERVER__PORT: "70000" } })).toThrow(/server\.port/);
  });

  it("derives environment variable names mechanically", () => {
    expect(envNameFor(["engine", "maxQueuedRequests"])).toBe("MOESTRO_ENGINE__MAX_QUEUED_REQUESTS");
    expect(envNameFor(["logLevel"])).toBe("MOESTRO_LOG_LEVEL");
  });

  it("returns a frozen object", () => {
    expect(Object.isFrozen(loadConfig().engine)).toBe(true);
  });
});
