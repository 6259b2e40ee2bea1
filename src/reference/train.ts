/**
 * Float64 reference of README section 8 (alpha-scaled full-batch GD of the actual and the
 * linearized model), the per-checkpoint probes of sections 8, 9 and 11, and the closed-form
 * lazy prediction of section 12.
 *
 * Alpha scaling (Chizat et al.): `h = f` when alpha is exactly 1, otherwise
 * `h = alpha (f - f0)` with `f0 = f(theta0)` a constant. The objective is `L(h)/alpha^2`, so
 * `grad = (1/alpha) J^T dL/dh` in both cases.
 *
 * The linearized model `f_lin = f0 + J0 (theta - theta0)` is trained the way the GPU engine
 * does it: a JVP through the network frozen at theta0 for the outputs and a VJP at theta0
 * for the gradient; J0 is never formed on this path.
 */
import type { ModelPlan } from '../model/layout';
import type { LossKind, ResolvedTrain } from '../experiment/types';
import { matmulNT } from '../math/linalg';
import { forward, jacobian, jacobianSignals, jvp, vjp, type Forward } from './model';
import { initialOutputs, LazyClosedForm, linearizedOutputs as linearizedFromJvp, lossGradOutputs, mean, perExampleLosses, scaledOutputs, type Targets } from '../math/training';
import { alignments, centerNtk, kernelSimilarity, ntkFromSignals } from './geometry';
import { nest, list } from '../util/nested';
import type { TrainResult, TrajectoryResult } from '../experiment/result';

/** Everything training needs, independent of the spec format. */
export interface TrainProblem {
  plan: ModelPlan;
  loss: LossKind;
  theta0: Float64Array;
  x: Float64Array;
  n: number;
  xTest: Float64Array;
  nTest: number;
  targets: Targets;
  targetsTest: Targets;
  /** Alignment targets (n x c): mse targets or one-hot labels. */
  Y: Float64Array;
  train: ResolvedTrain;
}

/** Reject settings whose semantics the README does not define, rather than guess them. */
export function checkSupportedTrain(train: ResolvedTrain, n: number): void {
  const problems: string[] = [];
  if (train.optimizer !== 'gd') problems.push(`optimizer "${train.optimizer}" (only full-batch "gd")`);
  if (train.batchSize !== n) problems.push(`batch_size ${train.batchSize} < n = ${n}`);
  if (train.momentum !== 0) problems.push(`momentum ${train.momentum}`);
  if (train.weightDecay !== 0) problems.push(`weight_decay ${train.weightDecay}`);
  if (problems.length) throw new Error(`reference training supports full-batch GD only; unsupported: ${problems.join(', ')}`);
}


/**
 * Full-batch GD `theta <- theta - lr * grad(theta)` from theta0 for `steps` steps, calling
 * `onCheckpoint(t, theta_t)` after t steps for every t in `checkpoints` (0 = before any step).
 * `grad` returns the objective's gradient at theta.
 */
export function gradientDescent(
  theta0: Float64Array,
  lr: number,
  steps: number,
  checkpoints: readonly number[],
  grad: (theta: Float64Array) => Float64Array,
  onCheckpoint: (t: number, theta: Float64Array) => void,
): void {
  const wanted = new Set(checkpoints);
  const theta = Float64Array.from(theta0);
  if (wanted.has(0)) onCheckpoint(0, theta);
  for (let t = 1; t <= steps; t++) {
    const g = grad(theta);
    for (let p = 0; p < theta.length; p++) theta[p] -= lr * g[p];
    if (wanted.has(t)) onCheckpoint(t, theta);
  }
}

/** Gradient of `L(h(theta))/alpha^2` for the actual model (one forward + one VJP at theta). */
export function actualGradient(pb: TrainProblem, f0: Float64Array, theta: Float64Array): Float64Array {
  const { plan, loss, n, train } = pb;
  const fw = forward(plan, theta, pb.x, n);
  const h = scaledOutputs(fw.output, f0, train.alpha);
  const g = vjp(fw, lossGradOutputs(loss, h, pb.targets, n, plan.c));
  for (let p = 0; p < g.length; p++) g[p] /= train.alpha;
  return g;
}

/** Linearized outputs `h_lin` at `theta` from the frozen forward pass `fw0` (a JVP). */
export function linearizedOutputs(fw0: Forward, theta: Float64Array, theta0: Float64Array, alpha: number): Float64Array {
  const delta = new Float64Array(theta.length);
  for (let p = 0; p < delta.length; p++) delta[p] = theta[p] - theta0[p];
  return linearizedFromJvp(jvp(fw0, delta), fw0.output, alpha);
}

