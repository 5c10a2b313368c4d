/** A confidence interval of a proportion, both bounds in [0, 1]. */
export interface ProportionInterval {
  /** The lower bound. */
  lower: number;
  /** The upper bound. */
  upper: number;
}

/** The two-sided 95% normal quantile, z = Φ⁻¹(0.975). */
export const z95 = 1.959963984540054;

/**
 * The Wilson score interval of `successes` out of `trials` (E. B. Wilson, "Probable inference, the law of succession,
 * and statistical inference", JASA 22(158):209-212, 1927; R. G. Newcombe, "Two-sided confidence intervals for the single
 * proportion: comparison of seven methods", Statistics in Medicine 17:857-872, 1998, method 3):
 *
 *   centre ± half = (p̂ + z²/2n ± z·√(p̂(1-p̂)/n + z²/4n²)) / (1 + z²/n),   p̂ = successes / trials
 *
 * Unlike the normal (Wald) interval it stays inside [0, 1] and does not collapse to a point at 0 or n successes, which
 * matters for the small question sets evals use. With no trials the interval is [0, 1].
 *
 * @param options.z the normal quantile of the confidence level. Defaults to {@link z95} (95%).
 * @throws {RangeError} when `trials` is negative or not whole, or `successes` is not a whole number in [0, trials].
 */
export function wilsonInterval(successes: number, trials: number, options: { z?: number } = {}): ProportionInterval {
  if (!Number.isInteger(trials) || trials < 0) throw new RangeError(`trials must be a whole number ≥ 0, got ${trials}`);
  if (!Number.isInteger(successes) || successes < 0 || successes > trials)
    throw new RangeError(`successes must be a whole number in [0, ${trials}], got ${successes}`);
  if (trials === 0) return { lower: 0, upper: 1 };
  const z = options.z ?? z95;
  const proportion = successes / trials;
  const zSquared = z * z;
  const denominator = 1 + zSquared / trials;
  const centre = proportion + zSquared / (2 * trials);
  const half = z * Math.sqrt((proportion * (1 - proportion)) / trials + zSquared / (4 * trials * trials));
  // At 0 or n successes one bound is exactly 0 or 1; clamp the rounding error of the formula there.
  return {
    lower: successes === 0 ? 0 : Math.max(0, (centre - half) / denominator),
    upper: successes === trials ? 1 : Math.min(1, (centre + half) / denominator),
  };
}
