import { useCallback, useEffect, useRef, useState } from "react";

/** The state of a value loaded asynchronously. */
export interface AsyncState<T> {
  /** The last value loaded; kept while a reload runs. */
  data: T | undefined;
  /** The last load's failure, cleared by the next success. */
  error: unknown;
  /** Whether a load is running. */
  isLoading: boolean;
  /** Loads again. */
  reload: () => void;
}

/**
 * Runs `load` when the component mounts, whenever `load` changes (or `reload` is called), and keeps the latest
 * answer. An answer that comes after a newer load started is dropped. `refreshMs` reloads on an interval.
 *
 * `load` must keep its identity between renders until what it reads changes: wrap it in `useCallback` with its
 * dependencies (the lint rule checks them there), or a new load starts on every render.
 *
 * @example
 * const models = useAsync(useCallback(() => api.console.listModels(), [api]));
 */
export function useAsync<T>(load: () => Promise<T>, options: { refreshMs?: number } = {}): AsyncState<T> {
  const [state, setState] = useState<{ data: T | undefined; error: unknown; isLoading: boolean }>({
    data: undefined,
    error: undefined,
    isLoading: true,
  });
  const latest = useRef(0);
  const reload = useCallback(() => {
    const run = ++latest.current;
    setState((previous) => ({ ...previous, isLoading: true }));
    load().then(
      (data) => {
        if (run === latest.current) setState({ data, error: undefined, isLoading: false });
      },
      (error: unknown) => {
        if (run === latest.current) setState((previous) => ({ data: previous.data, error, isLoading: false }));
      },
    );
  }, [load]);
  useEffect(() => reload(), [reload]);
  useEffect(() => {
    if (options.refreshMs === undefined) return;
    const timer = setInterval(reload, options.refreshMs);
    return () => clearInterval(timer);
  }, [options.refreshMs, reload]);
  return { ...state, reload };
}
