import { stat } from "node:fs/promises";

/**
 * Caches what `read` derives from a file until the file changes (its size or modification time), for readers of GGUF
 * headers that serve every model list. A file that cannot be `stat`ed gives `undefined`; a failed `read` gives
 * `undefined` too (and is kept until the file changes). Never throws.
 *
 * @param read derives the value from the file at `path`, given its size (bytes) and modification time (epoch ms).
 */
export function cachePerFileVersion<Value>(
  read: (path: string, sizeBytes: number, modifiedAtMs: number) => Promise<Value | undefined>,
): (path: string) => Promise<Value | undefined> {
  const cache = new Map<string, { version: string; value: Promise<Value | undefined> }>();
  return async (path) => {
    const stats = await stat(path).catch(() => undefined);
    if (stats === undefined) return undefined;
    const version = `${stats.size}:${stats.mtimeMs}`;
    const cached = cache.get(path);
    if (cached?.version === version) return await cached.value;
    const value = read(path, stats.size, stats.mtimeMs).catch(() => undefined);
    cache.set(path, { version, value });
    return await value;
  };
}
