/**
 * Compare a result object with a fixture's `expected`, using the metrics and float32
 * tolerances of the fixture README ("Recommended float32 tolerances"):
 *
 * - arrays: normalized max error `max|x - ref| / max|ref|` over the whole stored array
 *   (for training arrays, over all checkpoints together);
 * - scalars: `|x - ref| / |ref|`;
 * - `frob_err_kfac`, `frob_err_ekfac`: `|x - ref| / frob_exact` of the same layer;
 * - spectrum eigenvalues: max abs error / lambda_max;
 * - `relu_sign_similarity`: absolute error at most one flipped pair, `1 / (n U)`;
 * - integer metadata (layer_index, offsets, sizes, checkpoints, steps) and strings: exact;
 * - `infinite.*` (README section 13): normalized max error, 1e-4.
 *
 * It also checks that the key sets and shapes are identical. Used by the tests and by
 * `npm run lab -- compare`.
 */

export interface Mismatch {
  path: string;
  problem: string;
}

export interface LeafCheck {
  path: string;
  error: number;
  tolerance: number;
  metric: string;
}

export interface Comparison {
  checks: LeafCheck[];
  /** Structural problems (missing or extra keys, wrong shapes) and failed checks. */
  failures: Mismatch[];
}

export interface CompareOptions {
  /** Multiply every tolerance (use < 1 to test the f64 reference tightly). */
  scale?: number;
  /** Override the tolerance of every leaf (e.g. 1e-8 for the f64 reference). */
  uniform?: number;
  /** Number of relu units U and examples n, for relu_sign_similarity (1/(nU)). */
  reluUnits?: number;
  n?: number;
  /** Skip these top-level keys (not computed by the engine under test). */
  skip?: string[];
  /** With `fisher_frobenius` / `frob_exact` accumulated in float64, use 1e-5 (README note). */
  f64Norms?: boolean;
}

/** Tolerance and metric for a leaf, from its path. */
export function toleranceFor(path: string, opts: CompareOptions = {}): { tol: number; metric: 'norm' | 'scalar' | 'frob' | 'eig' | 'count' } {
  const p = path;
  const last = p.split('.').pop()!.replace(/\[\d+\]/g, '');
  const inTrain = p.startsWith('train.');
  let tol: number;
  let metric: 'norm' | 'scalar' | 'frob' | 'eig' | 'count' = 'norm';
  if (p.startsWith('infinite')) {
    // README section 13: kernels and function-space training, normalized max error (training
    // arrays over all checkpoints together).
    tol = 1e-4;
  } else if (inTrain) {
    if (p.startsWith('train.closed_form')) tol = 5e-5;
    else if (last === 'relu_sign_similarity') {
      metric = 'count';
      tol = opts.reluUnits && opts.n ? 1 / (opts.n * opts.reluUnits) + 1e-12 : 0;
    } else if (last.startsWith('ntk_similarity_to_init')) tol = 3e-5;
    else if (last.startsWith('alignment_ntk') || last.startsWith('alignment_per_layer_ntk')) tol = 1e-5;
    else if (last.startsWith('alignment')) tol = 5e-5;
    else tol = 3e-4;
  } else if (p.startsWith('kfac')) {
    if (last === 'frob_err_kfac' || last === 'frob_err_ekfac') {
      metric = 'frob';
      tol = 1e-5;
    } else if (last === 'frob_exact') {
      metric = 'scalar';
      tol = opts.f64Norms ? 1e-5 : 3e-4;
    } else if (last.startsWith('ekfac')) tol = 3e-5;
    else tol = 1e-5;
  } else if (p.startsWith('alignment')) {
    const centered = /(^|_)centered/.test(last) && !last.includes('uncentered');
    metric = last.startsWith('per_layer') ? 'norm' : 'scalar';
    if (last.includes('ntk')) tol = 1e-5;
    else tol = centered ? 5e-5 : 1e-5;
  } else if (p.startsWith('ntk_spectrum') || p.startsWith('ntk_trace_spectrum')) {
    if (last === 'eigenvalues') {
      metric = 'eig';
      tol = 1e-5;
    } else if (last === 'effective_rank') {
      metric = 'scalar';
      tol = 1e-4;
    } else {
      metric = 'scalar';
      tol = 1e-5;
    }
  } else if (last === 'fisher_frobenius') {
    metric = 'scalar';
    tol = opts.f64Norms ? 1e-5 : 3e-4;
  } else if (last === 'loss' || last === 'loss_test' || last === 'fisher_trace') {
    metric = 'scalar';
    tol = 1e-5;
  } else {
    tol = 1e-5;
  }
  if (opts.uniform !== undefined && metric !== 'count') tol = opts.uniform;
  if (opts.scale !== undefined && metric !== 'count') tol *= opts.scale;
  return { tol, metric };
}

const INTEGER_KEYS = new Set(['layer_index', 'param_offset', 'param_size', 'out', 'fan_in_plus_1', 'spatial_positions', 'checkpoints', 'steps']);

