/**
 * The infinite-width network of a session (issue: "a third model beside actual and linearized"):
 * the mean predictor of the model's infinite-width limit (fixture README section 13) trained in
 * function space by `FunctionSpacePredictor` with the session's learning rate, momentum and the
 * very batches of the other two models (a `BatchSchedule` from the same seed, stepped in lockstep),
 * from h = 0 on every input. Its kernels come from the session's engine (WGSL or the float64 twin)
 * once, at creation: Theta on the training inputs and against the test inputs and the 2-D grid.
 *
 * It exists when the spec has an infinite-width limit the runner can follow
 * (`infiniteProblem` null: NTK parameterization, a linear last layer, gd or sgd without weight
 * decay) and its kernels are affordable at session creation (`infiniteWork` within
 * `INFINITE_WORK_BUDGET`, and no device limit exceeded); otherwise `reason` says why not, and the
 * session trains the other two models as usual.
 */
import type { ResolvedSpec } from '../../experiment/types';
import { LimitError } from '../../experiment/errors';
import { infinitePlan, infiniteProblem, positionsAfter, type InfinitePlan, type InputSet } from '../../model/infinite-plan';
import { FunctionSpacePredictor } from '../../math/function-space';
import { ntkRelativeDistance } from '../../math/kernel-distance';
import { eigvalsSym } from '../../math/linalg';
import { BatchSchedule, mean, metricFactors, perExampleLosses, stableLrOf, topEigenvalue, whitenKernel, type Targets } from '../../math/training';
import type { DynamicsBackend, Evaluation } from '../../dynamics/backend';
import type { Grid } from './grid';

/**
 * Cost of the analytic kernels a session needs, in map entries: every example pair (the self pair
 * of each training, test and grid input, the training pairs i < j, and every (extra, training)
 * pair) times the entries of the P x P maps its recursion passes through: C P^2 for the input
 * map, P_i^2 after each op, plus a per-op constant (25) for the work that does not scale with the
 * maps (activations, allocations). It counts full maps, the float64 twin's layout, although the
 * GPU computes only the band later layers read (`neededBoxes`), so it is an upper bound that does
 * not depend on the engine. A CNN's (n H W)^2 maps make it grow with the fourth power of the image
 * side; an MLP's maps are 1 x 1.
 *
 * Measured 2026-12-02 on one core of the shared 2-core dev machine: the float64 twin takes
 * 7-21 ns per entry (MLPs 7-10, 8x8 and 14x14 relu CNNs with pooling 19-21), the WGSL kernels on
 * lavapipe 3-13 ns.
 */
export function infiniteWork(plan: InfinitePlan, n: number, extraRows: number): number {
  const p0 = plan.h * plan.w;
  let perPair = plan.channels * p0 * p0;
  plan.ops.forEach((_, i) => {
    const p = positionsAfter(plan, i);
    perPair += p * p + 25;
  });
  const pairs = n + extraRows + (n * (n - 1)) / 2 + extraRows * n;
  return pairs * perPair;
}

/**
 * Largest `infiniteWork` a session computes at creation: about 4 s of the float64 twin on one
 * core (measured above), so a live session (the lab re-creates its runs after every edit) never
 * waits long for its third model. An MLP on the lab's largest data (2,000 training and 2,000 test
 * points and a 32 x 32 grid) needs ~6e8 and is refused; the default 8 x 8 digits CNN with 200
 * training and 100 test images needs 3.4e8 and is refused; with 100 training images 1.3e8. Beyond
 * it the network is left out with the reason (the runner's `infinite` key has no such budget).
 */
export const INFINITE_WORK_BUDGET = 2e8;

const sci = (v: number) => v.toExponential(1).replace('e+', 'e');

export class InfiniteNetwork {
  private constructor(
    private readonly predictor: FunctionSpacePredictor,
    private readonly schedule: BatchSchedule | null,
    /** Theta on the first `probeN` training examples (probeN x probeN). */
    private readonly probeTheta: Float64Array,
    private readonly probeN: number,
    private readonly c: number,
    private readonly split: { test: number | null; grid: number | null },
    private readonly loss: ResolvedSpec['loss'],
    private readonly testTargets: Targets,
    /** Eigenvalues of Theta (x) I_c on the probe examples, descending. */
    readonly spectrum: number[],
    /** Theta on the n training examples (n x n). */
    private readonly theta: { ntk: Float64Array; n: number },
  ) {}

