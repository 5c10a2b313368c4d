import { thisMachinePower, type MachinePower } from "../planner/machine-power.js";
import type { LocalTimeCost } from "./price-book.js";

/**
 * The electricity price time pricing assumes when the price book gives none: 165,000 micro-USD ($0.165) per kWh, the
 * U.S. average residential retail price of 2024 (EIA, Electric Power Monthly, table 5.3: about 16.5 cents per kWh; not
 * re-checked online when written). An estimate: configure `microUsdPerKwh` in the price book for your tariff.
 */
export const defaultElectricityMicroUsdPerKwh = 165_000;

/** The hourly cost of engine time a request is priced at, with what it rests on. */
export interface TimeRate {
  /** Amortised hardware, micro-USD per hour (the book's `microUsdPerHour`, default 0). */
  hardwareMicroUsdPerHour: number;
  /** Power while the engine runs, watts. */
  watts: number;
  /** Electricity price, micro-USD per kWh. */
  microUsdPerKwh: number;
  /** `hardwareMicroUsdPerHour + watts / 1000 × microUsdPerKwh`, micro-USD per hour of engine time (not rounded). */
  microUsdPerHour: number;
  /** Whether the power or the electricity price is a default (then every cost at this rate is an estimate). */
  estimated: boolean;
  /** Where `watts` comes from: `configured`, or the planner's figure for this machine ({@link MachinePower.source}). */
  wattsSource: string;
  /** Where `microUsdPerKwh` comes from: `configured`, or the default's source. */
  electricitySource: string;
}

/** The source of {@link defaultElectricityMicroUsdPerKwh}, as reports show it. */
export const defaultElectricitySource = "default: U.S. average residential price 2024 (EIA), $0.165/kWh";

let cachedMachinePower: MachinePower | undefined;

/** {@link thisMachinePower} with no GPU, computed once per process. */
export function defaultMachinePower(): MachinePower {
  cachedMachinePower ??= thisMachinePower();
  return cachedMachinePower;
}

/**
 * The hourly cost of time pricing: the price book's `cost` (fields as written), with the defaults for the fields left
 * out: no hardware cost, `machine`'s power (the planner's typical power for this machine), and
 * {@link defaultElectricityMicroUsdPerKwh}. Estimated when the power or the electricity price is a default.
 */
export function resolveTimeRate(cost: LocalTimeCost, machine: MachinePower = defaultMachinePower()): TimeRate {
  const hardwareMicroUsdPerHour = cost.microUsdPerHour ?? 0;
  const watts = cost.watts ?? machine.watts;
  const microUsdPerKwh = cost.microUsdPerKwh ?? defaultElectricityMicroUsdPerKwh;
  return {
    hardwareMicroUsdPerHour,
    watts,
    microUsdPerKwh,
    microUsdPerHour: hardwareMicroUsdPerHour + (watts / 1000) * microUsdPerKwh,
    estimated: cost.watts === undefined || cost.microUsdPerKwh === undefined,
    wattsSource: cost.watts === undefined ? machine.source : "configured",
    electricitySource: cost.microUsdPerKwh === undefined ? defaultElectricitySource : "configured",
  };
}

/**
 * Engine time in whole microseconds, as the ledger stores it: rounded, and at least 1 for any time above 0 (a request
 * that used the engine is never priced 0).
 */
export function engineTimeMicros(engineTimeMs: number): number {
  if (!(engineTimeMs > 0)) return 0;
  return Math.max(1, Math.round(engineTimeMs * 1000));
}

/**
 * The cost of `engineTimeUs` microseconds of engine time at `rate`, in nano-USD, rounded up (so that any engine time at
 * a rate above 0 costs at least 1 nano-USD): `engineTimeUs × microUsdPerHour / 3.6×10^6` (3.6×10^9 µs per hour, 1,000
 * nano-USD per micro-USD).
 */
export function timeCostNanoUsd(engineTimeUs: number, rate: Pick<TimeRate, "microUsdPerHour">): number {
  if (engineTimeUs <= 0 || rate.microUsdPerHour <= 0) return 0;
  return Math.ceil((engineTimeUs * rate.microUsdPerHour) / 3.6e6);
}
