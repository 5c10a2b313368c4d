import { Command, InvalidArgumentError, Option } from "commander";
import type { CreateKeyBody, WireApiKey } from "../../wire/admin.js";
import { formatUsd, parseUsdToMicro } from "../../metering/budget-guard.js";
import { parseDurationMs } from "../../util/duration.js";
import { addAdminTargetOptions, openAdminBackend, type AdminTargetFlags } from "../admin-backend.js";
import { formatTable } from "../format-table.js";
import { parseInteger } from "../parse.js";

interface CreateFlags extends AdminTargetFlags {
  name: string;
  models?: string[];
  rpm?: number;
  tpm?: number;
  budgetUsd?: number;
  budgetPeriod?: "day" | "month";
  expiresIn?: number;
  json?: boolean;
}

/** `moestro keys create|ls|revoke`: manage API keys on the local store or, with `--url`, on a running server. */
export function createKeysCommand(): Command {
  const keys = new Command("keys").description("Manage API keys (on the local store, or on a running server with --url).");

  keys.addCommand(
    addAdminTargetOptions(
      new Command("create")
        .description("Create an API key and print its secret, once.")
        .requiredOption("--name <name>", "a name for the key", parseName)
        .option(
          "--models <ids>",
          "comma-separated model ids the key may use (default: every model); with --url, a warning names any the server does not serve",
          parseList,
        )
        .option("--rpm <n>", "requests per minute, at least 1 (default: no limit)", parseLimit)
        .option("--tpm <n>", "prompt plus completion tokens per minute, at least 1 (default: no limit)", parseLimit)
        .option("--budget-usd <usd>", "spend allowed per budget period, in USD (default: no budget)", parseBudget)
        .addOption(new Option("--budget-period <period>", "the budget's UTC period (default: month)").choices(["day", "month"]))
        .option("--expires-in <duration>", "lifetime, such as 30d, 12h or 90m (default: never expires)", parseDuration)
        .option("--json", "print the key as JSON, with its secret"),
    ).action(async (flags: CreateFlags) => {
      if (flags.budgetPeriod !== undefined && flags.budgetUsd === undefined)
        throw new InvalidArgumentError("--budget-period needs --budget-usd.");
      const body: CreateKeyBody = {
        name: flags.name,
        models: flags.models,
        requests_per_minute: flags.rpm,
        tokens_per_minute: flags.tpm,
        budget_micro_usd: flags.budgetUsd,
        budget_period: flags.budgetUsd === undefined ? undefined : (flags.budgetPeriod ?? "month"),
        expires_in_ms: flags.expiresIn,
      };
      const backend = await openAdminBackend(flags, process.env);
      try {
        const created = await backend.createKey(body);
        if (flags.json) process.stdout.write(JSON.stringify(created) + "\n");
        else {
          process.stdout.write(`Created API key '${created.name}' (${created.id}).\n`);
          process.stdout.write(`Secret, shown once; store it now:\n\n  ${created.secret}\n\n`);
          process.stdout.write(`Send it as 'Authorization: Bearer <secret>' (the OpenAI clients' api key).\n`);
        }
        // Advice after the key exists, so that a failure still prints only its one error line. Neither stops the
        // command: models can be added to the server later, and key checks turned on later.
        // One line on stderr each: `moestro keys create: warning: ...`, or `{"warning": {"message", "param"}}` with --json.
        const warn = (kind: "warning" | "note", message: string, param: string | null): void => {
          process.stderr.write(
            flags.json ? `${JSON.stringify({ warning: { message, param } })}\n` : `moestro keys create: ${kind}: ${message}\n`,
          );
        };
        if (flags.models !== undefined) {
          const served = await backend.servedModels();
          const unknown = served === undefined ? [] : flags.models.filter((model) => !served.includes(model));
          if (unknown.length > 0)
            warn(
              "warning",
              `the server serves no model ${unknown.map((model) => `'${model}'`).join(", ")} (it serves: ${served!.join(", ") || "none"}); the key keeps ${unknown.length === 1 ? "it" : "them"}, for a model added later.`,
              "--models",
            );
        }
        if (flags.budgetUsd !== undefined) {
          // A budget never counts a model without a price (docs/studio.md, "Unpriced models"): say which this key may use.
          const unpriced = await backend.unpricedModels();
          const reachable = (unpriced ?? []).filter(
            (names) => flags.models === undefined || names.some((name) => flags.models!.includes(name)),
          );
          if (reachable.length > 0)
            warn(
              "warning",
              `the budget will not count the model${reachable.length === 1 ? "" : "s"} ${reachable.map((names) => `'${names[0]}'`).join(", ")}: the server's price book gives ${reachable.length === 1 ? "it" : "them"} no price, so ${reachable.length === 1 ? "its" : "their"} requests cost $0 (docs/studio.md, Unpriced models).`,
              "--budget-usd",
            );
        }
        if (backend.target === "local" && !backend.hasAdminKey) warn("note", keyChecksOffNotice, null);
      } finally {
        await backend.dispose();
      }
    }),
  );

  keys.addCommand(
    addAdminTargetOptions(
      new Command("ls")
        .description("List API keys (never their secrets).")
        .option("--all", "include revoked keys")
        .option("--json", "print a JSON array"),
    ).action(async (flags: AdminTargetFlags & { all?: boolean; json?: boolean }) => {
      const backend = await openAdminBackend(flags, process.env);
      try {
        const list = await backend.listKeys({ includeRevoked: flags.all === true });
        if (flags.json) process.stdout.write(JSON.stringify(list) + "\n");
        else if (list.length === 0) process.stdout.write("No API keys. Create one with: moestro keys create --name NAME\n");
        else
          process.stdout.write(
            formatTable(["ID", "NAME", "PREFIX", "MODELS", "RPM", "TPM", "BUDGET", "SPENT", "EXPIRES", "STATUS"], list.map(keyRow)),
          );
      } finally {
        await backend.dispose();
      }
    }),
  );

  keys.addCommand(
    addAdminTargetOptions(
      new Command("revoke")
        .description("Revoke an API key by id or prefix; it stops working at the next request.")
        .argument("<id>", "the key's id (key_...) or prefix (mst-...)")
        .option("--json", "print the revoked key as JSON"),
    ).action(async (id: string, flags: AdminTargetFlags & { json?: boolean }) => {
      const backend = await openAdminBackend(flags, process.env);
      try {
        const key = await backend.revokeKey(id);
        if (flags.json) process.stdout.write(JSON.stringify(key) + "\n");
        else process.stdout.write(`Revoked API key '${key.name}' (${key.id}, ${key.prefix}…).\n`);
      } finally {
        await backend.dispose();
      }
    }),
  );
  return keys;
}

