import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startFakeHub, type FakeHub } from "../../test/helpers/fake-hub.js";
import { ggufToolsSkipReason, hasGgufTools, qwen3_30b_a3b, writeQwen3MoeHeader } from "../../test/planner/gguf-fixtures.js";
import { createStoreModelResolver, hubFileUrl, parseHubRef, pickGgufFileForQuant, resolveModelSource } from "./model-source.js";
import { readModelFacts } from "./read-model-facts.js";

describe("parseHubRef", () => {
  test.each([
    [
      "hf:Qwen/Qwen3-30B-A3B-GGUF:Q4_K_M",
      { owner: "Qwen", repo: "Qwen3-30B-A3B-GGUF", revision: "main", quant: "Q4_K_M", filePath: undefined },
    ],
    ["hf:Qwen/Qwen3-30B-A3B-GGUF", { owner: "Qwen", repo: "Qwen3-30B-A3B-GGUF", revision: "main", quant: "Q4_K_M", filePath: undefined }],
    [
      "hf://unsloth/Qwen3-235B-A22B-GGUF@v2:UD-Q2_K_XL",
      { owner: "unsloth", repo: "Qwen3-235B-A22B-GGUF", revision: "v2", quant: "UD-Q2_K_XL", filePath: undefined },
    ],
    [
      "hf:a/b/Q8_0/model-Q8_0-00001-of-00002.gguf",
      { owner: "a", repo: "b", revision: "main", quant: undefined, filePath: "Q8_0/model-Q8_0-00001-of-00002.gguf" },
    ],
  ])("%s", (ref, expected) => {
    expect(parseHubRef(ref)).toEqual(expected);
  });

  test("a malformed reference is invalid_request", () => {
    expect(() => parseHubRef("hf:just-a-name")).toThrow(expect.objectContaining({ code: "invalid_request" }));
  });
});

describe("pickGgufFileForQuant", () => {
  const files = [
    { path: "README.md", sizeBytes: 10 },
    { path: "Qwen3-30B-A3B-Q4_K_M.gguf", sizeBytes: 100 },
    { path: "Qwen3-30B-A3B-Q4_K_M_L.gguf", sizeBytes: 101 },
    { path: "mmproj-Q4_K_M.gguf", sizeBytes: 5 },
    { path: "Q8_0/Qwen3-Q8_0-00002-of-00002.gguf", sizeBytes: 40 },
    { path: "Q8_0/Qwen3-Q8_0-00001-of-00002.gguf", sizeBytes: 60 },
  ];

  test("matches the quantization as a whole token, case-insensitively, never a projector", () => {
    expect(pickGgufFileForQuant(files, "q4_k_m")).toEqual({ path: "Qwen3-30B-A3B-Q4_K_M.gguf", sizeBytes: 100 });
  });

  test("a split model resolves to its first part with the parts' sizes summed", () => {
    expect(pickGgufFileForQuant(files, "Q8_0")).toEqual({ path: "Q8_0/Qwen3-Q8_0-00001-of-00002.gguf", sizeBytes: 100 });
  });

  test("no match is model_not_found and lists the files", () => {
    expect(() => pickGgufFileForQuant(files, "IQ1_S")).toThrow(/IQ1_S.*Qwen3-30B-A3B-Q4_K_M\.gguf/);
  });
});

describe("resolveModelSource", () => {
  test("an existing path is a file source; relative paths resolve against cwd", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "moestro-source-"));
    writeFileSync(path.join(dir, "m.gguf"), "GGUF");
    await expect(resolveModelSource("m.gguf", { cwd: dir })).resolves.toEqual({
      kind: "file",
      path: path.join(dir, "m.gguf"),
      sizeBytes: 4,
    });
    rmSync(dir, { recursive: true, force: true });
  });

  test("names that are not files go to the store's resolver (the seam for the local store)", async () => {
    const asked: string[] = [];
    const source = await resolveModelSource("qwen3-30b", {
      cwd: os.tmpdir(),
      resolveStoredModel: async (name) => {
        asked.push(name);
        return name === "qwen3-30b" ? { kind: "file", path: "/store/qwen3-30b.gguf", sizeBytes: 1 } : undefined;
      },
    });
    expect(asked).toEqual(["qwen3-30b"]);
    expect(source).toEqual({ kind: "file", path: "/store/qwen3-30b.gguf", sizeBytes: 1 });
    await expect(
      resolveModelSource("unknown-alias", { cwd: os.tmpdir(), resolveStoredModel: async () => undefined }),
    ).rejects.toMatchObject({
      code: "model_not_found",
    });
  });

  test("createStoreModelResolver maps a stored model to its file", async () => {
    const resolver = createStoreModelResolver({
      get: async (name) =>
        name === "Qwen/Qwen3-0.6B-GGUF:Q8_0" ? { path: "/home/.moestro/models/q/q.gguf", sizeBytes: 639_447_744 } : undefined,
    });
    await expect(resolver("Qwen/Qwen3-0.6B-GGUF:Q8_0", {})).resolves.toEqual({
      kind: "file",
      path: "/home/.moestro/models/q/q.gguf",
      sizeBytes: 639_447_744,
    });
    await expect(resolver("other", {})).resolves.toBeUndefined();
  });
});

