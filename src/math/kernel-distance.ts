/**
 * How far an empirical NTK is from the infinite-width limit ("wider is lazier"), in float64:
 *
 *   ||K_emp - Theta (x) I_c||_F / ||Theta (x) I_c||_F
 *
 * with K_emp the full empirical NTK (n c x n c, example-major rows i*c + k, the fixture README's
 * `ntk` layout) and Theta the analytic n x n factor (README section 13). ||Theta (x) I_c||_F^2 =
 * c ||Theta||_F^2. Under the NTK parameterization with N(0, 1) parameters the distance at
 * initialization falls like 1/sqrt(width) (Jacot et al. 2018; README section 13, "Verification").
 */

/** The relative Frobenius distance of K_emp (nc x nc) to Theta (x) I_c (Theta n x n). */
export function ntkRelativeDistance(Kemp: ArrayLike<number>, theta: ArrayLike<number>, n: number, c: number): number {
  const N = n * c;
  if (Kemp.length !== N * N) throw new Error(`ntkRelativeDistance: K_emp has ${Kemp.length} entries, expected (n c)^2 = ${N * N}`);
  if (theta.length !== n * n) throw new Error(`ntkRelativeDistance: Theta has ${theta.length} entries, expected n^2 = ${n * n}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < c; k++) {
      const row = (i * c + k) * N;
      for (let j = 0; j < n; j++) {
        const t = theta[i * n + j];
        for (let l = 0; l < c; l++) {
          const d = Kemp[row + j * c + l] - (k === l ? t : 0);
          num += d * d;
        }
        den += t * t;
      }
    }
  }
  if (!(den > 0)) throw new Error('ntkRelativeDistance: Theta is zero');
  return Math.sqrt(num / den);
}
