import { summarizeDistribution } from "./distribution-summary.js";
import type { EvalCostBasis, EvalModeResult, EvalThinkingMode } from "../wire/eval-report.js";
import type { EvalAnswerRecord } from "./eval-record.js";
import { wilsonInterval } from "./wilson-interval.js";

/**
 * Summarises the answers of one model in one thinking mode over an eval of `questionCount` questions: counts by
 * outcome, accuracy with its 95% Wilson interval ({@link wilsonInterval}), mean token counts and latency over answered
 * questions (errors left out), and summed costs (integer micro-USD, then USD). `isParetoOptimal` is false until
 * {@link markParetoOptimal} runs over the whole report.
 *
 * `records` must hold at most one record per question (the latest).
 */
export function summarizeEvalMode(
  records: readonly EvalAnswerRecord[],
  options: { model: string; thinking: EvalThinkingMode; questionCount: number },
): EvalModeResult {
  const count = (status: EvalAnswerRecord["status"]): number => records.filter((record) => record.status === status).length;
  const answered = records.filter((record) => record.status !== "error");
  const mean = (pick: (record: EvalAnswerRecord) => number | undefined): number | null => {
    const values = answered.map(pick).filter((value): value is number => value !== undefined);
    return values.length === 0 ? null : values.reduce((sum, value) => sum + value, 0) / values.length;
  };
  const correct = count("correct");
  const done = records.length;
  const interval = wilsonInterval(correct, done);
  const costMicroUsd = records.reduce((sum, record) => sum + record.costMicroUsd, 0);
  const cloudCostMicroUsd = records.reduce((sum, record) => sum + record.cloudCostMicroUsd, 0);
  const latency = summarizeDistribution(answered.map((record) => record.latencyMs));
  const perThousand = (microUsd: number): number => (done === 0 ? 0 : (microUsd / 1e6 / done) * 1000);
  return {
    model: options.model,
    thinking: options.thinking,
    questions: options.questionCount,
    done,
    pending: Math.max(0, options.questionCount - done),
    correct,
    wrong: count("wrong"),
    unparsable: count("unparsable"),
    errors: count("error"),
    accuracy: done === 0 ? 0 : correct / done,
    wilsonLower: interval.lower,
    wilsonUpper: interval.upper,
    meanPromptTokens: mean((record) => record.promptTokens),
    meanCompletionTokens: mean((record) => record.completionTokens),
    meanReasoningTokens: mean((record) => record.reasoningTokens),
    costMicroUsd,
    costUsd: costMicroUsd / 1e6,
    costPer1000QuestionsUsd: perThousand(costMicroUsd),
    cloudModel: records.find((record) => record.cloudModel !== undefined)?.cloudModel ?? null,
    cloudCostUsd: cloudCostMicroUsd / 1e6,
    cloudCostPer1000QuestionsUsd: perThousand(cloudCostMicroUsd),
    meanLatencyMs: latency.mean,
    p50LatencyMs: latency.p50,
    p90LatencyMs: latency.p90,
    isParetoOptimal: false,
  };
}

/** The cost per 1,000 questions of a result on the given basis, USD. */
export function costPer1000Questions(result: EvalModeResult, basis: EvalCostBasis): number {
  return basis === "own" ? result.costPer1000QuestionsUsd : result.cloudCostPer1000QuestionsUsd;
}

/**
 * Copies of `results` with `isParetoOptimal` set: true for each result that no other result dominates, that is, none
 * is at least as accurate for at most the cost per 1,000 questions (on `basis`) and strictly better in one of the two.
 * Results with nothing done are never optimal.
 */
export function markParetoOptimal(results: readonly EvalModeResult[], basis: EvalCostBasis): EvalModeResult[] {
  const candidates = results.filter((result) => result.done > 0);
  return results.map((result) => {
    const cost = costPer1000Questions(result, basis);
    const isDominated = candidates.some((other) => {
      const otherCost = costPer1000Questions(other, basis);
      return (
        other !== result && other.accuracy >= result.accuracy && otherCost <= cost && (other.accuracy > result.accuracy || otherCost < cost)
      );
    });
    return { ...result, isParetoOptimal: result.done > 0 && !isDominated };
  });
}
