import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startFakeHub, type FakeHub } from "../../test/helpers/fake-hub.js";
import { MoestroError } from "../errors/index.js";
import { createHubClient } from "./hub-client.js";
import { ModelStore } from "./model-store.js";
import { chooseFiles, createModelPuller, type PullProgress } from "./pull-model.js";

const bytes = (size: number, seed: number) => Buffer.from(Array.from({ length: size }, (_, index) => (index * 31 + seed) % 251));

describe("chooseFiles", () => {
  const files = [
    { path: "Model-Q4_K_M.gguf", sizeBytes: 1 },
    { path: "Model-Q8_0.gguf", sizeBytes: 1 },
    { path: "big/Model-Q6_K-00001-of-00002.gguf", sizeBytes: 1 },
    { path: "big/Model-Q6_K-00002-of-00002.gguf", sizeBytes: 1 },
    { path: "README.md", sizeBytes: 1 },
  ];

  it("picks the file of a quantization, case-insensitively", () => {
    expect(chooseFiles({ kind: "hf-quant", owner: "o", repo: "r", quantization: "Q8_0" }, files).map((file) => file.path)).toEqual([
      "Model-Q8_0.gguf",
    ]);
    expect(chooseFiles({ kind: "hf-quant", owner: "o", repo: "r", quantization: "q4_k_m" }, files).map((file) => file.path)).toEqual([
      "Model-Q4_K_M.gguf",
    ]);
  });

  it("picks every part of a split model, in order", () => {
    expect(chooseFiles({ kind: "hf-quant", owner: "o", repo: "r", quantization: "Q6_K" }, files).map((file) => file.path)).toEqual([
      "big/Model-Q6_K-00001-of-00002.gguf",
      "big/Model-Q6_K-00002-of-00002.gguf",
    ]);
    expect(chooseFiles({ kind: "hf-file", owner: "o", repo: "r", file: "big/Model-Q6_K-00001-of-00002.gguf" }, files)).toHaveLength(2);
  });

  it("names the quantizations a repo has when the asked one is missing", () => {
    expect(() => chooseFiles({ kind: "hf-quant", owner: "o", repo: "r", quantization: "Q2_K" }, files)).toThrow(/Q4_K_M, Q8_0, Q6_K/);
  });
});

