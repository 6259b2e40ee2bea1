/**
 * NTK spectrum statistics (fixture README section 10; NTK-alignment paper): eigenvalues sorted
 * descending, effective rank exp(-sum p ln p) with p = max(lambda, 0) / sum, and the share of
 * the trace held by the top 1, 5 and 10 eigenvalues. Only negative round-off is clipped.
 */
export interface SpectrumStats {
  eigenvalues: number[];
  effective_rank: number;
  trace_ratio: { '1': number; '5': number; '10': number };
}

/** Statistics of a symmetric matrix's eigenvalues (any order). */
export function spectrumStats(eigenvalues: ArrayLike<number>): SpectrumStats {
  const desc = Array.from(eigenvalues).sort((a, b) => b - a);
  const plus = desc.map((l) => (l > 0 ? l : 0));
  const total = plus.reduce((a, b) => a + b, 0);
  let entropy = 0;
  if (total > 0) {
    for (const l of plus) {
      const p = l / total;
      if (p > 0) entropy -= p * Math.log(p);
    }
  }
  const ratio = (k: number) => {
    if (total === 0) return 0;
    let s = 0;
    for (let i = 0; i < Math.min(k, plus.length); i++) s += plus[i];
    return s / total;
  };
  return {
    eigenvalues: desc,
    effective_rank: total > 0 ? Math.exp(entropy) : 0,
    trace_ratio: { '1': ratio(1), '5': ratio(5), '10': ratio(10) },
  };
}
