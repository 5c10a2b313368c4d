import { useCallback, useState, type FormEvent, type ReactNode } from "react";
import type { CreateKeyBody, WireApiKey, WireCreatedApiKey } from "../../../src/wire/admin.js";
import { useConsoleApi } from "../api.js";
import { formatInteger, formatTime, formatUsd } from "../format.js";
import { useAsync } from "../hooks.js";
import { readNumber } from "../read-number.js";
import { Badge, describeError, ErrorNotice, Notice, PageHeader, Section } from "../ui.js";

interface KeyForm {
  name: string;
  models: string[];
  requestsPerMinute: string;
  tokensPerMinute: string;
  budgetUsd: string;
  budgetPeriod: "day" | "month";
  expiresInDays: string;
}

const emptyForm: KeyForm = {
  name: "",
  models: [],
  requestsPerMinute: "",
  tokensPerMinute: "",
  budgetUsd: "",
  budgetPeriod: "month",
  expiresInDays: "",
};

/**
 * The create-key body a form stands for.
 *
 * @throws {Error} with a message for people when a number is not one.
 */
function toCreateBody(form: KeyForm): CreateKeyBody {
  const body: CreateKeyBody = { name: form.name.trim() };
  if (form.models.length > 0) body.models = form.models;
  body.requests_per_minute = readNumber(form.requestsPerMinute, "Requests per minute", { min: 1, isInteger: true });
  body.tokens_per_minute = readNumber(form.tokensPerMinute, "Tokens per minute", { min: 1, isInteger: true });
  const usd = readNumber(form.budgetUsd, "The budget (USD)", { above: 0 });
  if (usd !== undefined) {
    body.budget_micro_usd = Math.round(usd * 1e6);
    body.budget_period = form.budgetPeriod;
  }
  const days = readNumber(form.expiresInDays, "The expiry (days)", { above: 0 });
  if (days !== undefined) body.expires_in_ms = Math.round(days * 86_400_000);
  for (const key of Object.keys(body) as Array<keyof CreateKeyBody>) if (body[key] === undefined) delete body[key];
  return body;
}

function keyState(key: WireApiKey, nowMs: number): { label: string; tone: "good" | "bad" | "warn" } {
  if (key.revoked_at_ms !== null) return { label: "revoked", tone: "bad" };
  if (key.expires_at_ms !== null && key.expires_at_ms <= nowMs) return { label: "expired", tone: "warn" };
  return { label: "active", tone: "good" };
}

