/**
 * The runner's static analysis at theta0 on the GPU: outputs, losses, gradient, per-example
 * Jacobian, NTK (full, traced, per layer), alignments, spectra, the Fisher/GGN and KFAC/EKFAC,
 * as a typed `AnalysisResult` (src/experiment/result.ts).
 *
 * `STATIC_KEYS` is the table of the keys: for each, what it may be refused for on a given model
 * and device (`refuse`), and how it is computed from the shared intermediates of an
 * `AnalysisContext` (one forward pass, one batched backward pass of the unit output vectors, one
 * of the metric square roots for cross-entropy; see analysis-context.ts). What a key needs of the
 * spec itself (test data, a train section) is `KEY_NEEDS` in src/experiment/keys.ts.
 */
import type { GpuContext } from '../gpu/context';
import { matmul } from '../ops/matmul';
import { sumOfSquares, trace } from '../ops/reduce';
import { fullJacobian, type KernelOptions } from '../geometry/kernels';
import { alignmentsOf, releaseTargets, uploadTargets } from '../geometry/alignment';
import { kfacKey } from '../curvature/results';
import { spectrumStats } from '../math/spectrum';
import { eigvalsSym } from '../math/linalg';
import { fisherSkipped, fisherTooLarge, keyApplies, requestedKeys, type ResultKey } from '../experiment/keys';
import { matrix, type AnalysisResult } from '../experiment/result';
import { LimitError, TangentError } from '../experiment/errors';
import type { ResolvedSpec } from '../experiment/types';
import { AnalysisContext } from './analysis-context';

export interface AnalyzeOptions extends KernelOptions {
  /** Keys to compute (keys that cannot apply are dropped); default: the spec's (`requestedKeys`). */
  keys?: Iterable<ResultKey>;
  /** Receives one line per skipped or adjusted key. */
  onNote?: (note: string) => void;
}

interface KeyRule {
  key: ResultKey;
  /**
   * Why this model or device cannot have the key (null: it can): an explicitly requested key is
   * then refused with this error; a default one is skipped with a note.
   */
  refuse?: (a: AnalysisContext) => Error | null;
  compute: (a: AnalysisContext) => Promise<Partial<AnalysisResult>>;
}

/** Symmetrized float64 copy of a float32 kernel, for the float64 eigensolver. */
function symmetric64(K: Float32Array, N: number): Float64Array {
  const out = new Float64Array(N * N);
  for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) out[i * N + j] = 0.5 * (K[i * N + j] + K[j * N + i]);
  return out;
}

