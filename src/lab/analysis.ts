/**
 * The lab's static analysis at theta0: which result keys to ask the engine (GPU `analyze` or the
 * f64 reference), and their conversion to the panels' `StaticAnalysis` (NTK heatmap, spectrum,
 * alignment, the GD stability bound 2n/lambda_max). Pure functions of typed results.
 */
import type { ResultKey } from '../experiment/keys';
import type { AnalysisResult } from '../experiment/result';
import type { ResolvedSpec } from '../experiment/types';
import { initialOutputs, splitClasses, stableLearningRate } from '../math/training';
import type { StaticAnalysis } from './protocol';

/** Largest n*c for which the full NTK is read back and decomposed (f64, in the worker). */
export const FULL_KERNEL_MAX = 600;
/** The heatmap shows the kernel of at most this many examples (the first ones). */
export const HEATMAP_MAX = 200;

export function analysisKeys(spec: ResolvedSpec): ResultKey[] {
  const N = spec.data.n * spec.data.c;
  const keys: ResultKey[] = ['outputs', 'ntk_trace', 'alignment'];
  if (N <= FULL_KERNEL_MAX) keys.push('ntk', 'ntk_spectrum');
  else keys.push('ntk_trace_spectrum');
  return keys;
}

/** Convert the engine's analysis into the panels' static analysis. */
export function toStaticAnalysis(res: AnalysisResult, spec: ResolvedSpec, P: number, seconds: number): StaticAnalysis {
  const { n, c } = spec.data;
  const spectrum = res.ntkSpectrum ?? res.ntkTraceSpectrum;
  const scalar: Record<string, number> = {};
  const perLayer: Record<string, number[]> = {};
  for (const [k, v] of Object.entries(res.alignment ?? {})) {
    if (typeof v === 'number') scalar[k] = v;
    else if (k.startsWith('per_layer_')) perLayer[k.slice('per_layer_'.length)] = v;
  }
  // The bound with the loss metric at the model's outputs h0 (f0 at alpha = 1, else 0).
  let stableLr = NaN;
  if (res.ntk && res.outputs) {
    const h0 = initialOutputs(res.outputs.data, spec.train?.alpha ?? 1);
    stableLr = stableLearningRate(Float64Array.from(res.ntk.data), h0, n, c, spec.loss);
  }
  let ntkTrace: StaticAnalysis['ntkTrace'] = null;
  if (res.ntkTrace) {
    const full = res.ntkTrace.data;
    const m = Math.min(n, HEATMAP_MAX);
    const values = new Float32Array(m * m);
    for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) values[i * m + j] = full[i * n + j];
    const labels = splitClasses(spec.data.labels, spec.data.y, n, c);
    ntkTrace = { n: m, values, labels: labels ? labels.slice(0, m) : null };
  }
  return {
    ntkTrace,
    eigenvalues: (spectrum?.eigenvalues ?? []).slice(0, 200),
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
