import { cloudListPriceBook } from "../metering/cloud-list-prices.js";
import { formatMicroUsd } from "./cost.js";
import type { ModelFacts } from "./model-facts.js";
import type { Calibration, Plan } from "./plan.js";
import { formatBandwidth, formatBytes, formatCount, formatSignificant } from "../util/size-units.js";

/** Renders rows as a left-aligned text table; the first row is the header, underlined. */
export function renderTable(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? "").length)));
  const line = (row: readonly string[]): string =>
    row
      .map((cell, column) => cell.padEnd(widths[column]!))
      .join("  ")
      .trimEnd();
  return [line(rows[0]!), widths.map((width) => "-".repeat(width)).join("  "), ...rows.slice(1).map(line)].join("\n");
}

function keyValues(pairs: ReadonlyArray<[string, string]>): string {
  const width = Math.max(...pairs.map(([key]) => key.length));
  return pairs.map(([key, value]) => `${`${key}:`.padEnd(width + 2)}${value}`).join("\n");
}

/**
 * `name: N parameters`, with `, M active` for a Mixture of Experts only: a dense model uses every parameter for every
 * token, so "active" would say nothing (the plan's `expertCount` is the GGUF's, `undefined` for a dense model).
 */
const describeParameters = (plan: Plan): string =>
  `${plan.model.name}: ${formatCount(plan.model.totalParameters)} parameters` +
  (plan.model.expertCount === undefined ? "" : `, ${formatCount(plan.model.activeParameters)} active`);

const tokensPerSecond = (value: number | null | undefined): string =>
  value === null || value === undefined ? "-" : `${formatSignificant(value)} tok/s`;

/** Renders `moestro show`: the model's facts as `key: value` lines, then the quantization mix as a table. */
export function renderModelFacts(facts: ModelFacts): string {
  const moe = facts.moe;
  const pairs: Array<[string, string]> = [
    ["model", facts.name],
    ["source", facts.source.kind === "file" ? facts.source.path : `${facts.source.ref} (${facts.source.url})`],
    ["architecture", facts.architecture],
    [
      "parameters",
      moe
        ? `${formatCount(facts.parameters.total)} total, ${formatCount(facts.parameters.active)} active per token`
        : `${formatCount(facts.parameters.total)}, all used per token`,
    ],
    [
      "experts",
      moe
        ? `${moe.expertCount} routed, ${moe.expertUsedCount} used per token${moe.sharedExpertCount ? `, ${moe.sharedExpertCount} shared` : ""}${moe.expertFeedForwardLength ? `, FFN ${moe.expertFeedForwardLength}` : ""} (routed experts: ${formatCount(facts.parameters.routedExpert)} parameters)`
        : "none (dense)",
    ],
    [
      "layers",
      `${facts.layerCount} (${facts.attention.layerCount} with attention${facts.recurrent ? `, ${facts.recurrent.layerCount} recurrent` : ""})`,
    ],
    ["hidden size", String(facts.hiddenSize)],
    [
      "attention",
      `${facts.attention.headCount} query heads, ${facts.attention.kvHeadCount} KV heads, head dim ${facts.attention.keyLength}`,
    ],
    ["vocabulary", String(facts.vocabularySize)],
    ["context length", facts.contextTokens === undefined ? "unknown" : `${facts.contextTokens} tokens`],
    ["file type", facts.fileType ?? "unknown"],
    ["file size", facts.fileSizeBytes === undefined ? "unknown" : formatBytes(facts.fileSizeBytes)],
    [
      "weights",
      moe
        ? `${formatBytes(facts.weights.totalBytes)} (routed experts ${formatBytes(facts.weights.routedExpertBytes)})`
        : formatBytes(facts.weights.totalBytes),
    ],
    ["read per token", `${formatBytes(facts.activeBytesPerToken)} (${moe ? "active weights" : "weights"}, one sequence)`],
    ["chat template", facts.chat.hasTemplate ? (facts.chat.templateFamily ?? "present") : "none"],
    ["thinking", facts.chat.supportsThinking ? "yes" : "no"],
    ["tools", facts.chat.supportsTools ? "yes" : "no"],
  ];
  const quantRows = [
    ["type", "tensors", "parameters", "size", "share"],
    ...facts.quantization.map((share) => [
      share.type,
      String(share.tensorCount),
      formatCount(share.parameters),
      formatBytes(share.sizeBytes),
      `${((100 * share.sizeBytes) / facts.weights.totalBytes).toFixed(1)}%`,
    ]),
  ];
  return `${keyValues(pairs)}\n\nquantization mix\n${renderTable(quantRows)}\n`;
}

