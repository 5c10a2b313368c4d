import { writeFileSync } from "node:fs";
import path from "node:path";
import type { PriceBookInput, PriceTier } from "../../src/metering/price-book.js";

/** One entry of a price book file as written (`prices[]`, before defaults; src/metering/price-book.ts). */
export type PriceEntryInput = NonNullable<PriceBookInput["prices"]>[number];

/**
 * A local model's price entry with one tier for every prompt length (`tier` leaves `maxPromptTokens` out), in force
 * from 2020-01-01: before any date a test's clock is set to, so the price applies to every request.
 */
export function flatLocalPrice(model: string, tier: PriceTier): PriceEntryInput {
  return { model, kind: "local", effectiveFrom: "2020-01-01", tiers: [tier] };
}

/**
 * Writes `book` as JSON to `prices.json` in `folder` (which must exist), replacing any file there.
 *
 * @returns the file's path, for `metering.priceBookPath` or `moestro serve --price-book`.
 */
export function writePriceBook(folder: string, book: PriceBookInput): string {
  const file = path.join(folder, "prices.json");
  writeFileSync(file, JSON.stringify(book));
  return file;
}
