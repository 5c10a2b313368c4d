import { z } from "zod";

/**
 * One cloud list price for a Qwen model, per million tokens, in integer micro-units of `currency`
 * (1,000,000 micro-USD = 1 USD), at the model's lowest input tier.
 */
export const cloudPriceSchema = z.object({
  model: z.string().min(1).describe("The cloud's model id."),
  region: z.enum(["international", "mainland"]).describe("Alibaba Cloud Model Studio region: International (USD) or Mainland China (CNY)."),
  currency: z.enum(["USD", "CNY"]),
  tier: z.string().describe("Input-token tier the prices are for (the whole request is billed at its input's tier)."),
  inputMicroPerMillionTokens: z.number().int().nonnegative().describe("Input price per 1M tokens, in micro-units of `currency`."),
  outputMicroPerMillionTokens: z
    .number()
    .int()
    .nonnegative()
    .describe("Non-thinking output price per 1M tokens, in micro-units of `currency`."),
  thinkingOutputMicroPerMillionTokens: z
    .number()
    .int()
    .nonnegative()
    .optional()
    .describe("Thinking-mode output price per 1M tokens, when billed apart."),
  totalParameters: z.number().positive().optional().describe("Parameters of the open-weight model behind the id, when published."),
  activeParameters: z.number().positive().optional().describe("Active parameters per token, when published."),
  namePattern: z.string().optional().describe("Regular expression (case-insensitive) on a GGUF's name that means the same model."),
  source: z.string().min(1),
});

/** One cloud list price; see {@link cloudPriceSchema}. */
export type CloudPrice = z.infer<typeof cloudPriceSchema>;

/** The price book: entries plus where and when they were read. */
export interface CloudPriceBook {
  /** Where the figures come from. */
  source: string;
  /** When they were read. */
  retrieved: string;
  /** CNY per USD used to compare Mainland prices with USD costs (an assumption, not a live rate). */
  cnyPerUsd: number;
  prices: readonly CloudPrice[];
}

const usd = (value: number): number => Math.round(value * 1e6);
const cny = usd;

/**
 * Cloud list prices of Qwen models, copied from ../shared/prices/cloud-list-prices.md (read from stored copies of
 * Alibaba Cloud Model Studio billing pages and gateway price lists, dated 2025 to 2026). They are list prices to be
 * verified by the operator: prices move often and differ by region. Parameter counts are the Qwen3 model cards'
 * (Qwen3-30B-A3B: 30.5B total, 3.3B active; Qwen3-32B: 32.8B).
 */
export const cloudPriceBook: CloudPriceBook = Object.freeze({
  source:
    "../shared/prices/cloud-list-prices.md (Alibaba Cloud Model Studio billing pages, api-evangelist/qwen plans, Vercel AI Gateway and LiteLLM price listings)",
  retrieved: "2025 to 2026 (stored copies; not re-checked)",
  cnyPerUsd: 7.2,
  prices: Object.freeze(
    z.array(cloudPriceSchema).parse([
      {
        model: "qwen3-30b-a3b-instruct-2507",
        region: "mainland",
        currency: "CNY",
        tier: "flat",
        inputMicroPerMillionTokens: cny(0.8),
        outputMicroPerMillionTokens: cny(3),
        thinkingOutputMicroPerMillionTokens: cny(7.5),
        totalParameters: 30.5e9,
        activeParameters: 3.3e9,
        namePattern: "30b[-_ .]?a3b",
        source: "help.aliyun.com doc 3023262 (Model Studio Mainland billing)",
      },
      {
        model: "qwen3-32b",
        region: "mainland",
        currency: "CNY",
        tier: "flat",
        inputMicroPerMillionTokens: cny(2),
        outputMicroPerMillionTokens: cny(8),
        thinkingOutputMicroPerMillionTokens: cny(20),
        totalParameters: 32.8e9,
        activeParameters: 32.8e9,
        namePattern: "qwen3[-_ .]?32b",
        source: "help.aliyun.com doc 3023262 (Model Studio Mainland billing)",
      },
      {
        model: "qwen-flash",
        region: "mainland",
        currency: "CNY",
        tier: "0-128K",
        inputMicroPerMillionTokens: cny(0.2),
        outputMicroPerMillionTokens: cny(1.5),
        source: "help.aliyun.com doc 3023262 (another mirror shows ¥0.15 input: prices move)",
      },
      {
        model: "qwen-plus",
        region: "mainland",
        currency: "CNY",
        tier: "0-128K",
        inputMicroPerMillionTokens: cny(0.8),
        outputMicroPerMillionTokens: cny(2),
        thinkingOutputMicroPerMillionTokens: cny(8),
        source: "help.aliyun.com doc 3023262",
      },
      {
        model: "qwen3-max",
        region: "international",
        currency: "USD",
        tier: "0-32K",
        inputMicroPerMillionTokens: usd(1.2),
        outputMicroPerMillionTokens: usd(6),
        source: "api-evangelist/qwen plans; Vercel AI Gateway listing",
      },
      {
        model: "qwen3.5-plus",
        region: "international",
        currency: "USD",
        tier: "0-256K",
        inputMicroPerMillionTokens: usd(0.4),
        outputMicroPerMillionTokens: usd(2.4),
        source: "api-evangelist/qwen plans",
      },
      {
        model: "qwen3.5-flash",
        region: "international",
        currency: "USD",
        tier: "0-128K",
        inputMicroPerMillionTokens: usd(0.1),
        outputMicroPerMillionTokens: usd(0.4),
        source: "LiteLLM PR #22848",
      },
      {
        model: "qwen3-coder-flash",
        region: "international",
        currency: "USD",
        tier: "0-32K",
        inputMicroPerMillionTokens: usd(0.3),
        outputMicroPerMillionTokens: usd(1.5),
        source: "LiteLLM PR #14471",
      },
      {
        model: "qwen-max",
        region: "international",
        currency: "USD",
        tier: "minimum",
        inputMicroPerMillionTokens: usd(1.6),
        outputMicroPerMillionTokens: usd(6.4),
        source: "Model Studio 'Billing for model services' (2025)",
      },
      {
        model: "qwen-plus",
        region: "international",
        currency: "USD",
        tier: "minimum",
        inputMicroPerMillionTokens: usd(0.4),
        outputMicroPerMillionTokens: usd(1.2),
        source: "Model Studio 'Billing for model services' (2025)",
      },
      {
        model: "qwen-turbo",
        region: "international",
        currency: "USD",
        tier: "minimum",
        inputMicroPerMillionTokens: usd(0.05),
        outputMicroPerMillionTokens: usd(0.2),
        source: "Model Studio 'Billing for model services' (2025)",
      },
    ]),
  ),
});
