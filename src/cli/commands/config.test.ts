import { describe, expect, it } from "vitest";
import { loadConfig } from "../../config/index.js";
import { redactConfigValue } from "./config.js";

describe("redactConfigValue", () => {
  it("shows the database and Redis URLs without their password, other secrets not at all", () => {
    expect(redactConfigValue("databaseUrl", "postgres://me:hunter2@db:5432/x")).toBe("postgres://me:***@db:5432/x");
    expect(redactConfigValue("limits.redisUrl", "redis://default:hunter2@cache:6379/0")).toBe("redis://default:***@cache:6379/0");
    expect(redactConfigValue("limits.redisUrl", "redis://:hunter2@cache:6379")).toBe("redis://:***@cache:6379");
    expect(redactConfigValue("limits.redisUrl", "redis://127.0.0.1:6379")).toBe("redis://127.0.0.1:6379");
    expect(redactConfigValue("limits.redisUrl", "not a url hunter2")).toBe("***");
    expect(redactConfigValue("adminKey", "a-very-secret-admin-key")).toBe("***");
    expect(redactConfigValue("server.port", 8080)).toBe(8080);
  });

  it("a refused Redis URL is not repeated in the error", () => {
    expect(() => loadConfig({ flags: { limits: { redisUrl: ["redis://:hunter2@cache"] } } })).toThrow(
      /^limits\.redisUrl: expected .*, got another value \(a secret, not shown\)$/,
    );
  });
});
