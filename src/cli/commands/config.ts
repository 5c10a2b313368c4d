import { Command } from "commander";
import { configLeafPaths, envNameFor, loadConfigWithSources, passwordUrlConfigKeys, secretConfigKeys } from "../../config/index.js";

/**
 * Hides secrets in a value for display: the values of `secretConfigKeys` become `***`, except that the URLs of
 * `passwordUrlConfigKeys` (the database and Redis URLs) keep all but their password (`***` when they do not parse).
 */
export function redactConfigValue(key: string, value: unknown): unknown {
  if (value === undefined) return value;
  if (passwordUrlConfigKeys.has(key) && typeof value === "string") {
    try {
      const url = new URL(value);
      if (url.password) url.password = "***";
      return url.toString();
    } catch {
      return "***";
    }
  }
  if (secretConfigKeys.has(key)) return "***";
  return value;
}

/** `moestro config show`: the effective configuration, where each value came from, secrets redacted. */
export function createConfigCommand(): Command {
  const config = new Command("config").description("Inspect moestro's configuration (flags > MOESTRO_* env > config file > defaults).");
  config
    .command("show")
    .description("Print every effective setting, its source (flag, env, file, default) and the environment variable that sets it.")
    .option("--config <file>", "a JSON config file (env MOESTRO_CONFIG; default ~/.moestro/config.json when it exists)")
    .option("--json", "print one JSON object")
    .action((flags: { config?: string; json?: boolean }) => {
      const loaded = loadConfigWithSources({ env: process.env, configFile: flags.config });
      const rows = configLeafPaths().map((leafPath) => {
        const key = leafPath.join(".");
        let value: unknown = loaded.config;
        for (const part of leafPath) value = (value as Record<string, unknown> | undefined)?.[part];
        return { key, value: redactConfigValue(key, value), source: loaded.sources[key] ?? "default", env: envNameFor(leafPath) };
      });
      if (flags.json) {
        process.stdout.write(JSON.stringify({ file: loaded.file ?? null, settings: rows }, null, 2) + "\n");
        return;
      }
      process.stdout.write(`config file: ${loaded.file ?? "(none)"}\n`);
      const width = Math.max(...rows.map((row) => row.key.length));
      for (const row of rows) {
        const shown = row.value === undefined ? "(unset)" : typeof row.value === "string" ? row.value : JSON.stringify(row.value);
        process.stdout.write(`${row.key.padEnd(width)}  ${shown}  [${row.source}; ${row.env}]\n`);
      }
    });
  return config;
}
