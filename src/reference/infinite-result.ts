/**
 * The runner's `infinite` key in the fixture format (README section 13), from the analytic
 * kernels: `nngp`, `ntk` (n x n), `nngp_test`, `ntk_test` (n_test x n) and, with a train section,
 * `train` = the infinite-width mean predictor trained in function space from h_0 = 0
 * (src/math/function-space.ts) recorded at `train.checkpoints`. Shared by the GPU runner
 * (src/engine/infinite.ts, kernels from the GPU) and the float64 reference (`infiniteReference`).
 */
import type { ResolvedSpec } from '../experiment/types';
import { infinitePlan, infiniteProblem, type InfiniteKernels } from '../model/infinite-plan';
import { FunctionSpacePredictor } from '../math/function-space';
import { infiniteKernelsRef } from './infinite';
import { nest } from '../util/nested';

/** Supplies the training indices of the next minibatch (the session's batch schedule). */
export type NextBatch = () => ArrayLike<number>;

/**
 * Assemble the `infinite` object. Minibatch training (batch_size < n) takes its batches from
 * `nextBatch`, which must be the schedule the actual and linearized models use.
 */
export function infiniteResult(spec: ResolvedSpec, kernels: InfiniteKernels, nextBatch?: NextBatch): Record<string, unknown> {
  const problem = infiniteProblem(spec);
  if (problem) throw problem;
  const { n, nTest, c } = spec.data;
  const hasTest = nTest > 0;
  const out: Record<string, unknown> = {
    nngp: nest(kernels.nngp, [n, n]),
    ntk: nest(kernels.ntk, [n, n]),
  };
  if (hasTest) {
    out.nngp_test = nest(kernels.extras[0].nngp, [nTest, n]);
    out.ntk_test = nest(kernels.extras[0].ntk, [nTest, n]);
  }
  const t = spec.train;
  if (t) {
    const minibatch = t.batchSize < n;
    if (minibatch && !nextBatch) throw new Error(`infinite.train: batch_size ${t.batchSize} < n = ${n} needs the minibatch schedule (this path trains full batches only)`);
    const predictor = new FunctionSpacePredictor({
      loss: spec.loss,
      ntk: kernels.ntk,
      n,
      c,
      y: spec.data.y,
      lr: t.lr,
      momentum: t.momentum,
      extras: hasTest ? [{ ntk: kernels.extras[0].ntk, m: nTest, y: spec.data.yTest }] : [],
    });
    const series: Record<string, unknown[]> = hasTest ? { outputs: [], outputs_test: [], loss: [], loss_test: [] } : { outputs: [], loss: [] };
    for (const checkpoint of t.checkpoints) {
      while (predictor.step < checkpoint) predictor.advance(minibatch ? nextBatch!() : undefined);
      series.outputs.push(nest(predictor.outputs, [n, c]));
      if (hasTest) series.outputs_test.push(nest(predictor.extraOutputs[0], [nTest, c]));
      const loss = predictor.loss();
      // A diverged run has no honest result: stop with the reason rather than write NaN.
      if (!Number.isFinite(loss)) throw new Error(`infinite.train: learning rate ${t.lr} diverged by step ${checkpoint} (the training loss became ${loss}); try a smaller train.lr`);
      series.loss.push(loss);
      if (hasTest) series.loss_test.push(predictor.extraLoss(0));
    }
    out.train = { ...series, steps: t.checkpoints.slice() };
  }
  return out;
}

/** The `infinite` key computed entirely in float64 (kernels by `infiniteKernelsRef`). */
export function infiniteReference(spec: ResolvedSpec, nextBatch?: NextBatch): Record<string, unknown> {
  const plan = infinitePlan(spec.model);
  const extras = spec.data.nTest > 0 ? [{ x: spec.data.xTest, n: spec.data.nTest }] : [];
  return infiniteResult(spec, infiniteKernelsRef(plan, { x: spec.data.x, n: spec.data.n }, extras), nextBatch);
}
