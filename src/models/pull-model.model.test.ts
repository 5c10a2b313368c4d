import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fileBytes, startFakeHub, type FakeHub } from "../../test/helpers/fake-hub.js";
import { hasTestModels, testModelPath } from "../../test/helpers/models.js";
import { createHubClient } from "./hub-client.js";
import { ModelStore } from "./model-store.js";
import { createModelPuller, type PullProgress } from "./pull-model.js";

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

  it.skipIf(!hasTestModels)("pulls a real GGUF with progress up to 100%, checks its SHA-256 and stores it", async () => {
    const content = fileBytes(testModelPath("stories260K.gguf"));
    hub = await startFakeHub({
      repos: {
        "karpathy/stories": [
          { path: "stories260K-Q8_0.gguf", content },
          { path: "README.md", content: Buffer.from("hi") },
        ],
      },
    });
    const store = new ModelStore(home);
    const puller = createModelPuller({ store, hub: createHubClient({ endpoint: hub.url }) });
    const events = await collect(puller.pull("hf:karpathy/stories:Q8_0"));
    expect(events[0]!.status).toBe("resolving");
    const done = events.at(-1)!;
    expect(done).toMatchObject({
      status: "done",
      model: "karpathy/stories:Q8_0",
      completedBytes: content.length,
      totalBytes: content.length,
    });
    for (const event of events.slice(1)) expect(event.completedBytes).toBeLessThanOrEqual(event.totalBytes!);
    expect((await readFile(done.stored!.path)).equals(content)).toBe(true);
    expect((await store.list()).map((model) => model.name)).toEqual(["karpathy/stories:Q8_0"]);

    // A second pull finds the file in place and downloads nothing.
    const downloadsBefore = hub.requests.filter((request) => request.includes("/resolve/")).length;
    await collect(puller.pull("hf:karpathy/stories:Q8_0"));
    expect(hub.requests.filter((request) => request.includes("/resolve/")).length).toBe(downloadsBefore);
  });
});
