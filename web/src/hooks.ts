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
 * Runs `load` when the component mounts and whenever `deps` change (or `reload` is called), and keeps the latest
 * answer. An answer that comes after a newer load started is dropped. `refreshMs` reloads on an interval.
 */
export function useAsync<T>(load: () => Promise<T>, deps: readonly unknown[], options: { refreshMs?: number } = {}): AsyncState<T> {
  const [state, setState] = useState<{ data: T | undefined; error: unknown; isLoading: boolean }>({
    data: undefined,
    error: undefined,
    isLoading: true,
  });
  const [generation, setGeneration] = useState(0);
  const latest = useRef(0);
  const reload = useCallback(() => setGeneration((value) => value + 1), []);
  useEffect(() => {
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
    // The caller's deps (and reload) decide when to load again, not the identity of `load`.
  }, [...deps, generation]);
  useEffect(() => {
    if (options.refreshMs === undefined) return;
    const timer = setInterval(reload, options.refreshMs);
    return () => clearInterval(timer);
  }, [options.refreshMs, reload]);
  return { ...state, reload };
}