/** The static keys, in `RESULT_KEYS` order (everything but `train`, which the runner adds). */
export const STATIC_KEYS: readonly KeyRule[] = [
  { key: 'theta', compute: async (a) => ({ theta: await a.ctx.read(a.theta) }) },
  { key: 'outputs', compute: async (a) => ({ outputs: matrix((await a.evaluation('train')).outputs, a.n, a.c) }) },
  { key: 'outputs_test', compute: async (a) => ({ outputsTest: matrix((await a.evaluation('test')).outputs, a.test!.n, a.c) }) },
  { key: 'loss', compute: async (a) => ({ loss: (await a.evaluation('train')).loss }) },
  { key: 'loss_test', compute: async (a) => ({ lossTest: (await a.evaluation('test')).loss }) },
  { key: 'per_example_loss', compute: async (a) => ({ perExampleLoss: (await a.evaluation('train')).perExample }) },
  {
    key: 'loss_grad',
    compute: async (a) => {
      const state = await a.state();
      const sig = a.model.backward(state, await a.lossGradOutputs(), 1, a.theta);
      const grad = a.ctx.tensor([a.P], 'dL/dtheta');
      a.model.gradient(state, sig, grad);
      a.model.releaseSignals(sig);
      const lossGrad = await a.ctx.read(grad);
      grad.destroy();
      return { lossGrad };
    },
  },
  {
    key: 'jacobian',
    refuse: (a) => {
      const bytes = a.N * a.P * 4;
      const max = a.ctx.limits.maxStorageBufferBindingSize;
      return bytes > max ? new LimitError('maxStorageBufferBindingSize', bytes, max, `jacobian (${a.N} x ${a.P})`) : null;
    },
    compute: async (a) => {
      const J = fullJacobian(a.ctx, a.plan, await a.state(), await a.jacobianSignals());
      const jacobian = matrix(await a.ctx.read(J), a.N, a.P);
      J.destroy();
      return { jacobian };
    },
  },
  { key: 'ntk', compute: async (a) => ({ ntk: matrix(await a.kernelHost(), a.N, a.N) }) },
  { key: 'ntk_trace', compute: async (a) => ({ ntkTrace: matrix(await a.tracedHost(), a.n, a.n) }) },
  {
    key: 'ntk_trace_per_layer',
    compute: async (a) => {
      const per = [];
      for (const Kl of (await a.kernels()).perLayer) per.push(matrix(await a.tracedHost(Kl), a.n, a.n));
      return { ntkTracePerLayer: per };
    },
  },
  {
    key: 'alignment',
    compute: async (a) => {
      const targets = uploadTargets(a.ctx, a.spec.data.y, a.n, a.c);
      try {
        return { alignment: await alignmentsOf(a.ctx, await a.kernels(), await a.centeredKernels(), targets) };
      } finally {
        releaseTargets(targets);
      }
    },
  },
  // Spectra: float64 CPU eigenvalues of the float32 kernels (the WGSL Jacobi solver serves the
  // curvature work; float64 here keeps the effective rank's tail eigenvalues resolved).
  { key: 'ntk_spectrum', compute: async (a) => ({ ntkSpectrum: spectrumStats(eigvalsSym(symmetric64(await a.kernelHost(), a.N), a.N)) }) },
  { key: 'ntk_trace_spectrum', compute: async (a) => ({ ntkTraceSpectrum: spectrumStats(eigvalsSym(symmetric64(await a.tracedHost(), a.n), a.n)) }) },
  {
    key: 'fisher',
    refuse: (a) =>
      a.P > a.spec.options.fisher_max_params
        ? new TangentError('spec', fisherTooLarge(a.P, a.spec.options.fisher_max_params))
        : null,
    compute: async (a) => {
      const { ctx, P, N, n } = a;
      ctx.checkStorageBytes(P * P * 4, `the dense Fisher (${P} x ${P})`);
      const G = fullJacobian(ctx, a.plan, await a.state(), await a.gammaSignals());
      const F = ctx.tensor([P, P], 'Fisher');
      matmul(ctx, { a: G, b: G, c: F, M: P, N: P, K: N, transA: true, alpha: 1 / n });
      const fisher = matrix(await ctx.read(F), P, P);
      G.destroy();
      F.destroy();
      return { fisher };
    },
  },
  // F = (1/n) Gamma^T Gamma: its trace and Frobenius norm come from the (nc x nc) Gram
  // Gamma Gamma^T, which shares F's nonzero spectrum, so neither needs the P x P matrix.
  { key: 'fisher_trace', compute: async (a) => ({ fisherTrace: (await trace(a.ctx, await a.gammaKernel(), a.N)) / a.n }) },
  { key: 'fisher_frobenius', compute: async (a) => ({ fisherFrobenius: Math.sqrt(await sumOfSquares(a.ctx, await a.gammaKernel(), a.N * a.N)) / a.n }) },
  // KFAC / EKFAC per layer from the same forward state and Gamma signals (src/curvature).
  {
    key: 'kfac',
    compute: async (a) => ({ kfac: await kfacKey(a.ctx, a.plan.paramLayers, await a.state(), await a.gammaSignals(), { blockMaxParams: a.spec.options.block_max_params }) }),
  },
];

/** Compute the static keys asked for (the `train` key is the runner's, src/api/runner.ts). */
export async function analyze(ctx: GpuContext, spec: ResolvedSpec, opts: AnalyzeOptions = {}): Promise<AnalysisResult> {
  const note = opts.onNote ?? (() => {});
  const a = new AnalysisContext(ctx, spec, opts);
  try {
    let want: Set<ResultKey>;
    let explicit: boolean;
    if (opts.keys) {
      want = new Set([...opts.keys].filter((k) => keyApplies(k, spec)));
      explicit = true;
    } else {
      const r = requestedKeys(spec, a.P, false);
      want = new Set(r.keys);
      explicit = r.explicit;
      if (!explicit && a.P > spec.options.fisher_max_params) {
        note(fisherSkipped(a.P, spec.options.fisher_max_params));
      }
    }
    const rules = STATIC_KEYS.filter((r) => want.has(r.key));
    const result: AnalysisResult = {};
    for (const rule of rules) {
      const refusal = rule.refuse?.(a) ?? null;
      if (refusal) {
        if (explicit) throw refusal;
        note(`${rule.key} skipped: ${refusal.message}`);
        continue;
      }
      Object.assign(result, await rule.compute(a));
    }
    return result;
  } finally {
    a.dispose();
  }
}