/** Gradient of `L(h_lin(theta))/alpha^2` for the linearized model (one JVP + one VJP at theta0). */
export function linearizedGradient(pb: TrainProblem, fw0: Forward, theta: Float64Array): Float64Array {
  const { plan, loss, n, train } = pb;
  const h = linearizedOutputs(fw0, theta, pb.theta0, train.alpha);
  const g = vjp(fw0, lossGradOutputs(loss, h, pb.targets, n, plan.c));
  for (let p = 0; p < g.length; p++) g[p] /= train.alpha;
  return g;
}

/** Per-checkpoint arrays of one trajectory, in README section 8's key order. */
export type TrajectoryRecord = TrajectoryResult;

function distance(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s);
}

/** Pre-activations of all relu parametrized layers, concatenated per example (README section 11). */
function reluSigns(fw: Forward): Uint8Array[] {
  return fw.plan.paramLayers.filter((l) => l.activation === 'relu').map((l) => {
    const s = fw.pre[l.paramIndex];
    const b = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) b[i] = s[i] > 0 ? 1 : 0;
    return b;
  });
}

/** Initial-state kernel quantities shared by both trajectories. */
export interface InitState {
  fw0: Forward;
  fw0Test: Forward | null;
  K0: Float64Array;
  K0c: Float64Array;
  al0: ReturnType<typeof alignments>;
  signs0: Uint8Array[];
}

/** Forward passes, NTK, centered NTK, alignments and relu pattern at theta0. */
export function initState(pb: TrainProblem): InitState {
  const { plan, n } = pb;
  const fw0 = forward(plan, pb.theta0, pb.x, n);
  const fw0Test = pb.nTest > 0 ? forward(plan, pb.theta0, pb.xTest, pb.nTest) : null;
  const { K: K0, Kl: Kl0 } = ntkFromSignals(fw0, jacobianSignals(fw0));
  return { fw0, fw0Test, K0, K0c: centerNtk(K0, n, plan.c), al0: alignments(K0, Kl0, pb.Y, n, plan.c), signs0: reluSigns(fw0) };
}

/** Collects per-checkpoint values into the result arrays. */
class Recorder {
  readonly cols = new Map<string, unknown[]>();
  push(key: string, v: unknown): void {
    if (!this.cols.has(key)) this.cols.set(key, []);
    this.cols.get(key)!.push(v);
  }
  toObject(): TrajectoryRecord {
    return Object.fromEntries(this.cols) as unknown as TrajectoryRecord;
  }
}

function recordOutputs(rec: Recorder, pb: TrainProblem, h: Float64Array, hTest: Float64Array | null, theta: Float64Array): void {
  const { loss, n, nTest } = pb;
  const c = pb.plan.c;
  const ell = perExampleLosses(loss, h, pb.targets, n, c);
  rec.push('outputs', nest(h, [n, c]));
  if (hTest) rec.push('outputs_test', nest(hTest, [nTest, c]));
  rec.push('loss', mean(ell));
  if (hTest) {
    const ellT = perExampleLosses(loss, hTest, pb.targetsTest, nTest, c);
    rec.push('loss_test', mean(ellT));
  }
  rec.push('per_example_loss', list(ell));
  rec.push('param_distance', distance(theta, pb.theta0));
}

function recordAlignments(rec: Recorder, al: ReturnType<typeof alignments>): void {
  rec.push('alignment_uncentered', al.uncentered);
  rec.push('alignment_centered', al.centered);
  rec.push('alignment_per_layer_uncentered', al.per_layer_uncentered);
  rec.push('alignment_per_layer_centered', al.per_layer_centered);
  rec.push('alignment_ntk_centered', al.ntk_centered);
  rec.push('alignment_per_layer_ntk_centered', al.per_layer_ntk_centered);
}

const hasRelu = (plan: ModelPlan): boolean => plan.paramLayers.some((l) => l.activation === 'relu');

