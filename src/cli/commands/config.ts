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

/**
 * `moestro config show`: the effective configuration, where each value came from and the variable that sets it (the one
 * read, when a variable did), secrets redacted. `--config` and `--home` choose the file as `serve`'s do.
 */
export function createConfigCommand(): Command {
  const config = new Command("config").description("Inspect moestro's configuration (flags > MOESTRO_* env > config file > defaults).");
  config
    .command("show")
    .description("Print every effective setting, its source (flag, env, file, default) and the environment variable that sets it.")
    .option(
      "--config <file>",
      "a JSON config file, keys in docs/config.md (env MOESTRO_CONFIG; default: config.json in the home folder, when it exists)",
    )
    .option("--home <dir>", "moestro's data folder, where config.json is looked for (env MOESTRO_HOME, default ~/.moestro)")
    .option("--json", "print one JSON object")
    .action((flags: { config?: string; home?: string; json?: boolean }) => {
      const loaded = loadConfigWithSources({ env: process.env, configFile: flags.config, flags: { home: flags.home } });
      const rows = configLeafPaths().map((leafPath) => {
        const key = leafPath.join(".");
        let value: unknown = loaded.config;
        for (const part of leafPath) value = (value as Record<string, unknown> | undefined)?.[part];
        // The variable actually read when one was (HF_ENDPOINT for hub.endpoint), else the one that would be.
        const env = loaded.envVariables[key] ?? envNameFor(leafPath);
        return { key, value: redactConfigValue(key, value), source: loaded.sources[key] ?? "default", env };
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
