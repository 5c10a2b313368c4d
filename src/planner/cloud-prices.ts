import { cloudListPriceBook, type CloudListPrice, type CloudListPriceBook } from "../metering/cloud-list-prices.js";

/** One cloud list price, as the dataset has it (`metering/cloud-list-prices.json`): figures in the source's currency. */
export type CloudPrice = CloudListPrice;

/** The cloud list prices a plan is compared with: entries plus where and when they were read, and the CNY rate used. */
export type CloudPriceBook = Pick<CloudListPriceBook, "source" | "retrieved" | "cnyPerUsd" | "prices">;

/**
 * The planner's cloud list prices: the project's one dataset of Qwen list prices ({@link cloudListPriceBook}), shared
 * with the metering's default price book. They are list prices to be verified by the operator: prices move often and
 * differ by region.
 */
export const cloudPriceBook: CloudPriceBook = cloudListPriceBook;