/** The actual model's trajectory with all section 8/9/11 probes at each checkpoint. */
export function actualTrajectory(pb: TrainProblem, init: InitState = initState(pb)): TrajectoryRecord {
  const { plan, n, train } = pb;
  const c = plan.c;
  const f0 = init.fw0.output;
  const f0Test = init.fw0Test?.output ?? null;
  const rec = new Recorder();
  gradientDescent(pb.theta0, train.lr, train.steps, train.checkpoints, (th) => actualGradient(pb, f0, th), (_t, theta) => {
    const fw = forward(plan, theta, pb.x, n);
    const h = scaledOutputs(fw.output, f0, train.alpha);
    const hTest = f0Test ? scaledOutputs(forward(plan, theta, pb.xTest, pb.nTest).output, f0Test, train.alpha) : null;
    recordOutputs(rec, pb, h, hTest, theta);
    // Current tangent kernel of f (alignment is invariant to the alpha scale).
    const { K, Kl } = ntkFromSignals(fw, jacobianSignals(fw));
    recordAlignments(rec, alignments(K, Kl, pb.Y, n, c));
    rec.push('ntk_similarity_to_init', kernelSimilarity(K, init.K0));
    rec.push('ntk_similarity_to_init_centered', kernelSimilarity(centerNtk(K, n, c), init.K0c));
    if (hasRelu(plan)) {
      const signs = reluSigns(fw);
      let same = 0;
      let total = 0;
      signs.forEach((b, li) => {
        const b0 = init.signs0[li];
        for (let i = 0; i < b.length; i++) if (b[i] === b0[i]) same++;
        total += b.length;
      });
      rec.push('relu_sign_similarity', same / total);
    }
  });
  return rec.toObject();
}

/**
 * The linearized model's trajectory (JVP/VJP at theta0). Its kernel is J0 at every step, so
 * the alignments are the t = 0 values and the movement probes are exactly 1.
 */
export function linearizedTrajectory(pb: TrainProblem, init: InitState = initState(pb)): TrajectoryRecord {
  const { plan, train } = pb;
  const rec = new Recorder();
  gradientDescent(pb.theta0, train.lr, train.steps, train.checkpoints, (th) => linearizedGradient(pb, init.fw0, th), (_t, theta) => {
    const h = linearizedOutputs(init.fw0, theta, pb.theta0, train.alpha);
    const hTest = init.fw0Test ? linearizedOutputs(init.fw0Test, theta, pb.theta0, train.alpha) : null;
    recordOutputs(rec, pb, h, hTest, theta);
    recordAlignments(rec, init.al0);
    rec.push('ntk_similarity_to_init', 1.0);
    rec.push('ntk_similarity_to_init_centered', 1.0);
    if (hasRelu(plan)) rec.push('relu_sign_similarity', 1.0);
  });
  return rec.toObject();
}

/**
 * Closed-form lazy prediction (README section 12, mse only) at every checkpoint, through
 * `LazyClosedForm` (src/math/training.ts): test outputs `h0_test + K0t c_t`.
 * `K0t` is `J0(X_test) J0(X)^T` (n_test*c x n*c); pass `null` when there is no test set.
 */
export function closedFormPrediction(
  K0: Float64Array,
  K0t: Float64Array | null,
  h0: Float64Array,
  h0Test: Float64Array | null,
  Y: Float64Array,
  n: number,
  nTest: number,
  c: number,
  lr: number,
  checkpoints: readonly number[],
): NonNullable<TrainResult['closed_form']> {
  const cf = new LazyClosedForm(K0, h0, Y, n, lr);
  const outputs = checkpoints.map((t) => nest(cf.outputs(t), [n, c]) as number[][]);
  if (!K0t || !h0Test) return { outputs };
  const N = n * c;
  const outputsTest = checkpoints.map((t) => {
    const out = Float64Array.from(h0Test);
    const coef = cf.testCoefficients(t);
    for (let a = 0; a < nTest * c; a++) {
      let s = 0;
      for (let j = 0; j < N; j++) s += K0t[a * N + j] * coef[j];
      out[a] += s;
    }
    return nest(out, [nTest, c]) as number[][];
  });
  return { outputs, outputs_test: outputsTest };
}

/** `train` result object (README section 8 and 12): actual, linearized, checkpoints, closed_form (mse). */
export function trainResults(pb: TrainProblem): TrainResult {
  checkSupportedTrain(pb.train, pb.n);
  const init = initState(pb);
  const result: TrainResult = {
    actual: actualTrajectory(pb, init),
    linearized: linearizedTrajectory(pb, init),
    checkpoints: pb.train.checkpoints.slice(),
  };
  if (pb.loss === 'mse') {
    const { plan, n, nTest, train } = pb;
    const c = plan.c;
    let K0t: Float64Array | null = null;
    if (init.fw0Test) {
      const J0 = jacobian(init.fw0);
      const J0t = jacobian(init.fw0Test);
      K0t = matmulNT(J0t, J0, nTest * c, plan.P, n * c);
    }
    const h0 = initialOutputs(init.fw0.output, train.alpha);
    const h0Test = init.fw0Test ? initialOutputs(init.fw0Test.output, train.alpha) : null;
    result.closed_form = closedFormPrediction(init.K0, K0t, h0, h0Test, pb.targets.y, n, nTest, c, train.lr, train.checkpoints);
  }
  return result;
}
