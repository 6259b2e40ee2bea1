/** Least-squares fits of measured series (power laws against width). */

/**
 * Least-squares slope of log y against log x over the pairs where both are positive and finite
 * (null with fewer than two such pairs, or when their x are all equal): the exponent of a power
 * law y ∝ x^slope, e.g. -1/2 for the empirical NTK's distance from Θ against width.
 */
export function logLogSlope(x: readonly number[], y: readonly number[]): number | null {
  const pts = x.flatMap((v, i) => (v > 0 && y[i] > 0 && Number.isFinite(v) && Number.isFinite(y[i]) ? [[Math.log(v), Math.log(y[i])]] : []));
  if (pts.length < 2) return null;
  const mx = pts.reduce((a, p) => a + p[0], 0) / pts.length;
  const my = pts.reduce((a, p) => a + p[1], 0) / pts.length;
  let sxx = 0;
  let sxy = 0;
  for (const [a, b] of pts) {
    sxx += (a - mx) ** 2;
    sxy += (a - mx) * (b - my);
  }
  return sxx > 0 ? sxy / sxx : null;
}
