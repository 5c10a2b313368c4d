import { MoestroError } from "../errors/index.js";

/** Where a PostgreSQL store's connections go and which schema holds its tables. */
export interface PostgresTarget {
  /** The URL to connect with: the given one, its `search_path` set to `schema` when a schema was asked for. */
  connectionString: string;
  /** The URL without its password, for logs. */
  location: string;
  /**
   * The schema asked for: `databaseSchema`, else the first entry of the URL's `search_path` (`?options=-c
   * search_path=NAME`); `undefined` when neither names one (then the connection's `current_schema()` is used).
   */
  schema?: string;
}

/**
 * What a schema given by flag, config or environment must look like: an unquoted, lower-case PostgreSQL identifier (at
 * most 63 bytes, PostgreSQL's NAMEDATALEN - 1). The config schema checks `databaseSchema` with it too.
 */
export const schemaNamePattern = /^[a-z_][a-z0-9_]{0,62}$/;

/** {@link schemaNamePattern} in words, for error messages: "must be …". */
export const schemaNameRule =
  "must be a lower-case PostgreSQL identifier: a-z, 0-9 and _, starting with a letter or _, at most 63 characters";

/** A `search_path` setting inside libpq's `options` parameter: `-c search_path=X`, `-csearch_path=X` or `--search_path=X`. */
const searchPathOption = /(?:-c\s*|--)search_path=((?:\\.|\S)*)/;

/**
 * Resolves the URL and schema of a PostgreSQL store. With `databaseSchema`, the URL's `options` parameter gets
 * `-c search_path=<schema>` (replacing a `search_path` already there), so that every connection of the store, and of
 * the rate-limit counters that share the database, resolves moestro's tables in that schema.
 *
 * @throws {MoestroError} `invalid_request` when `databaseUrl` is not a `postgres://` or `postgresql://` URL, or
 *   `databaseSchema` is not a lower-case identifier (`a-z`, digits, `_`, at most 63 characters).
 */
export function resolvePostgresTarget(databaseUrl: string, databaseSchema?: string): PostgresTarget {
  let url: URL | undefined;
  try {
    url = new URL(databaseUrl);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== "postgres:" && url.protocol !== "postgresql:")) {
    throw new MoestroError(
      "invalid_request",
      "The database URL must start with postgres:// or postgresql:// (leave it out to use the SQLite file in MOESTRO_HOME).",
      { param: "databaseUrl" },
    );
  }
  const options = url.searchParams.get("options") ?? "";
  let schema: string | undefined;
  if (databaseSchema !== undefined) {
    if (!schemaNamePattern.test(databaseSchema)) {
      throw new MoestroError("invalid_request", `The database schema '${databaseSchema}' ${schemaNameRule}.`, { param: "databaseSchema" });
    }
    schema = databaseSchema;
    const rest = options.replace(searchPathOption, "").trim();
    url.searchParams.set("options", `${rest} -c search_path=${schema}`.trim());
  } else {
    schema = firstSearchPathEntry(options);
  }
  const location = new URL(url.toString());
  location.password = "";
  return { connectionString: url.toString(), location: location.toString(), schema };
}

/** The first schema of a `search_path` in libpq options, as PostgreSQL reads it; `undefined` for none or `$user`. */
function firstSearchPathEntry(options: string): string | undefined {
  const value = searchPathOption.exec(options)?.[1];
  if (value === undefined) return undefined;
  const first = value.replace(/\\(.)/g, "$1").split(",")[0]!.trim();
  // PostgreSQL folds an unquoted identifier to lower case and keeps a quoted one as written.
  const schema =
    first.startsWith('"') && first.endsWith('"') && first.length > 2 ? first.slice(1, -1).replaceAll('""', '"') : first.toLowerCase();
  return schema.length === 0 || schema === "$user" ? undefined : schema;
}
