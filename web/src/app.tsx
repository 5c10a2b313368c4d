import { useCallback, useEffect, useMemo, useState, type FormEvent, type ReactNode } from "react";
import { ApiError } from "../../src/client/api-error.js";
import type { WireServerInfo } from "../../src/wire/console.js";
import { adminKeyStorageKey, ConsoleApiContext, createClients, type ConsoleApi } from "./api.js";
import { BatchesPage } from "./pages/batches.js";
import { BenchmarksPage } from "./pages/benchmarks.js";
import { KeysPage } from "./pages/keys.js";
import { ModelsPage } from "./pages/models.js";
import { PlaygroundPage } from "./pages/playground.js";
import { UpstreamsPage } from "./pages/upstreams.js";
import { UsagePage } from "./pages/usage.js";
import { navigate, pageForPath, pages, useLocationPath, type PagePath } from "./router.js";
import { describeError, Notice } from "./ui.js";

type Session =
  | { phase: "checking" }
  | { phase: "login"; reason?: string }
  | { phase: "ready"; info: WireServerInfo; adminKey: string | undefined }
  | { phase: "unreachable"; message: string };

function readStoredKey(): string | undefined {
  try {
    return sessionStorage.getItem(adminKeyStorageKey) ?? undefined;
  } catch {
    return undefined;
  }
}

/**
 * Asks the server who we are with `key`: its info when the key is accepted (or key checks are off), the login screen
 * when it needs a key or refuses this one.
 */
async function openSession(key: string | undefined): Promise<Session> {
  // Without a key, ask the open `/health` first: on a server that checks keys, the info request would be refused with
  // a 401, which the browser logs as an error before anyone could log in.
  if (key === undefined && (await serverChecksKeys())) return { phase: "login" };
  try {
    const info = await createClients(key).console.info();
    return { phase: "ready", info, adminKey: info.key_checks ? key : undefined };
  } catch (error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
      if (key === undefined) return { phase: "login" };
      if (error.status === 403)
        return {
          phase: "login",
          reason: "This key works, but it is not the admin key. The console needs the server's admin key (MOESTRO_ADMIN_KEY).",
        };
      return { phase: "login", reason: `The server refused this key: ${error.message}` };
    }
    return { phase: "unreachable", message: describeError(error).message };
  }
}

/** Whether the server says (`GET /health`'s `key_checks`) that it checks keys; false when it does not say or fails. */
async function serverChecksKeys(): Promise<boolean> {
  try {
    const response = await fetch("/health");
    if (!response.ok) return false;
    const body = (await response.json()) as { key_checks?: unknown };
    return body.key_checks === true;
  } catch {
    return false;
  }
}

/** The web console: login when the server checks keys, then a page per part of the studio. */
export function App(): ReactNode {
  const [session, setSession] = useState<Session>({ phase: "checking" });
  const check = useCallback(async (key: string | undefined) => {
    const next = await openSession(key);
    try {
      if (next.phase === "ready" && next.adminKey !== undefined) sessionStorage.setItem(adminKeyStorageKey, next.adminKey);
      else if (next.phase === "login") sessionStorage.removeItem(adminKeyStorageKey);
    } catch {
      // Storage may be off (private mode): the key then lives in this page only.
    }
    setSession(next);
    return next;
  }, []);
  useEffect(() => {
    void check(readStoredKey());
  }, [check]);

  const logout = useCallback(() => {
    try {
      sessionStorage.removeItem(adminKeyStorageKey);
    } catch {
      // Nothing stored.
    }
    setSession({ phase: "login" });
  }, []);

  switch (session.phase) {
    case "checking":
      return <div className="splash">Connecting to moestro…</div>;
    case "unreachable":
      return (
        <div className="splash">
          <Notice kind="error" title="The moestro server does not answer.">
            {session.message}
          </Notice>
          <button type="button" onClick={() => void check(readStoredKey())}>
            Try again
          </button>
        </div>
      );
    case "login":
      return <LoginScreen reason={session.reason} onSubmit={check} />;
    case "ready":
      return <Console info={session.info} adminKey={session.adminKey} logout={logout} />;
    default:
      return session satisfies never;
  }
}

