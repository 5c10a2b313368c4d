import type BetterSqlite3 from "better-sqlite3";
import type { Compilable } from "kysely";

const slotPrefix = "\u0000moestro-slot:";

/**
 * A stand-in for a value that is bound when a statement from {@link prepareCompiled} runs: build the query with
 * `slot("name")` where the value goes, and pass `{name: value}` to each run. Typed as `T` so that it fits the query
 * builder's column types; it is a marker string underneath.
 */
export function slot<T>(name: string): T {
  return `${slotPrefix}${name}` as T;
}

/** Slots for every column in `columns`, each named after its column: the values of a whole row. */
export function slotsFor<Row>(columns: ReadonlyArray<keyof Row & string>): Row {
  return Object.fromEntries(columns.map((column) => [column, slot(column)])) as Row;
}

/** A statement from {@link prepareCompiled}, run with the slots' values. */
export interface CompiledStatement<Values> {
  /** Runs a statement that returns no rows (insert, update). */
  run(values: Values): BetterSqlite3.RunResult;
  /** Runs a query and returns its first row, or `undefined`. */
  get<Row>(values: Values): Row | undefined;
}

/**
 * Prepares a Kysely query once as a better-sqlite3 statement: the SQL is what Kysely compiles (so the fast path and the
 * Kysely path cannot drift apart), the parameters are the slots' values of each run, and the query's other values stay
 * as compiled. better-sqlite3 binds `null`, numbers, strings, bigints and buffers (not `undefined` or booleans).
 *
 * @throws when a run's values lack a slot's name (better-sqlite3 refuses `undefined`).
 */
export function prepareCompiled<Values extends Record<string, unknown>>(
  sqlite: BetterSqlite3.Database,
  query: Compilable,
): CompiledStatement<Values> {
  const compiled = query.compile();
  // Each parameter: the name of the slot whose value a run binds there, or `undefined` to keep the compiled value.
  const names = compiled.parameters.map((parameter) =>
    typeof parameter === "string" && parameter.startsWith(slotPrefix) ? parameter.slice(slotPrefix.length) : undefined,
  );
  const statement = sqlite.prepare(compiled.sql);
  const bind = (values: Values): unknown[] => names.map((name, index) => (name === undefined ? compiled.parameters[index] : values[name]));
  return {
    run: (values) => statement.run(...bind(values)),
    get: <Row>(values: Values) => statement.get(...bind(values)) as Row | undefined,
  };
}
