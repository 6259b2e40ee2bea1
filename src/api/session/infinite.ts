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
 * decay); otherwise `reason` says why not.
 */
import type { ResolvedSpec } from '../../experiment/types';
import { infiniteProblem, type InputSet } from '../../model/infinite-plan';
import { FunctionSpacePredictor } from '../../math/function-space';
import { ntkRelativeDistance } from '../../math/kernel-distance';
import { eigvalsSym } from '../../math/linalg';
import { BatchSchedule, mean, perExampleLosses, type Targets } from '../../math/training';
import type { DynamicsBackend, Evaluation } from '../../dynamics/backend';
import type { Grid } from './grid';

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
  ) {}

  /** The session's infinite-width network, or the reason it has none. */
  static async create(
    backend: DynamicsBackend,
    spec: ResolvedSpec,
    opts: { probeExamples: number; grid: Grid | null; topEigenvalues: number },
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
    const kernels = await backend.infiniteKernels(extras);
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
    const network = new InfiniteNetwork(predictor, schedule, probeTheta, m, c, split, spec.loss, { y: d.yTest, labels: d.labelsTest }, spectrum);
    return { network, reason: null };
  }

  get step(): number {
    return this.predictor.step;
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
