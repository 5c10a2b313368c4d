import { useCallback, useState, type ReactNode } from "react";
import type { WireBatch } from "../../../src/api/batch/batch-wire.js";
import { useConsoleApi } from "../api.js";
import { formatInteger, formatTime } from "../format.js";
import { useAsync } from "../hooks.js";
import { Badge, describeError, ErrorNotice, Notice, PageHeader, ProgressBar, Section } from "../ui.js";

/** Statuses in which a batch still runs (and may be cancelled). */
const activeStatuses = new Set(["validating", "in_progress", "finalizing", "cancelling"]);

function tone(status: WireBatch["status"]): "neutral" | "good" | "warn" | "bad" | "accent" {
  if (status === "completed") return "good";
  if (status === "failed" || status === "expired") return "bad";
  if (status === "cancelled" || status === "cancelling") return "warn";
  return "accent";
}

/**
 * Calls the server's Batch and Files APIs (`/v1/batches`, `/v1/files`) with the console's admin key, which sees every
 * key's batches.
 *
 * @throws {Error} with the server's error message for an error status.
 */
async function call(adminKey: string | undefined, method: string, path: string): Promise<Response> {
  const response = await fetch(path, { method, headers: adminKey === undefined ? {} : { authorization: `Bearer ${adminKey}` } });
  if (!response.ok) {
    const body = (await response.json().catch(() => ({}))) as { error?: { message?: string } };
    throw new Error(body.error?.message ?? `HTTP ${response.status}`);
  }
  return response;
}

/** Batches: every batch with its progress (lines answered of its total, failed ones apart), cancel, and its files. */
export function BatchesPage(): ReactNode {
  const api = useConsoleApi();
  const batches = useAsync(
    useCallback(
      async () => ((await (await call(api.adminKey, "GET", "/v1/batches?limit=100")).json()) as { data: WireBatch[] }).data,
      [api],
    ),
    { refreshMs: 2000 },
  );
  const [actionError, setActionError] = useState<string | undefined>(undefined);
  const cancel = async (batch: WireBatch): Promise<void> => {
    setActionError(undefined);
    try {
      await call(api.adminKey, "POST", `/v1/batches/${batch.id}/cancel`);
    } catch (error) {
      setActionError(`Cancelling ${batch.id} failed: ${describeError(error).message}`);
    } finally {
      batches.reload();
    }
  };
  const download = async (fileId: string, name: string): Promise<void> => {
    setActionError(undefined);
    try {
      const blob = await (await call(api.adminKey, "GET", `/v1/files/${fileId}/content`)).blob();
      const link = document.createElement("a");
      link.href = URL.createObjectURL(blob);
      link.download = name;
      link.click();
      URL.revokeObjectURL(link.href);
    } catch (error) {
      setActionError(`Downloading ${name} failed: ${describeError(error).message}`);
    }
  };

  return (
    <div className="page">
      <PageHeader
        title="Batches"
        subtitle={
          <>
            Batches of requests run in the background at the batch price (the price book's <code>batchPriceRatio</code>, 50% by default), on
            free slots only: interactive requests go first. Submit with the <code>openai</code> client (<code>files.create</code>,{" "}
            <code>batches.create</code>) or <code>moestro batch submit</code>.
          </>
        }
      />
      {actionError !== undefined && <Notice kind="error">{actionError}</Notice>}
      <Section title="Batches" testId="batch-list">
        {batches.error !== undefined && <ErrorNotice error={batches.error} what="The batch list" />}
        {batches.data !== undefined && batches.data.length === 0 && (
          <p className="muted" data-testid="no-batches">
            No batches yet.
          </p>
        )}
        {batches.data !== undefined && batches.data.length > 0 && (
          <table className="table">
            <thead>
              <tr>
                <th>Batch</th>
                <th>Status</th>
                <th>Endpoint</th>
                <th>Progress</th>
                <th>Created</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {batches.data.map((batch) => {
                const { total, completed, failed } = batch.request_counts;
                return (
                  <tr key={batch.id} data-testid="batch-row" data-batch-id={batch.id} data-status={batch.status}>
                    <td>
                      <code>{batch.id}</code>
                      {batch.metadata !== null && (
                        <div className="muted small">
                          {Object.entries(batch.metadata)
                            .map(([key, value]) => `${key}=${value}`)
                            .join(", ")}
                        </div>
                      )}
                    </td>
                    <td>
                      <Badge tone={tone(batch.status)}>{batch.status.replace("_", " ")}</Badge>
                      {batch.errors !== null && (
                        <div className="muted small">{batch.errors.data.map((error) => error.message).join("; ")}</div>
                      )}
                    </td>
                    <td>
                      <code>{batch.endpoint}</code>
                    </td>
                    <td style={{ minWidth: "12rem" }}>
                      <ProgressBar
                        value={total === 0 ? undefined : (completed + failed) / total}
                        label={`${batch.id} progress`}
                        testId="batch-progress"
                      />
                      <div className="small" data-testid="batch-counts">
                        {formatInteger(completed + failed)} of {formatInteger(total)} done · {formatInteger(completed)} ok ·{" "}
                        {formatInteger(failed)} failed
                      </div>
                    </td>
                    <td>{formatTime(batch.created_at * 1000)}</td>
                    <td>
                      <div className="row">
                        {activeStatuses.has(batch.status) && batch.status !== "cancelling" && (
                          <button type="button" onClick={() => void cancel(batch)} data-testid="cancel-batch">
                            Cancel
                          </button>
                        )}
                        {batch.output_file_id !== null && (
                          <button type="button" onClick={() => void download(batch.output_file_id!, `${batch.id}_output.jsonl`)}>
                            Output
                          </button>
                        )}
                        {batch.error_file_id !== null && (
                          <button type="button" onClick={() => void download(batch.error_file_id!, `${batch.id}_errors.jsonl`)}>
                            Errors
                          </button>
                        )}
                      </div>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </Section>
    </div>
  );
}