describe("ModelPuller against a local server in the hub's URL layout", () => {
  let home: string;
  let hub: FakeHub | undefined;

  beforeEach(async () => {
    home = await mkdtemp(path.join(os.tmpdir(), "moestro-pull-"));
  });
  afterEach(async () => {
    await hub?.close();
    hub = undefined;
    await rm(home, { recursive: true, force: true });
  });

  async function collect(progress: AsyncIterable<PullProgress>): Promise<PullProgress[]> {
    const events: PullProgress[] = [];
    for await (const event of progress) events.push(event);
    return events;
  }

  it("resumes an interrupted download with a Range request", async () => {
    const content = bytes(200_000, 3);
    hub = await startFakeHub({ repos: { "o/r": [{ path: "m-Q8_0.gguf", content }] }, interruptFirstDownloadAfterBytes: 50_000 });
    const store = new ModelStore(home);
    const puller = createModelPuller({ store, hub: createHubClient({ endpoint: hub.url }) });
    const error = await collect(puller.pull("hf:o/r:Q8_0")).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(MoestroError);
    expect((error as MoestroError).message).toMatch(/resume/);
    // The folder with the partial file stays, to be resumed.
    const partial = await stat(path.join(store.folderFor("o/r:Q8_0"), "m-Q8_0.gguf.partial"));
    expect(partial.size).toBeGreaterThan(0);
    const events = await collect(puller.pull("hf:o/r:Q8_0"));
    expect(hub.requests).toContain(`GET /o/r/resolve/main/m-Q8_0.gguf bytes=${partial.size}-`);
    expect((await readFile(events.at(-1)!.stored!.path)).equals(content)).toBe(true);
  });

  it("refuses a file whose SHA-256 does not match the hub's, and keeps nothing", async () => {
    hub = await startFakeHub({ repos: { "o/r": [{ path: "m-Q8_0.gguf", content: bytes(10_000, 1), listedSha256: "0".repeat(64) }] } });
    const store = new ModelStore(home);
    const puller = createModelPuller({ store, hub: createHubClient({ endpoint: hub.url }) });
    const error = (await collect(puller.pull("hf:o/r:Q8_0")).catch((caught: unknown) => caught)) as MoestroError;
    expect(error.code).toBe("checksum_mismatch");
    expect(await store.list()).toEqual([]);
    await expect(stat(path.join(store.folderFor("o/r:Q8_0"), "m-Q8_0.gguf.partial"))).rejects.toThrow();
    // Nor an empty model folder.
    await expect(stat(store.folderFor("o/r:Q8_0"))).rejects.toThrow(/ENOENT/);
  });

  it("refuses a local path and a URL with malformed percent-encoding as invalid_request, in checkRef and in pull", async () => {
    const store = new ModelStore(home);
    const puller = createModelPuller({ store, hub: createHubClient({ endpoint: "http://127.0.0.1:9" }) });
    expect(puller.checkRef("hf:o/r:q8_0")).toBe("o/r:Q8_0");
    for (const [ref, fragment] of [
      ["./model.gguf", "is a local path"],
      ["https://example.com/%zz.gguf", "malformed percent-encoding"],
    ]) {
      expect(() => puller.checkRef(ref)).toThrow(expect.objectContaining({ code: "invalid_request", param: "model" }));
      const error = (await collect(puller.pull(ref)).catch((caught: unknown) => caught)) as MoestroError;
      expect(error).toMatchObject({ code: "invalid_request", param: "model" });
      expect(error.message).toContain(fragment);
    }
    expect(await readdir(store.root).catch(() => [])).toEqual([]);
  });

  it("leaves no empty model folder when the download fails", async () => {
    hub = await startFakeHub({ repos: {} });
    const store = new ModelStore(home);
    const puller = createModelPuller({ store, hub: createHubClient({ endpoint: hub.url }) });
    const ref = `${hub.url}/files/missing.gguf`;
    const error = (await collect(puller.pull(ref)).catch((caught: unknown) => caught)) as MoestroError;
    expect(error.code).toBe("hub_unreachable");
    expect(error.message).toMatch(/HTTP 404/);
    expect(await readdir(store.root)).toEqual([]);
  });

  it("shares one download between two pulls of the same file", async () => {
    hub = await startFakeHub({ repos: { "o/r": [{ path: "m-Q8_0.gguf", content: bytes(100_000, 2) }] }, bytesPerSecond: 400_000 });
    const store = new ModelStore(home);
    const puller = createModelPuller({ store, hub: createHubClient({ endpoint: hub.url }) });
    const [first, second] = await Promise.all([collect(puller.pull("hf:o/r:Q8_0")), collect(puller.pull("hf:o/r:Q8_0"))]);
    expect(first.at(-1)!.status).toBe("done");
    expect(second.at(-1)!.status).toBe("done");
    expect(hub.requests.filter((request) => request.startsWith("GET /o/r/resolve/"))).toHaveLength(1);
  });

  it("says in one line that the hub cannot be reached, and does not hang", async () => {
    const puller = createModelPuller({
      store: new ModelStore(home),
      hub: createHubClient({ endpoint: "http://127.0.0.1:9", timeoutMs: 2000 }),
    });
    const error = (await collect(puller.pull("hf:o/r:Q8_0")).catch((caught: unknown) => caught)) as MoestroError;
    expect(error.code).toBe("hub_unreachable");
    expect(error.message).toMatch(/--model \.\/model\.gguf/);
    expect(error.message.split("\n")).toHaveLength(1);
  });

  it("answers an unknown repo or quantization with model_not_found", async () => {
    hub = await startFakeHub({ repos: { "o/r": [{ path: "m-Q8_0.gguf", content: bytes(10, 1) }] } });
    const puller = createModelPuller({ store: new ModelStore(home), hub: createHubClient({ endpoint: hub.url }) });
    expect(((await collect(puller.pull("hf:o/missing:Q8_0")).catch((caught: unknown) => caught)) as MoestroError).code).toBe(
      "model_not_found",
    );
    expect(((await collect(puller.pull("hf:o/r:Q2_K")).catch((caught: unknown) => caught)) as MoestroError).message).toContain("Q8_0");
  });
});
