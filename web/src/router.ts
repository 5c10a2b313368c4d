import { useEffect, useState } from "react";

/** The console's pages: path, menu text and what the page is for. */
export const pages = [
  { path: "/playground", title: "Playground", about: "Chat with a model" },
  { path: "/models", title: "Models", about: "Pull, load, plan" },
  { path: "/upstreams", title: "Upstreams", about: "Gateway health and load" },
  { path: "/keys", title: "Keys", about: "API keys and limits" },
  { path: "/usage", title: "Usage", about: "Tokens, cost, savings" },
  { path: "/batches", title: "Batches", about: "Background requests at the batch price" },
  { path: "/benchmarks", title: "Benchmarks & evals", about: "Speed and accuracy" },
] as const;

/** One of the console's page paths. */
export type PagePath = (typeof pages)[number]["path"];

/** The page a location path shows; `/` and unknown paths show the Playground. */
export function pageForPath(path: string): PagePath {
  return pages.find((page) => page.path === path.replace(/\/+$/, ""))?.path ?? "/playground";
}

/** Goes to a page of the console without reloading (history API); the server answers every page path with the app. */
export function navigate(path: string): void {
  if (window.location.pathname === path) return;
  window.history.pushState(null, "", path);
  window.dispatchEvent(new PopStateEvent("popstate"));
}

/** The current location path; changes with {@link navigate} and the browser's back and forward buttons. */
export function useLocationPath(): string {
  const [path, setPath] = useState(window.location.pathname);
  useEffect(() => {
    const onChange = (): void => setPath(window.location.pathname);
    window.addEventListener("popstate", onChange);
    return () => window.removeEventListener("popstate", onChange);
  }, []);
  return path;
}
