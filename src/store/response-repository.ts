import type { Kysely } from "kysely";
import type { Logger } from "pino";
import type { Database } from "./database.js";

/**
 * A stored response of the Responses API: what `GET /v1/responses/{id}` returns and what a request with
 * `previous_response_id` continues. The items and the response object are opaque JSON values to the store.
 */
export interface StoredResponse {
  /** `resp_…`. */
  id: string;
  /** The API key that created it (`admin` for the admin key); `undefined` when key checks are off. */
  keyId?: string;
  /** The model id that generated it. */
  model: string;
  /** `completed` or `incomplete` (a failed response is not stored). */
  status: string;
  /** The response it continued, if any. */
  previousResponseId?: string;
  /** The input items the model saw, those carried over by `previous_response_id` first (`instructions` excluded). */
  inputItems: unknown[];
  /** The response object, as the API returns it. */
  response: Record<string, unknown>;
  /** Creation time, epoch ms. */
  createdAtMs: number;
  /** When it stops being served (and may be deleted), epoch ms. */
  expiresAtMs: number;
  /**
   * How many of `inputItems` were carried over from `previousResponseId`; the others and the output are the items this
   * response brought, which {@link ResponseRepository.findItem} finds. Used when stored, not read back. Defaults to 0.
   */
  carriedItemCount?: number;
}

/** The items a response brought, with ids: its own input items, then its output. */
function broughtItems(response: StoredResponse): Array<{ id: string; item: unknown }> {
  const output = Array.isArray(response.response.output) ? (response.response.output as unknown[]) : [];
  return [...response.inputItems.slice(response.carriedItemCount ?? 0), ...output].flatMap((item) => {
    const id = (item as { id?: unknown } | null)?.id;
    return typeof id === "string" && id.length > 0 ? [{ id, item }] : [];
  });
}

/** Which stored responses a caller may see: its own key's (any, when key checks are off), not expired at `nowMs`. */
export interface ResponseScope {
  /** The caller's key id; `undefined` when key checks are off (every response is visible then). */
  keyId?: string;
  /** The time of the request, epoch ms: a response whose `expiresAtMs` is at or before it is not served. */
  nowMs: number;
}

/**
 * The stored responses aggregate (table `responses`, or memory: {@link createMemoryResponseRepository}). A response
 * is written once, whole, when its generation ended; nothing updates it.
 */
export interface ResponseRepository {
  /** Stores `response`; an id already there is replaced (ids are random, so only a retry writes one twice). */
  insert(response: StoredResponse): Promise<void>;
  /** The response with id `id` in `scope`, or `undefined` (absent, expired, or another key's). */
  find(id: string, scope: ResponseScope): Promise<StoredResponse | undefined>;
  /**
   * The item with id `itemId` that a response in `scope` brought (its own input items and its output, see
   * {@link StoredResponse.carriedItemCount}), from the newest such response; `undefined` when none did.
   */
  findItem(itemId: string, scope: ResponseScope): Promise<unknown | undefined>;
  /** Deletes the response with id `id` in `scope`; resolves whether one was deleted. */
  delete(id: string, scope: ResponseScope): Promise<boolean>;
  /** Deletes every response whose expiry is at or before `nowMs`; resolves how many. */
  deleteExpired(nowMs: number): Promise<number>;
}

/** The {@link ResponseRepository} over the store's `responses` table (SQLite or PostgreSQL). */
export function createResponseRepository(db: Kysely<Database>): ResponseRepository {
  const inScope = (id: string, scope: ResponseScope) => {
    let query = db.selectFrom("responses").selectAll().where("id", "=", id).where("expires_at", ">", scope.nowMs);
    if (scope.keyId !== undefined) query = query.where("key_id", "=", scope.keyId);
    return query;
  };
  return {
    async insert(response) {
      const row = {
        id: response.id,
        key_id: response.keyId ?? null,
        model: response.model,
        status: response.status,
        previous_response_id: response.previousResponseId ?? null,
        input_items_json: JSON.stringify(response.inputItems),
        response_json: JSON.stringify(response.response),
        created_at: response.createdAtMs,
        expires_at: response.expiresAtMs,
      };
      const items = broughtItems(response).map(({ id, item }, position) => ({
        response_id: response.id,
        position,
        item_id: id,
        item_json: JSON.stringify(item),
      }));
      await db.transaction().execute(async (transaction) => {
        await transaction
          .insertInto("responses")
          .values(row)
          .onConflict((conflict) => conflict.column("id").doUpdateSet(row))
          .execute();
        await transaction.deleteFrom("response_items").where("response_id", "=", response.id).execute();
        if (items.length > 0) await transaction.insertInto("response_items").values(items).execute();
      });
    },
    async find(id, scope) {
      const row = await inScope(id, scope).executeTakeFirst();
      if (row === undefined) return undefined;
      return {
        id: row.id,
        keyId: row.key_id ?? undefined,
        model: row.model,
        status: row.status,
        previousResponseId: row.previous_response_id ?? undefined,
        inputItems: JSON.parse(row.input_items_json) as unknown[],
        response: JSON.parse(row.response_json) as Record<string, unknown>,
        createdAtMs: Number(row.created_at),
        expiresAtMs: Number(row.expires_at),
      };
    },
    async findItem(itemId, scope) {
      let query = db
        .selectFrom("response_items")
        .innerJoin("responses", "responses.id", "response_items.response_id")
        .select("response_items.item_json")
        .where("response_items.item_id", "=", itemId)
        .where("responses.expires_at", ">", scope.nowMs);
      if (scope.keyId !== undefined) query = query.where("responses.key_id", "=", scope.keyId);
      const row = await query.orderBy("responses.created_at", "desc").limit(1).executeTakeFirst();
      return row === undefined ? undefined : (JSON.parse(row.item_json) as unknown);
    },
    async delete(id, scope) {
      return await db.transaction().execute(async (transaction) => {
        let query = transaction.deleteFrom("responses").where("id", "=", id).where("expires_at", ">", scope.nowMs);
        if (scope.keyId !== undefined) query = query.where("key_id", "=", scope.keyId);
        const result = await query.executeTakeFirst();
        if (Number(result.numDeletedRows) === 0) return false;
        await transaction.deleteFrom("response_items").where("response_id", "=", id).execute();
        return true;
      });
    },
    async deleteExpired(nowMs) {
      return await db.transaction().execute(async (transaction) => {
        const expired = transaction.selectFrom("responses").select("id").where("expires_at", "<=", nowMs);
        await transaction.deleteFrom("response_items").where("response_id", "in", expired).execute();
        const result = await transaction.deleteFrom("responses").where("expires_at", "<=", nowMs).executeTakeFirst();
        return Number(result.numDeletedRows);
      });
    },
  };
}

