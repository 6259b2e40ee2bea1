/**
 * The lab's static analysis at theta0: which result keys to ask the engine (GPU `analyze` or the
 * f64 reference), and their conversion to the panels' `StaticAnalysis` (NTK heatmap, spectrum,
 * alignment, the GD stability bound 2n/lambda_max). Pure functions of fixture-format results.
 */
import { topEigenvalue } from '../dynamics/stability';
import { metricFactors, whitenKernel } from '../reference/geometry';
import type { ResolvedSpec } from '../experiment/types';
import type { StaticAnalysis } from './protocol';

/** Largest n*c for which the full NTK is read back and decomposed (f64, in the worker). */
export const FULL_KERNEL_MAX = 600;
/** The heatmap shows the kernel of at most this many examples (the first ones). */
export const HEATMAP_MAX = 200;

export function analysisKeys(spec: ResolvedSpec): Set<string> {
  const N = spec.data.n * spec.data.c;
  const keys = new Set(['outputs', 'ntk_trace', 'alignment']);
  if (N <= FULL_KERNEL_MAX) {
    keys.add('ntk');
    keys.add('ntk_spectrum');
  } else keys.add('ntk_trace_spectrum');
  return keys;
}

const flat = (v: unknown): number[] => (Array.isArray(v) ? (v as unknown[]).flatMap((x) => flat(x)) : [v as number]);

/**
 * The kernel GD sees in output space: K itself for mse; for cross-entropy L^T K L with the
 * per-example square roots L_i = diag(sqrt p) - p sqrt(p)^T of the softmax metric diag(p) - pp^T.
 */
export function metricKernel(K: Float64Array, outputs: Float64Array, n: number, c: number, loss: ResolvedSpec['loss']): Float64Array {
  return whitenKernel(K, n, c, metricFactors(loss, outputs, n, c));
}

/** Convert engine results (fixture `expected` format) into the panels' static analysis. */
export function toStaticAnalysis(res: Record<string, unknown>, spec: ResolvedSpec, P: number, seconds: number): StaticAnalysis {
  const { n, c } = spec.data;
  const spectrum = (res.ntk_spectrum ?? res.ntk_trace_spectrum) as { eigenvalues: number[]; effective_rank: number } | undefined;
  const align = (res.alignment ?? {}) as Record<string, number | number[]>;
  const scalar: Record<string, number> = {};
  const perLayer: Record<string, number[]> = {};
  for (const [k, v] of Object.entries(align)) {
    if (typeof v === 'number') scalar[k] = v;
    else if (Array.isArray(v) && k.startsWith('per_layer_')) perLayer[k.slice('per_layer_'.length)] = v;
  }
  let stableLr = NaN;
  if (res.ntk !== undefined && res.outputs !== undefined) {
    const K = Float64Array.from(flat(res.ntk));
    const out = Float64Array.from(flat(res.outputs));
    const lmax = topEigenvalue(metricKernel(K, out, n, c, spec.loss), n * c);
    stableLr = lmax > 0 ? (2 * n) / lmax : Infinity;
  }
  let ntkTrace: StaticAnalysis['ntkTrace'] = null;
  if (res.ntk_trace !== undefined) {
    const full = flat(res.ntk_trace);
    const m = Math.min(n, HEATMAP_MAX);
    const values = new Float32Array(m * m);
    for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) values[i * m + j] = full[i * n + j];
    const labels = spec.data.labels ? Int32Array.from(spec.data.labels) : classOfTargets(spec);
    ntkTrace = { n: m, values, labels: labels ? labels.subarray(0, m) : null };
  }
  const eig = spectrum?.eigenvalues ?? [];
  return {
    ntkTrace,
    eigenvalues: eig.slice(0, 200),
    effectiveRank: spectrum?.effective_rank ?? NaN,
    alignment: scalar,
    perLayer,
    stableLr,
    n,
    P,
    c,
    seconds,
  };
}

/** Class of each example from mse class targets (+-1 or one-hot), else null. */
function classOfTargets(spec: ResolvedSpec): Int32Array | null {
  const { n, c, y } = spec.data;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    if (c === 1) {
      if (y[i] !== 1 && y[i] !== -1) return null;
      out[i] = y[i] > 0 ? 1 : 0;
    } else {
      let best = 0;
      for (let k = 0; k < c; k++) {
        const v = y[i * c + k];
        if (v !== 0 && v !== 1) return null;
        if (v > y[i * c + best]) best = k;
      }
      out[i] = best;
    }
  }
  return out;
}