/**
 * Renders `moestro plan` for one setup: memory per device, placement, the worker's llama-server command line
 * ({@link Plan.workerArgs}), speeds with their formulas, cost, assumptions; with a calibration, predicted against
 * measured (the plan is expected to be made with the calibrated setup).
 */
export function renderPlan(plan: Plan, calibration?: Calibration): string {
  const { memory, placement, hardware } = plan;
  const out: string[] = [];
  out.push(`${describeParameters(plan)}, ${formatBytes(plan.model.weightsBytes)} of weights`);
  out.push(`hardware: ${hardware.name}`);
  out.push(`settings: context ${memory.contextTokens} tokens × ${memory.sequences} sequences, batch ${memory.batchTokens}`);
  out.push("");
  const deviceRows: string[][] = [["device", "weights", "KV cache", "buffers", "total", "available"]];
  if (placement.gpu) {
    const gpu = placement.gpu;
    deviceRows.push([
      hardware.unified ? "GPU (unified)" : "GPU",
      formatBytes(gpu.weightsBytes),
      formatBytes(gpu.cacheBytes),
      formatBytes(gpu.computeBytes),
      formatBytes(gpu.totalBytes),
      formatBytes(gpu.budgetBytes),
    ]);
  }
  const host = placement.host;
  if (!hardware.unified || !placement.gpu) {
    deviceRows.push([
      "RAM",
      formatBytes(host.weightsBytes),
      formatBytes(host.cacheBytes),
      formatBytes(host.computeBytes),
      formatBytes(host.totalBytes),
      formatBytes(host.budgetBytes),
    ]);
  }
  out.push(renderTable(deviceRows));
  out.push("");
  out.push(
    `KV cache: ${formatBytes(memory.kvCacheBytesPerToken)} per token × ${memory.contextTokens} × ${memory.sequences} = ${formatBytes(memory.kvCacheBytes)}`,
  );
  out.push(`placement: ${placement.description}`);
  out.push(`fits: ${plan.fits ? "yes" : `no: ${plan.reason}`}`);
  if (plan.fits) out.push(`llama-server ${plan.workerArgs.join(" ")}`);
  if (plan.speed) {
    out.push("");
    out.push(
      renderTable([
        ["prediction", "value"],
        ["decode, 1 sequence", tokensPerSecond(plan.speed.decodeTokensPerSecond)],
        [`decode, 1 sequence at ${memory.contextTokens} tokens`, tokensPerSecond(plan.speed.decodeTokensPerSecondAtFullContext)],
        [
          `decode, ${memory.sequences} sequence${memory.sequences === 1 ? "" : "s"} together (sum)`,
          tokensPerSecond(plan.speed.aggregateDecodeTokensPerSecond),
        ],
        [`prefill, ${plan.speed.promptTokens}-token prompt`, tokensPerSecond(plan.speed.prefillTokensPerSecond)],
      ]),
    );
    out.push("");
    out.push("formulas:");
    for (const formula of plan.speed.formulas) out.push(`  ${formula}`);
  }
  out.push("");
  out.push(...renderCost(plan));
  if (calibration) {
    out.push("");
    out.push(
      renderTable([
        ["--measure", "predicted", "measured", "measured/predicted"],
        [
          "decode",
          tokensPerSecond(calibration.predictedDecodeTokensPerSecond),
          tokensPerSecond(calibration.measured.decodeTokensPerSecond),
          formatSignificant(calibration.decodeRatio),
        ],
        [
          "prefill",
          tokensPerSecond(calibration.predictedPrefillTokensPerSecond),
          tokensPerSecond(calibration.measured.prefillTokensPerSecond),
          formatSignificant(calibration.prefillRatio),
        ],
      ]),
    );
    const how = `${calibration.measured.threads} threads, ${calibration.measured.promptTokens}-token prompt, ${calibration.measured.decodeTokens} decoded tokens`;
    out.push(
      calibration.calibrated === "bandwidth"
        ? `calibrated: effective bandwidth ${formatBandwidth(calibration.effectiveBandwidthBytesPerSecond)}, effective compute ${formatSignificant(calibration.effectiveFlopsPerSecond / 1e9)} GFLOP/s, ` +
            `per-token overhead ${formatSignificant(calibration.decodeOverheadSeconds * 1000)} ms as assumed (${how}); reuse with --mem-bandwidth ${formatSignificant(calibration.effectiveBandwidthBytesPerSecond / 1e9)}`
        : `calibrated: per-token overhead ${formatSignificant(calibration.decodeOverheadSeconds * 1000)} ms (${formatSignificant(calibration.decodeOverhead.stepSeconds * 1000)} ms per step + ${formatSignificant(calibration.decodeOverhead.vocabularyEntrySeconds * 1e9)} ns per vocabulary entry), ` +
            `measured (${how}); bandwidth and compute as before: reading this model's weights takes less time than the overhead, so they cannot be told from it`,
    );
    out.push("the predictions above use the calibrated figures");
  }
  out.push("");
  out.push("assumptions:");
  for (const assumption of plan.assumptions) out.push(`  - ${assumption}`);
  return `${out.join("\n")}\n`;
}

