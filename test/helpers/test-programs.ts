import fs from "node:fs/promises";
import path from "node:path";
import { expect } from "vitest";
import { MoestroError } from "../../src/errors/index.js";

/** Writes an executable shell script `directory/name` (the folder is created) whose body is `body`; returns its path. */
export async function writeScript(directory: string, name: string, body: string): Promise<string> {
  await fs.mkdir(directory, { recursive: true });
  const file = path.join(directory, name);
  await fs.writeFile(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return file;
}

/** The error `promise` rejects with, which must be a MoestroError. */
export async function moestroRejection(promise: Promise<unknown>): Promise<MoestroError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(MoestroError);
  return error as MoestroError;
}
