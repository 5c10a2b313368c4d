import { createContext, useContext } from "react";
import { createAdminClient, type AdminClient } from "../../src/client/admin-client.js";
import { createConsoleClient, type ConsoleClient } from "../../src/client/console-client.js";
import type { WireServerInfo } from "../../src/wire/console.js";

/** What every page of the console can reach: the server's info and the typed clients, logged in with the admin key. */
export interface ConsoleApi {
  /** The server's version, key-check state and features. */
  info: WireServerInfo;
  /** The admin key the console logged in with; `undefined` when key checks are off. */
  adminKey: string | undefined;
  /** Keys and usage totals. */
  admin: AdminClient;
  /** Models, pulls, plans, ledger rows and stored results. */
  console: ConsoleClient;
  /** Forgets the admin key and shows the login again. */
  logout: () => void;
}

/** Where the console keeps the admin key: this tab's session storage (gone when the tab closes). */
export const adminKeyStorageKey = "moestro.adminKey";

/** The clients for this page's own origin, with the admin key when there is one. */
export function createClients(adminKey: string | undefined): { admin: AdminClient; console: ConsoleClient } {
  return { admin: createAdminClient({ baseUrl: "", adminKey }), console: createConsoleClient({ baseUrl: "", adminKey }) };
}

/** The console's API context; set by the app once logged in. */
export const ConsoleApiContext = createContext<ConsoleApi | undefined>(undefined);

/** The console's API; only inside a logged-in app. */
export function useConsoleApi(): ConsoleApi {
  const api = useContext(ConsoleApiContext);
  if (api === undefined) throw new Error("useConsoleApi outside the logged-in console");
  return api;
}
