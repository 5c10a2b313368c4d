const binaryUnits: Record<string, number> = { B: 1, KiB: 2 ** 10, MiB: 2 ** 20, GiB: 2 ** 30, TiB: 2 ** 40 };

/** The decode line of `moestro plan`'s text, parsed: its terms recomputed from the printed numbers, and the figure it prints. */
export interface DecodeFormula {
  /** Seconds per token from the printed numbers: Σ bytes / bandwidth, FLOPs / FLOP/s, and the overhead in ms. */
  recomputedSeconds: number;
  /** The `= N tok/s` at the end of the line. */
  printedTokensPerSecond: number;
  /** Which kind each term was: `bandwidth`, `compute` or `overhead`, in printed order. */
  kinds: Array<"bandwidth" | "compute" | "overhead">;
}

/**
 * Finds `  decode = 1 / (A + B + C) = N tok/s` in a rendered plan and recomputes it from its printed numbers only.
 *
 * @throws when the line is missing or a term has a shape the planner does not print.
 */
export function parseDecodeFormula(text: string): DecodeFormula {
  const line = /^ {2}decode = 1 \/ \((.*)\) = ([\d.]+) tok\/s$/m.exec(text);
  if (!line) throw new Error(`no decode formula in:\n${text}`);
  const kinds: DecodeFormula["kinds"] = [];
  let seconds = 0;
  for (const term of line[1]!.split(" + ")) {
    const bandwidth = /^([\d.]+) (B|KiB|MiB|GiB|TiB) \/ ([\d.]+) GB\/s (GPU|RAM)$/.exec(term);
    const compute = /^([\d.]+) GFLOP \/ ([\d.]+) GFLOP\/s (GPU|CPU) compute$/.exec(term);
    const overhead = /^([\d.]+) ms overhead$/.exec(term);
    if (bandwidth) {
      seconds += (Number(bandwidth[1]) * binaryUnits[bandwidth[2]!]!) / (Number(bandwidth[3]) * 1e9);
      kinds.push("bandwidth");
    } else if (compute) {
      seconds += Number(compute[1]) / Number(compute[2]);
      kinds.push("compute");
    } else if (overhead) {
      seconds += Number(overhead[1]) / 1000;
      kinds.push("overhead");
    } else throw new Error(`unexpected decode term '${term}'`);
  }
  return { recomputedSeconds: seconds, printedTokensPerSecond: Number(line[2]), kinds };
}

/** The `decode, 1 sequence` figure of the prediction table, tokens per second. */
export function printedDecodeTokensPerSecond(text: string): number {
  const row = /^decode, 1 sequence +([\d.]+) tok\/s$/m.exec(text);
  if (!row) throw new Error(`no decode row in:\n${text}`);
  return Number(row[1]);
}