/** Keys: create one (its secret shown once), with model scopes, rate limits, a budget and an expiry; list; revoke. */
export function KeysPage(): ReactNode {
  const api = useConsoleApi();
  const [isRevokedShown, setIsRevokedShown] = useState(false);
  const keys = useAsync(
    useCallback(
      () => (api.info.features.keys ? api.admin.listKeys({ includeRevoked: isRevokedShown }) : Promise.resolve([])),
      [api, isRevokedShown],
    ),
  );
  const models = useAsync(useCallback(() => api.console.listModels(), [api]));
  const [form, setForm] = useState<KeyForm>(emptyForm);
  const [formError, setFormError] = useState<string | undefined>(undefined);
  const [created, setCreated] = useState<WireCreatedApiKey | undefined>(undefined);
  const [isCopied, setIsCopied] = useState(false);
  const [confirming, setConfirming] = useState<string | undefined>(undefined);
  const [revokeError, setRevokeError] = useState<string | undefined>(undefined);

  if (!api.info.features.keys) {
    return (
      <div className="page">
        <PageHeader title="Keys" subtitle="API keys with model scopes, rate limits and budgets." />
        <Notice kind="unavailable" title="Key management is off on this server." testId="keys-off">
          Keys need key checks on: start <code>moestro serve</code> with an admin key (<code>MOESTRO_ADMIN_KEY</code> or{" "}
          <code>--admin-key</code>). Until then every route is open to anyone who can reach the server, and keys made now would become valid
          the moment checks are turned on.
        </Notice>
      </div>
    );
  }

  const create = async (event: FormEvent): Promise<void> => {
    event.preventDefault();
    setFormError(undefined);
    try {
      const key = await api.admin.createKey(toCreateBody(form));
      setCreated(key);
      setIsCopied(false);
      setForm(emptyForm);
      keys.reload();
    } catch (error) {
      setFormError(describeError(error).message);
    }
  };
  const revoke = async (key: WireApiKey): Promise<void> => {
    setRevokeError(undefined);
    try {
      await api.admin.revokeKey(key.id);
    } catch (error) {
      setRevokeError(`Revoking ${key.name} failed: ${describeError(error).message}`);
    } finally {
      setConfirming(undefined);
      keys.reload();
    }
  };
  const set = <K extends keyof KeyForm>(field: K, value: KeyForm[K]): void => setForm((previous) => ({ ...previous, [field]: value }));
  const nowMs = Date.now();

  return (
    <div className="page">
      <PageHeader
        title="Keys"
        subtitle="API keys for applications: each may be limited to some models, to requests and tokens per minute, and to a budget per day or month."
      />

      {created !== undefined && (
        <div className="secret-banner" data-testid="new-key">
          <strong>Key “{created.name}” created. Copy its secret now: it is shown this once and cannot be shown again.</strong>
          <div className="row">
            <code className="secret" data-testid="new-key-secret">
              {created.secret}
            </code>
            <button
              type="button"
              onClick={() => {
                void navigator.clipboard?.writeText(created.secret).then(() => setIsCopied(true));
              }}
            >
              {isCopied ? "Copied" : "Copy"}
            </button>
            <button type="button" onClick={() => setCreated(undefined)}>
              Done
            </button>
          </div>
          <div className="muted small">
            Use it as the OpenAI client's <code>apiKey</code>, or as <code>Authorization: Bearer …</code>.
          </div>
        </div>
      )}

      <Section title="Create a key" testId="create-key">
        <form className="key-form" onSubmit={(event) => void create(event)}>
          <label>
            Name
            <input
              name="name"
              value={form.name}
              onChange={(event) => set("name", event.target.value)}
              placeholder="ci, team-search, alice-laptop"
              required
              data-testid="key-name"
            />
          </label>
          <fieldset>
            <legend>Models (none ticked: every model)</legend>
            {models.error !== undefined && <ErrorNotice error={models.error} what="The model list" />}
            <div className="checks">
              {models.data?.map((model) => (
                <label key={model.id} className="inline">
                  <input
                    type="checkbox"
                    checked={form.models.includes(model.id)}
                    onChange={(event) =>
                      set("models", event.target.checked ? [...form.models, model.id] : form.models.filter((id) => id !== model.id))
                    }
                  />{" "}
                  {model.id}
                </label>
              ))}
            </div>
          </fieldset>
          <div className="field-grid">
            <label>
              Requests per minute
              <input
                inputMode="numeric"
                value={form.requestsPerMinute}
                onChange={(event) => set("requestsPerMinute", event.target.value)}
                placeholder="no limit"
                data-testid="key-rpm"
              />
            </label>
            <label>
              Tokens per minute
              <input
                inputMode="numeric"
                value={form.tokensPerMinute}
                onChange={(event) => set("tokensPerMinute", event.target.value)}
                placeholder="no limit"
                data-testid="key-tpm"
              />
            </label>
            <label>
              Budget (USD)
              <input
                inputMode="decimal"
                value={form.budgetUsd}
                onChange={(event) => set("budgetUsd", event.target.value)}
                placeholder="no budget"
                data-testid="key-budget"
              />
            </label>
            <label>
              Budget period
              <select value={form.budgetPeriod} onChange={(event) => set("budgetPeriod", event.target.value as KeyForm["budgetPeriod"])}>
                <option value="day">per day (UTC)</option>
                <option value="month">per month (UTC)</option>
              </select>
            </label>
            <label>
              Expires in (days)
              <input
                inputMode="decimal"
                value={form.expiresInDays}
                onChange={(event) => set("expiresInDays", event.target.value)}
                placeholder="never"
              />
            </label>
          </div>
          {formError !== undefined && <Notice kind="error">{formError}</Notice>}
          <div>
            <button type="submit" className="primary" disabled={form.name.trim() === ""} data-testid="create-key-button">
              Create key
            </button>
          </div>
        </form>
      </Section>

      <Section
        title="Keys"
        testId="key-list"
        actions={
          <label className="inline">
            <input type="checkbox" checked={isRevokedShown} onChange={(event) => setIsRevokedShown(event.target.checked)} /> Show revoked
          </label>
        }
      >
        {revokeError !== undefined && <Notice kind="error">{revokeError}</Notice>}
        {keys.error !== undefined && <ErrorNotice error={keys.error} what="The keys" />}
        {keys.data !== undefined && keys.data.length === 0 && (
          <Notice>
            No keys yet. Applications can use the admin key meanwhile, but a key per application can be limited and revoked alone.
          </Notice>
        )}
        {keys.data !== undefined && keys.data.length > 0 && (
          <div className="table-scroll">
            <table className="table">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Prefix</th>
                  <th>Models</th>
                  <th className="number">Requests/min</th>
                  <th className="number">Tokens/min</th>
                  <th>Budget</th>
                  <th>Created</th>
                  <th>Expires</th>
                  <th>State</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {keys.data.map((key) => {
                  const state = keyState(key, nowMs);
                  return (
                    <tr key={key.id} data-testid="key-row" data-key-name={key.name} data-state={state.label}>
                      <td>
                        <strong>{key.name}</strong>
                        <div className="muted small">{key.id}</div>
                      </td>
                      <td>
                        <code>{key.prefix}…</code>
                      </td>
                      <td>{key.models === null ? <span className="muted">all</span> : key.models.join(", ")}</td>
                      <td className="number">{key.requests_per_minute === null ? "-" : formatInteger(key.requests_per_minute)}</td>
                      <td className="number">{key.tokens_per_minute === null ? "-" : formatInteger(key.tokens_per_minute)}</td>
                      <td>
                        {key.budget_micro_usd === null ? "-" : `${formatUsd(key.budget_micro_usd / 1e6)} / ${key.budget_period ?? "month"}`}
                      </td>
                      <td>{formatTime(key.created_at_ms)}</td>
                      <td>{key.expires_at_ms === null ? "never" : formatTime(key.expires_at_ms)}</td>
                      <td>
                        <Badge tone={state.tone}>{state.label}</Badge>
                      </td>
                      <td className="actions">
                        {key.revoked_at_ms === null &&
                          (confirming === key.id ? (
                            <>
                              <button type="button" className="danger" onClick={() => void revoke(key)} data-testid="confirm-revoke">
                                Revoke now
                              </button>
                              <button type="button" onClick={() => setConfirming(undefined)}>
                                Keep
                              </button>
                            </>
                          ) : (
                            <button type="button" onClick={() => setConfirming(key.id)} data-testid="revoke">
                              Revoke
                            </button>
                          ))}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </Section>
    </div>
  );
}
