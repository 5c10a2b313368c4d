/**
 * The API key of the commands that call a server's model routes (`batch`, `bench`): one rule, so that a key set once in
 * the environment works for all of them.
 */

/**
 * The key to send as `Authorization: Bearer`: `--api-key` when given, else env `MOESTRO_API_KEY`, else env
 * `MOESTRO_ADMIN_KEY` (the admin key passes every key check). An empty value counts as unset (`MOESTRO_API_KEY=`
 * clears it, as the other `MOESTRO_*` variables are cleared).
 *
 * @param flag the value of `--api-key`, if any.
 * @param env where the variables are read. Defaults to `process.env`.
 * @returns the key, or `undefined` when none is set (a server without key checks needs none).
 */
export function apiKeyFromFlagOrEnv(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const value of [flag, env.MOESTRO_API_KEY, env.MOESTRO_ADMIN_KEY]) if (value !== undefined && value !== "") return value;
  return undefined;
}
