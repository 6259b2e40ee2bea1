/**
 * The runner's `infinite` key in the fixture format (README section 13), from the analytic
 * kernels: `nngp`, `ntk` (n x n), `nngp_test`, `ntk_test` (n_test x n) and, with a train section,
 * `train` = the infinite-width mean predictor trained in function space from h_0 = 0
 * (src/math/function-space.ts) recorded at `train.checkpoints`. Shared by the GPU runner
 * (src/api/infinite.ts, kernels from the GPU) and the float64 reference (`infiniteReference`);
 * it lives here, below both, because the reference may not import the api layer.
 */
import type { ResolvedSpec } from '../experiment/types';
import type { InfiniteResult } from '../experiment/result';
import { TangentError } from '../experiment/errors';
import { BatchSchedule } from '../math/training';
import { infinitePlan, infiniteProblem, type InfiniteKernels } from '../model/infinite-plan';
import { FunctionSpacePredictor } from '../math/function-space';
import { infiniteKernelsRef } from './infinite';
import { nest } from '../util/nested';

/** Supplies the training indices of the next minibatch (the session's batch schedule). */
export type NextBatch = () => ArrayLike<number>;

/**
 * Assemble the `infinite` object. Minibatch training (batch_size < n) takes its batches from
 * `nextBatch` when given (a session's own schedule), else from the spec's seeded `BatchSchedule`,
 * the one the actual and linearized models of the same spec use.
 */
export function infiniteResult(spec: ResolvedSpec, kernels: InfiniteKernels, nextBatch?: NextBatch): InfiniteResult {
  const problem = infiniteProblem(spec);
  if (problem) throw problem;
  const { n, nTest, c } = spec.data;
  const hasTest = nTest > 0;
  const out: InfiniteResult = {
    nngp: nest(kernels.nngp, [n, n]) as number[][],
    ntk: nest(kernels.ntk, [n, n]) as number[][],
  };
  if (hasTest) {
    out.nngp_test = nest(kernels.extras[0].nngp, [nTest, n]) as number[][];
    out.ntk_test = nest(kernels.extras[0].ntk, [nTest, n]) as number[][];
  }
  const t = spec.train;
  if (t) {
    const minibatch = t.batchSize < n;
    if (minibatch && !nextBatch) {
      const schedule = new BatchSchedule(n, t.batchSize, t.seed);
      nextBatch = () => schedule.next();
    }
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
    const train: NonNullable<InfiniteResult['train']> = hasTest
      ? { outputs: [], outputs_test: [], loss: [], loss_test: [], steps: t.checkpoints.slice() }
      : { outputs: [], loss: [], steps: t.checkpoints.slice() };
    for (const checkpoint of t.checkpoints) {
      while (predictor.step < checkpoint) predictor.advance(minibatch ? nextBatch!() : undefined);
      train.outputs.push(nest(predictor.outputs, [n, c]) as number[][]);
      if (hasTest) train.outputs_test!.push(nest(predictor.extraOutputs[0], [nTest, c]) as number[][]);
      const loss = predictor.loss();
      // A diverged run has no honest result: stop with the reason rather than write NaN.
      if (!Number.isFinite(loss)) throw new TangentError('divergence', `infinite.train: learning rate ${t.lr} diverged by step ${checkpoint} (the training loss became ${loss}); try a smaller train.lr`);
      train.loss.push(loss);
      if (hasTest) train.loss_test!.push(predictor.extraLoss(0)!); // the test extra has targets
    }
    out.train = train;
  }
  return out;
}

/** The `infinite` key computed entirely in float64 (kernels by `infiniteKernelsRef`). */
export function infiniteReference(spec: ResolvedSpec, nextBatch?: NextBatch): InfiniteResult {
  const plan = infinitePlan(spec.model);
  const extras = spec.data.nTest > 0 ? [{ x: spec.data.xTest, n: spec.data.nTest }] : [];
  return infiniteResult(spec, infiniteKernelsRef(plan, { x: spec.data.x, n: spec.data.n }, extras), nextBatch);
}