  /** The session's infinite-width network, or the reason it has none. */
  static async create(
    backend: DynamicsBackend,
    spec: ResolvedSpec,
    opts: { probeExamples: number; grid: Grid | null; topEigenvalues: number; workBudget?: number },
  ): Promise<{ network: InfiniteNetwork | null; reason: string | null }> {
    const problem = infiniteProblem(spec);
    if (problem) return { network: null, reason: problem.message };
    const t = spec.train!;
    const d = spec.data;
    const c = d.c;
    const extras: InputSet[] = [];
    const split = { test: null as number | null, grid: null as number | null };
    if (d.nTest > 0) {
      split.test = extras.length;
      extras.push({ x: d.xTest, n: d.nTest });
    }
    if (opts.grid) {
      split.grid = extras.length;
      extras.push({ x: Float64Array.from(opts.grid.points), n: opts.grid.size * opts.grid.size });
    }
    // Too costly for a live session, or beyond a device limit: the session runs without its third
    // model and says why (a hang or a failed session would cost the other two models too).
    const rows = extras.reduce((a, e) => a + e.n, 0);
    const work = infiniteWork(infinitePlan(spec.model), d.n, rows);
    const budget = opts.workBudget ?? INFINITE_WORK_BUDGET;
    if (work > budget) {
      return {
        network: null,
        reason: `its kernels are too costly to compute live: ${sci(work)} map entries for ${d.n} training and ${rows} other inputs, above the session's budget of ${sci(budget)} (use fewer examples or smaller images)`,
      };
    }
    let kernels: Awaited<ReturnType<DynamicsBackend['infiniteKernels']>>;
    try {
      kernels = await backend.infiniteKernels(extras);
    } catch (e) {
      if (e instanceof LimitError) return { network: null, reason: `its kernels exceed a device limit: ${e.message}` };
      throw e;
    }
    const predictor = new FunctionSpacePredictor({
      loss: spec.loss,
      ntk: kernels.ntk,
      n: d.n,
      c,
      y: d.y,
      lr: t.lr,
      momentum: t.momentum,
      extras: kernels.extras.map((k, e) => ({ ntk: k.ntk, m: extras[e].n, y: e === split.test ? d.yTest : undefined })),
    });
    const m = Math.min(d.n, opts.probeExamples);
    const probeTheta = new Float64Array(m * m);
    for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) probeTheta[i * m + j] = kernels.ntk[i * d.n + j];
    // Theta (x) I_c has Theta's eigenvalues, each c times.
    const eig = Array.from(eigvalsSym(probeTheta, m)).sort((a, b) => b - a);
    const spectrum = eig.flatMap((l) => Array<number>(c).fill(l)).slice(0, opts.topEigenvalues);
    const schedule = t.batchSize < d.n ? new BatchSchedule(d.n, t.batchSize, t.seed) : null;
    const network = new InfiniteNetwork(predictor, schedule, probeTheta, m, c, split, spec.loss, { y: d.yTest, labels: d.labelsTest }, spectrum, { ntk: kernels.ntk, n: d.n });
    return { network, reason: null };
  }

  get step(): number {
    return this.predictor.step;
  }

  /**
   * GD's stability bound for this network, 2n / lambda_max of Theta (x) M_0, M_0 the loss's metric
   * at h = 0 where it starts (the same for every example: I for mse, the softmax Hessian at
   * uniform outputs for cross-entropy), so lambda_max = lambda_max(Theta) lambda_max(M_0).
   * Computed when asked (a divergence message), not at creation: O(n^2) per power iteration.
   */
  stableLr(): number {
    const identity = Float64Array.from({ length: this.c * this.c }, (_, i) => (i % (this.c + 1) === 0 ? 1 : 0));
    const M0 = whitenKernel(identity, 1, this.c, metricFactors(this.loss, new Float64Array(this.c), 1, this.c));
    return stableLrOf(topEigenvalue(this.theta.ntk, this.theta.n) * topEigenvalue(M0, this.c), this.theta.n);
  }

  /** Take k steps on the next k batches of the shared schedule. */
  advance(k: number): void {
    for (let s = 0; s < k; s++) this.predictor.advance(this.schedule ? this.schedule.next() : undefined);
  }

  /** Outputs and losses on the training and test sets. */
  evaluations(): { train: Evaluation; test: Evaluation | null } {
    const perExample = this.predictor.perExampleLoss();
    const train = { outputs: this.predictor.outputs, perExample, loss: mean(perExample) };
    if (this.split.test === null) return { train, test: null };
    const outputs = this.predictor.extraOutputs[this.split.test];
    const n = outputs.length / this.c;
    const perTest = perExampleLosses(this.loss, outputs, this.testTargets, n, this.c);
    return { train, test: { outputs, perExample: perTest, loss: mean(perTest) } };
  }

  /** Outputs on the session's 2-D grid (null without a grid). */
  gridOutputs(): Float64Array | null {
    return this.split.grid === null ? null : this.predictor.extraOutputs[this.split.grid];
  }

  /** ||K - Theta (x) I_c||_F / ||Theta (x) I_c||_F for an empirical full NTK on the probe examples. */
  distance(K: Float64Array, n: number): number {
    if (n !== this.probeN) throw new Error(`infinite-width distance: the probe kernel has ${n} examples, Theta ${this.probeN}`);
    return ntkRelativeDistance(K, this.probeTheta, n, this.c);
  }
}