function flatten(v: unknown, shape: number[], out: number[], path: string, failures: Mismatch[], depth = 0): void {
  if (Array.isArray(v)) {
    if (shape.length <= depth) shape.push(v.length);
    else if (shape[depth] !== v.length) {
      failures.push({ path, problem: `ragged array: length ${v.length}, expected ${shape[depth]}` });
      return;
    }
    v.forEach((x, i) => flatten(x, shape, out, `${path}[${i}]`, failures, depth + 1));
  } else if (typeof v === 'number') {
    out.push(v);
  } else {
    failures.push({ path, problem: `expected a number, found ${v === null ? 'null' : typeof v}` });
  }
}

function shapeOf(v: unknown): number[] {
  const s: number[] = [];
  let x = v;
  while (Array.isArray(x)) {
    s.push(x.length);
    x = x[0];
  }
  return s;
}

/** Compare `actual` against `expected` (both plain JSON values). */
export function compareResults(actual: unknown, expected: unknown, opts: CompareOptions = {}): Comparison {
  const checks: LeafCheck[] = [];
  const failures: Mismatch[] = [];
  const skip = new Set(opts.skip ?? []);

  const frobExactOf = (path: string): number | undefined => {
    const m = /^kfac\[(\d+)\]/.exec(path);
    if (!m) return undefined;
    const layer = (expected as { kfac?: { frob_exact: number }[] }).kfac?.[Number(m[1])];
    return layer?.frob_exact;
  };

  const leaf = (a: unknown, e: unknown, path: string) => {
    const key = path.split('.').pop()!.replace(/\[\d+\]$/, '');
    if (typeof e === 'string') {
      if (a !== e) failures.push({ path, problem: `expected "${e}", found ${JSON.stringify(a)}` });
      return;
    }
    if (INTEGER_KEYS.has(key)) {
      if (JSON.stringify(a) !== JSON.stringify(e)) failures.push({ path, problem: `expected ${JSON.stringify(e)}, found ${JSON.stringify(a)}` });
      return;
    }
    const ea: number[] = [];
    const aa: number[] = [];
    const es: number[] = [];
    const as: number[] = [];
    flatten(e, es, ea, path, failures);
    const before = failures.length;
    flatten(a, as, aa, path, failures);
    if (failures.length > before) return;
    if (JSON.stringify(es) !== JSON.stringify(as)) {
      failures.push({ path, problem: `shape [${as.join(', ')}], expected [${es.join(', ')}]` });
      return;
    }
    const { tol, metric } = toleranceFor(path, opts);
    let maxErr = 0;
    let maxRef = 0;
    for (let i = 0; i < ea.length; i++) {
      const d = Math.abs(aa[i] - ea[i]);
      if (!(d <= maxErr)) maxErr = Number.isNaN(d) ? Infinity : Math.max(maxErr, d);
      maxRef = Math.max(maxRef, Math.abs(ea[i]));
    }
    let error: number;
    let metricName: string;
    switch (metric) {
      case 'frob': {
        const fe = frobExactOf(path) ?? 1;
        error = maxErr / fe;
        metricName = '|x-ref|/frob_exact';
        break;
      }
      case 'count':
        error = maxErr;
        metricName = 'abs (one flipped pair = 1/(nU))';
        break;
      case 'eig':
        error = maxRef > 0 ? maxErr / maxRef : maxErr;
        metricName = 'max abs / lambda_max';
        break;
      case 'scalar':
        error = maxRef > 0 ? maxErr / maxRef : maxErr;
        metricName = '|x-ref|/|ref|';
        break;
      default:
        error = maxRef > 0 ? maxErr / maxRef : maxErr;
        metricName = 'max|x-ref|/max|ref|';
    }
    checks.push({ path, error, tolerance: tol, metric: metricName });
    if (!(error <= tol)) failures.push({ path, problem: `error ${error.toExponential(3)} > tolerance ${tol.toExponential(1)} (${metricName})` });
  };

  const walk = (a: unknown, e: unknown, path: string) => {
    if (e !== null && typeof e === 'object' && !Array.isArray(e)) {
      if (a === null || typeof a !== 'object' || Array.isArray(a)) {
        failures.push({ path, problem: 'expected an object' });
        return;
      }
      const ek = Object.keys(e);
      const ak = Object.keys(a as object);
      for (const k of ek) {
        const p = path ? `${path}.${k}` : k;
        if (!path && skip.has(k)) continue;
        if (!(k in (a as object))) failures.push({ path: p, problem: 'missing' });
        else walk((a as Record<string, unknown>)[k], (e as Record<string, unknown>)[k], p);
      }
      for (const k of ak) if (!(k in e) && !(!path && skip.has(k))) failures.push({ path: path ? `${path}.${k}` : k, problem: 'unexpected key' });
      return;
    }
    if (Array.isArray(e) && e.length > 0 && typeof e[0] === 'object' && e[0] !== null && !Array.isArray(e[0])) {
      if (!Array.isArray(a) || a.length !== e.length) {
        failures.push({ path, problem: `expected a list of ${e.length} objects, found ${Array.isArray(a) ? a.length : typeof a}` });
        return;
      }
      e.forEach((x, i) => walk(a[i], x, `${path}[${i}]`));
      return;
    }
    leaf(a, e, path);
  };
  walk(actual, expected, '');
  return { checks, failures };
}

export { shapeOf };