function renderCost(plan: Plan): string[] {
  const lines: string[] = [];
  const cost = plan.cost;
  if (cost.costMicroUsdPerMillionOutputTokens !== undefined) {
    const parts = [];
    if (cost.hourlyMicroUsdPerMillionOutputTokens !== undefined)
      parts.push(`${formatMicroUsd(cost.hourlyMicroUsdPerMillionOutputTokens)} at the hourly price`);
    if (cost.energyMicroUsdPerMillionOutputTokens !== undefined)
      parts.push(`${formatMicroUsd(cost.energyMicroUsdPerMillionOutputTokens)} of electricity`);
    lines.push(`cost per 1M output tokens: ${parts.join(", ")} (at ${tokensPerSecond(cost.tokensPerSecond)})`);
  } else if (plan.fits) {
    lines.push("cost per 1M output tokens: pass --price-kwh (and --watts where the hardware has no typical power) or --hourly-usd");
  }
  if (cost.cloud) {
    const cloud = cost.cloud;
    const thinking =
      cloud.thinkingOutputMicroUsdPerMillionTokens === undefined
        ? ""
        : `, thinking ${formatMicroUsd(cloud.thinkingOutputMicroUsdPerMillionTokens)}`;
    const how = cloud.match === "name" ? "same model" : `nearest by ${plan.model.expertCount === undefined ? "" : "active "}parameters`;
    lines.push(
      `cloud list price (${how}): ${cloud.price.model} (${cloud.price.region}) output ${formatMicroUsd(cloud.outputMicroUsdPerMillionTokens)}${thinking} per 1M tokens` +
        `${cloud.price.currency === "CNY" ? ` (¥${cloud.price.tiers[0]!.outputMicroPerMillionTokens / 1e6} at ${cloudListPriceBook.cnyPerUsd} CNY/USD)` : ""}; ${cloud.price.source}; list price, verify before relying on it`,
    );
  }
  return lines;
}

/** Renders `moestro plan --compare`: one row per hardware setup. */
export function renderComparison(plans: readonly Plan[]): string {
  const rows: string[][] = [
    ["hardware", "fits", "placement", "decode", `decode ×${plans[0]?.memory.sequences ?? 1}`, "prefill", "$/1M out", "llama-server flags"],
  ];
  for (const plan of plans) {
    rows.push([
      plan.hardware.id,
      plan.fits ? "yes" : "no",
      plan.fits ? plan.placement.kind : "-",
      tokensPerSecond(plan.decodeTokensPerSecond),
      tokensPerSecond(plan.speed?.aggregateDecodeTokensPerSecond),
      tokensPerSecond(plan.prefillTokensPerSecond),
      plan.cost.costMicroUsdPerMillionOutputTokens === undefined ? "-" : formatMicroUsd(plan.cost.costMicroUsdPerMillionOutputTokens),
      plan.llamaServerArgs.slice(2).join(" "),
    ]);
  }
  const header = plans[0] ? `${describeParameters(plans[0])}\n` : "";
  const cloud = plans[0]?.cost.cloud;
  const footer = cloud
    ? `\ncloud list price: ${cloud.price.model} (${cloud.price.region}) ${formatMicroUsd(cloud.outputMicroUsdPerMillionTokens)} per 1M output tokens`
    : "";
  const reasons = plans
    .filter((plan) => !plan.fits)
    .map((plan) => `\n${plan.hardware.id} does not fit: ${plan.reason}`)
    .join("");
  const costNote = plans.some((plan) => plan.cost.costMicroUsdPerMillionOutputTokens !== undefined)
    ? ""
    : "\n$/1M out: pass --price-kwh (uses each device's typical power) or --hourly-usd";
  return `${header}${renderTable(rows)}${reasons}${footer}${costNote}\n`;
}