describe.skipIf(!hasGgufTools)("hub references over HTTP range requests (a fake hub on 127.0.0.1)", () => {
  let dir: string;
  let hub: FakeHub;
  let header: Buffer;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "moestro-hub-"));
    await writeQwen3MoeHeader(path.join(dir, "h.gguf"), qwen3_30b_a3b);
    header = readFileSync(path.join(dir, "h.gguf"));
    // Two pages and a folder entry, as the hub lists a large repository.
    hub = await startFakeHub({
      repos: {
        "acme/Qwen3-30B-A3B-GGUF": [
          { path: "Qwen3-30B-A3B-Q8_0.gguf", content: header, listedSizeBytes: 32_483_932_576 },
          { path: "Qwen3-30B-A3B-Q4_K_M.gguf", content: header, listedSizeBytes: 18_556_685_696 },
        ],
      },
      treePageSize: 1,
      treeFolders: ["docs"],
    });
  });
  afterAll(async () => {
    await hub.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("hf:owner/repo:QUANT lists the repository, then reads only the header with Range requests", async () => {
    hub.log.length = 0;
    const facts = await readModelFacts("hf:acme/Qwen3-30B-A3B-GGUF:Q4_K_M", { hubEndpoint: hub.url, detectChat: false });
    expect(facts.source).toMatchObject({
      kind: "hub",
      owner: "acme",
      repo: "Qwen3-30B-A3B-GGUF",
      filePath: "Qwen3-30B-A3B-Q4_K_M.gguf",
      url: `${hub.url}/acme/Qwen3-30B-A3B-GGUF/resolve/main/Qwen3-30B-A3B-Q4_K_M.gguf`,
      sizeBytes: 18_556_685_696,
    });
    expect(facts.fileSizeBytes).toBe(18_556_685_696);
    expect(Math.abs(facts.parameters.total - 30.5e9) / 30.5e9).toBeLessThan(0.03);
    expect(Math.abs(facts.parameters.active - 3.3e9) / 3.3e9).toBeLessThan(0.03);
    const listings = hub.log.filter((request) => request.url.startsWith("/api/"));
    expect(listings.map((request) => request.url)).toEqual([
      "/api/models/acme/Qwen3-30B-A3B-GGUF/tree/main?recursive=true",
      "/api/models/acme/Qwen3-30B-A3B-GGUF/tree/main?recursive=true&cursor=2",
    ]);
    const reads = hub.log.filter((request) => request.url.includes("/resolve/"));
    expect(reads.length).toBeGreaterThan(0);
    for (const read of reads) expect(read.range).toMatch(/^bytes=\d+-\d+$/);
    expect(reads.reduce((sum, read) => sum + read.sentBytes, 0)).toBeLessThanOrEqual(header.length);
  });

  test("hf:owner/repo/file.gguf reads that file without listing", async () => {
    hub.log.length = 0;
    const facts = await readModelFacts("hf:acme/Qwen3-30B-A3B-GGUF/Qwen3-30B-A3B-Q8_0.gguf", { hubEndpoint: hub.url, detectChat: false });
    expect(facts.source).toMatchObject({ kind: "hub", filePath: "Qwen3-30B-A3B-Q8_0.gguf", sizeBytes: undefined });
    expect(hub.log.some((request) => request.url.startsWith("/api/"))).toBe(false);
    // `requests` is read from the log, so it was emptied with it
    expect(hub.requests.some((request) => request.startsWith("GET /api/"))).toBe(false);
    expect(hub.requests).toHaveLength(hub.log.length);
    expect(facts.layerCount).toBe(48);
  });

  test("an unknown repository or quantization is model_not_found; an unreachable hub is hub_unreachable", async () => {
    await expect(readModelFacts("hf:acme/nope:Q4_K_M", { hubEndpoint: hub.url })).rejects.toMatchObject({ code: "model_not_found" });
    await expect(readModelFacts("hf:acme/Qwen3-30B-A3B-GGUF:IQ1_S", { hubEndpoint: hub.url })).rejects.toMatchObject({
      code: "model_not_found",
    });
    await expect(readModelFacts("hf:acme/Qwen3-30B-A3B-GGUF:Q4_K_M", { hubEndpoint: "http://127.0.0.1:9" })).rejects.toMatchObject({
      code: "hub_unreachable",
    });
  });

  test("hubFileUrl encodes the path parts", () => {
    expect(hubFileUrl("https://hf.example/", { owner: "a", repo: "b", revision: "main" }, "dir/x y.gguf")).toBe(
      "https://hf.example/a/b/resolve/main/dir/x%20y.gguf",
    );
  });
});
if (!hasGgufTools) test.skip(ggufToolsSkipReason, () => {});