/**
 * The SPENT cell: the current period's settled spend against the budget, with what running requests reserve
 * (`$0.12 (+$0.05 reserved)`); `-` for a key without a budget (or a server that does not say).
 */
function spentCell(key: WireApiKey): string {
  const use = key.budget_use;
  if (use === null || use === undefined) return "-";
  const reserved = use.reserved_micro_usd > 0 ? ` (+${formatUsd(use.reserved_micro_usd)} reserved)` : "";
  return `${formatUsd(use.spent_micro_usd)}${reserved}`;
}

function keyRow(key: WireApiKey): string[] {
  const now = Date.now();
  const status = key.revoked_at_ms !== null ? "revoked" : key.expires_at_ms !== null && key.expires_at_ms <= now ? "expired" : "active";
  return [
    key.id,
    key.name,
    key.prefix,
    key.models === null ? "all" : key.models.join(","),
    key.requests_per_minute === null ? "-" : String(key.requests_per_minute),
    key.tokens_per_minute === null ? "-" : String(key.tokens_per_minute),
    key.budget_micro_usd === null ? "-" : `${formatUsd(key.budget_micro_usd)}/${key.budget_period}`,
    spentCell(key),
    key.expires_at_ms === null ? "never" : new Date(key.expires_at_ms).toISOString(),
    status,
  ];
}

/**
 * The note `keys create` prints on the local store when no admin key is set here: the server refuses key management in
 * that state (403 `permission_denied`, docs/studio.md), as keys made then are open to anyone until checks are on.
 */
const keyChecksOffNotice =
  "keys are not checked until `moestro serve` runs with an admin key (--admin-key or MOESTRO_ADMIN_KEY; docs/studio.md, Turning key checks on), and none is set here.";

/** `--name`: trimmed, 1 to 200 characters (the key service's rule, checked here so the error names the flag). */
function parseName(value: string): string {
  const name = value.trim();
  if (name.length === 0 || name.length > 200) throw new InvalidArgumentError("give a name of 1 to 200 characters.");
  return name;
}

/** `--rpm` and `--tpm`: a whole number ≥ 1 (no limit is the flag left out). */
function parseLimit(value: string): number {
  const limit = parseInteger(value);
  if (limit < 1) throw new InvalidArgumentError(`'${value}' is below 1; leave the flag out for no limit.`);
  return limit;
}

function parseList(value: string): string[] {
  const items = value
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
  if (items.length === 0) throw new InvalidArgumentError("give at least one model id.");
  return items;
}

function parseBudget(value: string): number {
  try {
    return parseUsdToMicro(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

function parseDuration(value: string): number {
  const ms = parseDurationMs(value);
  if (ms === undefined || ms <= 0) throw new InvalidArgumentError(`'${value}' is not a duration such as 30d, 12h, 90m or 1h30m.`);
  return ms;
}
