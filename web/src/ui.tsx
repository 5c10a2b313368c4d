import type { ReactNode } from "react";
import { ApiError } from "../../src/client/api-error.js";

/** A titled block of a page. */
export function Section(props: { title: string; actions?: ReactNode; children: ReactNode; testId?: string }): ReactNode {
  return (
    <section className="section" data-testid={props.testId}>
      <header className="section-header">
        <h2>{props.title}</h2>
        {props.actions !== undefined && <div className="section-actions">{props.actions}</div>}
      </header>
      {props.children}
    </section>
  );
}

/** A page's title and one line about it. */
export function PageHeader(props: { title: string; subtitle?: ReactNode; actions?: ReactNode }): ReactNode {
  return (
    <header className="page-header">
      <div>
        <h1>{props.title}</h1>
        {props.subtitle !== undefined && <p className="muted">{props.subtitle}</p>}
      </div>
      {props.actions !== undefined && <div className="page-actions">{props.actions}</div>}
    </header>
  );
}

/**
 * A plain message in a box.
 * - `info`: a neutral note (an empty list, a hint).
 * - `unavailable`: a capability this server does not have (not built yet, or turned off).
 * - `error`: a failed call.
 * - `success`: a finished action.
 */
export function Notice(props: {
  kind?: "info" | "unavailable" | "error" | "success";
  title?: string;
  children?: ReactNode;
  testId?: string;
}): ReactNode {
  const kind = props.kind ?? "info";
  return (
    <div className={`notice notice-${kind}`} role={kind === "error" ? "alert" : "status"} data-testid={props.testId}>
      {props.title !== undefined && <strong className="notice-title">{props.title}</strong>}
      {props.children !== undefined && <div>{props.children}</div>}
    </div>
  );
}

/** The message and code of a failed call, as people read them. */
export function describeError(error: unknown): { message: string; code: string | null; status: number | null } {
  if (error instanceof ApiError) return { message: error.message, code: error.code, status: error.status };
  if (error instanceof Error) return { message: error.message, code: null, status: null };
  return { message: String(error), code: null, status: null };
}

/** Whether a failed call means the server has no such endpoint (an older server, or a capability not built yet). */
export function isNotBuilt(error: unknown): boolean {
  const { status, code } = describeError(error);
  return status === 404 && code === "not_found";
}

/** A failed call: a plain "not available on this server" for a missing endpoint, the server's message otherwise. */
export function ErrorNotice(props: { error: unknown; what?: string }): ReactNode {
  const { message, code } = describeError(props.error);
  if (isNotBuilt(props.error)) {
    return (
      <Notice kind="unavailable" title={`${props.what ?? "This"} is not available on this server yet.`}>
        The server answered: {message}
      </Notice>
    );
  }
  return (
    <Notice kind="error" title={props.what === undefined ? "The call failed." : `Could not load ${props.what.toLowerCase()}.`}>
      {message}
      {code !== null && <span className="muted"> ({code})</span>}
    </Notice>
  );
}

/** One figure with its label, for the summary rows of a page. */
export function Stat(props: { label: string; value: ReactNode; detail?: ReactNode; testId?: string }): ReactNode {
  return (
    <div className="stat" data-testid={props.testId}>
      <div className="stat-label">{props.label}</div>
      <div className="stat-value">{props.value}</div>
      {props.detail !== undefined && <div className="stat-detail">{props.detail}</div>}
    </div>
  );
}

/** A small coloured label. */
export function Badge(props: { tone?: "neutral" | "good" | "warn" | "bad" | "accent"; children: ReactNode }): ReactNode {
  return <span className={`badge badge-${props.tone ?? "neutral"}`}>{props.children}</span>;
}

/** A horizontal progress bar, `value` 0..1 (`undefined`: unknown, drawn as moving stripes). */
export function ProgressBar(props: { value: number | undefined; label?: string; testId?: string }): ReactNode {
  const percent = props.value === undefined ? undefined : Math.round(Math.min(1, Math.max(0, props.value)) * 1000) / 10;
  return (
    <div
      className={`progress${percent === undefined ? " progress-unknown" : ""}`}
      role="progressbar"
      aria-label={props.label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={percent}
      data-testid={props.testId}
    >
      <div className="progress-fill" style={{ width: `${percent ?? 100}%` }} />
    </div>
  );
}