/**
 * A {@link ResponseRepository} in this process's memory, for an app built without a store (`createApp` without
 * `responses`): the same rules (scope, expiry), lost when the process ends. Expired responses are dropped on each
 * insert, so that memory does not grow with them.
 */
export function createMemoryResponseRepository(): ResponseRepository {
  const responses = new Map<string, StoredResponse>();
  const visible = (response: StoredResponse | undefined, scope: ResponseScope): response is StoredResponse =>
    response !== undefined && response.expiresAtMs > scope.nowMs && (scope.keyId === undefined || response.keyId === scope.keyId);
  const deleteExpired = (nowMs: number): number => {
    let count = 0;
    for (const [id, response] of responses) {
      if (response.expiresAtMs <= nowMs) {
        responses.delete(id);
        count++;
      }
    }
    return count;
  };
  return {
    async insert(response) {
      deleteExpired(response.createdAtMs);
      // A copy through JSON, as the SQL store does: later changes to the caller's objects never reach the stored one.
      responses.set(response.id, JSON.parse(JSON.stringify(response)) as StoredResponse);
    },
    async find(id, scope) {
      const response = responses.get(id);
      if (!visible(response, scope)) return undefined;
      const { carriedItemCount: _used, ...copy } = JSON.parse(JSON.stringify(response)) as StoredResponse;
      return copy;
    },
    async findItem(itemId, scope) {
      let found: { item: unknown; createdAtMs: number } | undefined;
      for (const response of responses.values()) {
        if (!visible(response, scope) || (found !== undefined && found.createdAtMs > response.createdAtMs)) continue;
        const item = broughtItems(response).find((entry) => entry.id === itemId);
        if (item !== undefined) found = { item: item.item, createdAtMs: response.createdAtMs };
      }
      return found === undefined ? undefined : (JSON.parse(JSON.stringify(found.item)) as unknown);
    },
    async delete(id, scope) {
      return visible(responses.get(id), scope) && responses.delete(id);
    },
    async deleteExpired(nowMs) {
      return deleteExpired(nowMs);
    },
  };
}

/** A running sweep of expired responses; `dispose` stops it. */
export interface ResponseSweeper extends AsyncDisposable {
  /** Stops the sweep and waits for a sweep under way. Idempotent. */
  dispose(): Promise<void>;
}

/**
 * Deletes expired stored responses now and then every `intervalMs` (the timer does not keep the process alive). A
 * failed sweep is logged and tried again at the next interval; expired responses are never served in between
 * ({@link ResponseRepository.find} checks the expiry).
 *
 * @param options.intervalMs time between sweeps, ms. Defaults to one hour.
 * @param options.now the clock, epoch ms. Defaults to `Date.now`.
 */
export function startResponseSweeper(options: {
  repository: ResponseRepository;
  logger: Logger;
  intervalMs?: number;
  now?: () => number;
}): ResponseSweeper {
  const now = options.now ?? Date.now;
  let running: Promise<void> = Promise.resolve();
  const sweep = (): void => {
    running = running.then(async () => {
      try {
        const deleted = await options.repository.deleteExpired(now());
        if (deleted > 0) options.logger.info({ deleted }, "expired stored responses deleted");
      } catch (error) {
        options.logger.warn({ err: error }, "deleting expired stored responses failed");
      }
    });
  };
  sweep();
  const timer = setInterval(sweep, options.intervalMs ?? 3_600_000);
  timer.unref();
  let disposing: Promise<void> | undefined;
  const dispose = (): Promise<void> =>
    (disposing ??= (async () => {
      clearInterval(timer);
      await running;
    })());
  return { dispose, [Symbol.asyncDispose]: dispose };
}
