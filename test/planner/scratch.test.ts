import { test } from "vitest";
import { readFileSync } from "node:fs";
import { writeQwen3MoeHeader, qwen3_30b_a3b, qwen3_235b_a22b } from "./gguf-fixtures.js";
import { readModelFacts, createPlan, setupFromCatalog, renderModelFacts, renderPlan, renderComparison } from "../../src/planner/index.js";
test("scratch", async () => {
  for (const shape of [qwen3_30b_a3b, qwen3_235b_a22b]) {
    const file = `/tmp/q/${shape.name}.gguf`;
    await writeQwen3MoeHeader(file, shape);
    const facts = await readModelFacts(file);
    console.log(renderModelFacts(facts));
    console.log(renderPlan(createPlan(facts, setupFromCatalog("rtx-4090"), { sequences: 1 })));
    console.log(renderComparison(["h20","a100","h100","h200","rtx-4090","m2-ultra","ddr5-2ch","ddr5-8ch"].map((h) => createPlan(facts, setupFromCatalog(h), {pricePerKwhUsd: 0.15}))));
  }
});
