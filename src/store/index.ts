export type { Database, StoreDialect } from "./database.js";
export { resolvePostgresTarget, type PostgresTarget } from "./postgres-target.js";
export type { ServerInstance } from "./server-instance.js";
export { openStore, defaultHome, migrateToLatest, type Store, type StoreOptions } from "./open-store.js";
export type { ApiKey, ApiKeyRepository, BudgetPeriod, StoredApiKey } from "./api-key-repository.js";
export type { UsageRepository } from "./usage-repository.js";
export {
  createMemoryResponseRepository,
  createResponseRepository,
  startResponseSweeper,
  type ResponseRepository,
  type ResponseScope,
  type ResponseSweeper,
  type StoredResponse,
} from "./response-repository.js";
export type { BudgetBound, BudgetUse, StartOutcome } from "./usage-writes.js";
export {
  addUsageTotals,
  utcDay,
  zeroUsageTotals,
  type UsageGroupBy,
  type UsageRange,
  type UsageRecord,
  type UsageRecordStatus,
  type UsageSummaryRow,
  type UsageTotals,
} from "./usage-record.js";
export {
  activeBatchStatuses,
  createBatchRepository,
  type BatchLine,
  type BatchRepository,
  type BatchStatus,
  type BatchUpdate,
  type OwnerScope,
  type StoredBatch,
  type StoredFile,
} from "./batch-repository.js";