function LoginScreen(props: { reason?: string; onSubmit: (key: string) => Promise<Session> }): ReactNode {
  const [key, setKey] = useState("");
  const [isBusy, setIsBusy] = useState(false);
  const submit = async (event: FormEvent): Promise<void> => {
    event.preventDefault();
    setIsBusy(true);
    try {
      await props.onSubmit(key.trim());
    } finally {
      setIsBusy(false);
    }
  };
  return (
    <div className="login">
      <form className="login-card" onSubmit={(event) => void submit(event)}>
        <div className="brand brand-large">
          <Logo /> moestro
        </div>
        <p>
          This server checks API keys. Log in with its admin key (the <code>MOESTRO_ADMIN_KEY</code> it was started with).
        </p>
        {props.reason !== undefined && (
          <Notice kind="error" testId="login-error">
            {props.reason}
          </Notice>
        )}
        <label>
          Admin key
          <input
            type="password"
            name="admin-key"
            autoComplete="current-password"
            value={key}
            onChange={(event) => setKey(event.target.value)}
            required
          />
        </label>
        <button type="submit" className="primary" disabled={isBusy || key.trim() === ""}>
          {isBusy ? "Checking…" : "Log in"}
        </button>
        <p className="muted small">The key stays in this browser tab (session storage) and is sent only to this server.</p>
      </form>
    </div>
  );
}

function Logo(): ReactNode {
  return (
    <svg className="logo" viewBox="0 0 32 32" aria-hidden="true">
      <rect width="32" height="32" rx="7" fill="currentColor" />
      <circle cx="10" cy="11" r="3.2" fill="#fff" />
      <circle cx="22" cy="11" r="3.2" fill="#fff" opacity=".55" />
      <circle cx="10" cy="21" r="3.2" fill="#fff" opacity=".55" />
      <circle cx="22" cy="21" r="3.2" fill="#fff" />
    </svg>
  );
}

function Console(props: { info: WireServerInfo; adminKey: string | undefined; logout: () => void }): ReactNode {
  const path = useLocationPath();
  const page = pageForPath(path);
  const api = useMemo<ConsoleApi>(
    () => ({ info: props.info, adminKey: props.adminKey, ...createClients(props.adminKey), logout: props.logout }),
    [props.info, props.adminKey, props.logout],
  );
  const title = pages.find((candidate) => candidate.path === page)?.title ?? "";
  useEffect(() => {
    document.title = `${title} · moestro`;
  }, [title]);
  return (
    <ConsoleApiContext.Provider value={api}>
      <div className="shell">
        <nav className="sidebar" aria-label="Console pages">
          <div className="brand">
            <Logo /> moestro
          </div>
          <ul>
            {pages.map((candidate) => (
              <li key={candidate.path}>
                <a
                  href={candidate.path}
                  className={candidate.path === page ? "active" : undefined}
                  aria-current={candidate.path === page ? "page" : undefined}
                  onClick={(event) => {
                    if (event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
                    event.preventDefault();
                    navigate(candidate.path);
                  }}
                >
                  <span>{candidate.title}</span>
                  <small>{candidate.about}</small>
                </a>
              </li>
            ))}
          </ul>
          <div className="sidebar-footer">
            <div>moestro {props.info.version}</div>
            {props.info.key_checks ? (
              <div>
                Key checks on ·{" "}
                <button type="button" className="link" onClick={props.logout}>
                  Log out
                </button>
              </div>
            ) : (
              <div title="Start the server with MOESTRO_ADMIN_KEY to require keys.">Key checks off: open to all</div>
            )}
          </div>
        </nav>
        <main className="content">
          <PageView page={page} />
        </main>
      </div>
    </ConsoleApiContext.Provider>
  );
}

function PageView(props: { page: PagePath }): ReactNode {
  switch (props.page) {
    case "/playground":
      return <PlaygroundPage />;
    case "/models":
      return <ModelsPage />;
    case "/upstreams":
      return <UpstreamsPage />;
    case "/keys":
      return <KeysPage />;
    case "/usage":
      return <UsagePage />;
    case "/batches":
      return <BatchesPage />;
    case "/benchmarks":
      return <BenchmarksPage />;
    default:
      return props.page satisfies never;
  }
}
