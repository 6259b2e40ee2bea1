/**
 * A training session: actual and linearized models trained side by side, with the infinite-width
 * network beside them when the model has one (infinite.ts), emitting metric events
 * (src/api/session-types.ts). The orchestration here is engine-agnostic: it runs on the WebGPU
 * backend (`createSession`) or on the float64 CPU reference (`createCpuSession` in
 * cpu-session.ts).
 *
 * Events come every `metricsEvery` steps and at every checkpoint. Kernel probes (alignment,
 * spectrum, movement) run on at most `probeExamples` training examples every `kernelEvery`
 * events; 2-D grid maps every `gridEvery` events (grid.ts). What an event holds is assembled from
 * the backend's raw results by metrics.ts; learning times by learning.ts; difficulty groups by
 * groups.ts.
 */
import type { GpuContext } from '../../gpu/context';
import { planOf } from '../../model/layout';
import type { ResolvedSpec } from '../../experiment/types';
import { DivergenceError } from '../../experiment/errors';
import { lossDiverged } from '../../math/training';
import type { DynamicsBackend, Evaluation, ModelKind } from '../../dynamics/backend';
import { GpuBackend } from '../../dynamics/gpu-backend';
import type { CurvatureReport, MetricEvent, Session, SessionInfo, SessionOptions } from '../session-types';
import { classLabels, difficultyGroups, testClassLabels, type DifficultyGroups } from './groups';
import { curvatureReport } from './curvature-report';
import { GridMaps, makeGrid } from './grid';
import { InfiniteNetwork } from './infinite';
import { LearningTracker } from './learning';
import { evaluationOf, kernelMetrics, modelMetrics, rmsDiff, type SplitFacts } from './metrics';
import { resolveSessionOptions, type ResolvedSessionOptions } from './options';

/** Create a session on the GPU. */
export async function createSession(ctx: GpuContext, spec: ResolvedSpec, opts: SessionOptions = {}): Promise<Session> {
  const o = resolveSessionOptions(opts, spec);
  const backend = await GpuBackend.create(ctx, spec, {
    probeExamples: o.probeExamples,
    closedFormMax: o.closedForm ? 1024 : 0,
    linearized: o.linearized,
    trainingPath: o.trainingPath,
  });
  try {
    return await SessionImpl.create(backend, spec, o);
  } catch (e) {
    backend.dispose();
    throw e;
  }
}

/** RMS gap between two models' outputs on the training and the test set. */
function gapBetween(a: { train: Evaluation; test: Evaluation | null }, b: { train: Evaluation; test: Evaluation | null }): { train: number; test: number | null } {
  return { train: rmsDiff(a.train.outputs, b.train.outputs), test: a.test && b.test ? rmsDiff(a.test.outputs, b.test.outputs) : null };
}

/** The static facts of a session (sent once to its consumers). */
function sessionInfo(
  spec: ResolvedSpec,
  adapter: string,
  stableLr: number,
  groups: DifficultyGroups | null,
  infinite: { network: InfiniteNetwork | null; reason: string | null },
  trainingPath: SessionInfo['trainingPath'],
): SessionInfo {
  const plan = planOf(spec);
  const d = spec.data;
  const strided = (a: Float64Array, offset: number, n: number) => Float32Array.from({ length: n }, (_, i) => a[2 * i + offset]);
  return {
    adapter,
    P: plan.P,
    n: d.n,
    nTest: d.nTest,
    c: plan.c,
    layers: plan.paramLayers.map((l) => ({ index: l.layerIndex, type: l.kind, paramSize: l.size })),
    groups: groups ? groups.names.map((name, g) => ({ name, size: groups.sizes[g] })) : [],
    stableLr,
    ...(trainingPath ? { trainingPath } : {}),
    infinite: infinite.network ? { spectrum: infinite.network.spectrum } : null,
    infiniteReason: infinite.reason,
    points2d:
      plan.inputSize === 2
        ? {
            x: strided(d.x, 0, d.n),
            y: strided(d.x, 1, d.n),
            label: classLabels(spec) ?? new Int32Array(d.n),
            testX: strided(d.xTest, 0, d.nTest),
            testY: strided(d.xTest, 1, d.nTest),
            testLabel: testClassLabels(spec) ?? new Int32Array(d.nTest),
          }
        : null,
  };
}

export class SessionImpl implements Session {
  private emitted = -1;
  private events = 0;
  private engineSeconds = 0;
  private readonly facts: { c: number; train: SplitFacts; test: SplitFacts; groups: DifficultyGroups | null };
  private readonly learned: Record<ModelKind, LearningTracker | null>;
  private disposed = false;

  private constructor(
    private readonly backend: DynamicsBackend,
    private readonly spec: ResolvedSpec,
    private readonly opts: ResolvedSessionOptions,
    readonly info: SessionInfo,
    groups: DifficultyGroups | null,
    private readonly grid: GridMaps | null,
    /** Null from the start without one, or from the event at which it diverged. */
    private infinite: InfiniteNetwork | null,
  ) {
    const d = spec.data;
    const c = info.c;
    this.facts = {
      c,
      train: { classes: classLabels(spec), targets: { y: d.y, labels: d.labels }, n: d.n },
      test: { classes: testClassLabels(spec), targets: { y: d.yTest, labels: d.labelsTest }, n: d.nTest },
      groups,
    };
    const tracker = () => new LearningTracker(d.n, this.facts.train.classes, c);
    this.learned = { actual: tracker(), linearized: backend.hasLinearized ? tracker() : null };
  }

  static async create(backend: DynamicsBackend, spec: ResolvedSpec, opts: ResolvedSessionOptions): Promise<SessionImpl> {
    if (!spec.train) throw new Error('train: a session needs a train section in the spec');
    const plan = planOf(spec);
    const groups = difficultyGroups(spec, plan.inputSize);
    const grid = plan.inputSize === 2 && opts.gridEvery > 0 ? new GridMaps(makeGrid(spec, opts.gridSize), spec, plan.c) : null;
    const infinite = opts.infinite
      ? await InfiniteNetwork.create(backend, spec, { probeExamples: opts.probeExamples, grid: grid?.grid ?? null, topEigenvalues: opts.topEigenvalues })
      : { network: null, reason: 'not asked for (session option infinite: false)' };
    const info = sessionInfo(spec, backend.adapter, await backend.stableLr(), groups, infinite, backend.trainingPath);
    return new SessionImpl(backend, spec, opts, info, groups, grid, infinite.network);
  }

  get step(): number {
    return this.backend.step;
  }

  private get totalSteps(): number {
    return this.spec.train!.steps;
  }

  private isEventStep(t: number): boolean {
    return t % this.opts.metricsEvery === 0 || t === this.totalSteps || this.spec.train!.checkpoints.includes(t);
  }

  async advance(k: number, signal?: AbortSignal): Promise<MetricEvent[]> {
    this.checkAlive();
    const out: MetricEvent[] = [];
    if (this.emitted < this.step) out.push(await this.snapshot());
    const target = Math.min(this.step + Math.max(0, Math.floor(k)), this.totalSteps);
    while (this.step < target) {
      if (signal?.aborted) break;
      let next = this.step + 1;
      while (next < target && !this.isEventStep(next)) next++;
      const t0 = performance.now();
      const k = next - this.step;
      await this.backend.advance(k);
      this.infinite?.advance(k);
      this.engineSeconds += (performance.now() - t0) / 1000;
      if (this.isEventStep(this.step) || this.step === target) out.push(await this.snapshot());
    }
    return out;
  }

  async snapshot(): Promise<MetricEvent> {
    this.checkAlive();
    const t0 = performance.now();
    const snap = await this.backend.snapshot();
    const bad = snap.divergence;
    if (bad) throw new DivergenceError(bad.step, bad.model, this.info.stableLr, this.spec.train!.lr);
    const { facts, opts } = this;
    const step = this.step;
    const act = snap.actual;
    const lin = snap.linearized;
    this.checkLoss('actual', act.train.loss, step);
    if (lin) this.checkLoss('linearized', lin.train.loss, step);
    let inf = this.infinite?.evaluations() ?? null;
    let infiniteStopped: string | undefined;
    if (inf && this.infiniteDiverged(inf.train.loss)) {
      infiniteStopped = this.stopInfinite(step, inf.train.loss);
      inf = null;
    }
    const cf = opts.closedForm ? await this.backend.closedForm(step) : null;
    const kernelDue = opts.kernelEvery > 0 && this.events % opts.kernelEvery === 0;
    const probe = kernelDue ? await this.backend.probe(true) : null;
    const gridDue = opts.gridEvery > 0 && this.events % opts.gridEvery === 0;
    this.learned.actual!.record(step, act.train);
    if (lin) this.learned.linearized!.record(step, lin.train);
    const event: MetricEvent = {
      step,
      wallTime: this.engineSeconds,
      actual: modelMetrics(act.train, act.test, act.paramDistance, facts),
      linearized: lin ? modelMetrics(lin.train, lin.test, lin.paramDistance, facts) : null,
      closedForm: cf
        ? modelMetrics(evaluationOf(this.spec.loss, cf.train, facts.train, facts.c), cf.test ? evaluationOf(this.spec.loss, cf.test, facts.test, facts.c) : null, null, facts)
        : null,
      gap: lin ? gapBetween(act, lin) : null,
      infinite: inf ? modelMetrics(inf.train, inf.test, null, facts) : null,
      gapToInfinite: inf ? { actual: gapBetween(act, inf), linearized: lin ? gapBetween(lin, inf) : null } : null,
      ...(probe
        ? kernelMetrics(probe, Array.prototype.slice.call(act.train.outputs, 0, probe.n * facts.c), this.spec.loss, facts.c, opts.topEigenvalues, this.infinite)
        : { alignment: null, movement: null, kernel: null, spectrum: null }),
      grid: this.grid ? await this.grid.update(this.backend, gridDue, act.train.loss, lin?.train.loss ?? null, this.infinite?.gridOutputs() ?? null) : null,
      perExampleLoss: opts.perExampleLoss
        ? { actual: Float32Array.from(act.train.perExample), linearized: lin ? Float32Array.from(lin.train.perExample) : null }
        : null,
      ...(infiniteStopped ? { infiniteStopped } : {}),
    };
    this.events++;
    this.emitted = step;
    this.engineSeconds += (performance.now() - t0) / 1000;
    return event;
  }

  /**
   * Divergence seen in the losses (`lossDiverged`): a non-finite loss, or one grown more than a
   * millionfold over step 0, stops the session at the first event that shows it, long before the
   * parameters overflow (which the backend's watch catches between events).
   */
  private checkLoss(model: ModelKind, loss: number, step: number): void {
    const initial = (this.initialLoss[model] ??= loss);
    if (lossDiverged(loss, initial)) {
      const what = Number.isFinite(loss) ? `loss grew from ${initial.toPrecision(3)} to ${loss.toPrecision(3)}` : 'loss became non-finite';
      throw new DivergenceError(step, model, this.info.stableLr, this.spec.train!.lr, what);
    }
  }

  private readonly initialLoss: Partial<Record<ModelKind | 'infinite', number>> = {};

  /** The same divergence rule for the infinite-width network's training loss. */
  private infiniteDiverged(loss: number): boolean {
    return lossDiverged(loss, (this.initialLoss.infinite ??= loss));
  }

  /**
   * The infinite-width network has its own stability bound (Theta's, not the empirical NTK's),
   * which can lie below the finite networks': a learning rate between the two diverges in
   * function space alone. The session then goes on without it (a rate above Theta's bound is a
   * legitimate experiment for the finite networks, e.g. the catapult regime), and says why in
   * `info.infiniteReason` and in this event's `infiniteStopped`.
   */
  private stopInfinite(step: number, loss: number): string {
    const initial = this.initialLoss.infinite!;
    const grew = Number.isFinite(loss) ? `its training loss grew from ${initial.toPrecision(3)} to ${loss.toPrecision(3)}` : 'its training loss became non-finite';
    const reason =
      `it diverged at step ${step} (${grew}): learning rate ${this.spec.train!.lr} is above its stability bound ${this.infinite!.stableLr().toPrecision(3)}, ` +
      `2n/lambda_max of the analytic NTK (the network's own at theta_0 is ${this.info.stableLr.toPrecision(3)})`;
    this.infinite = null;
    this.info.infinite = null;
    this.info.infiniteReason = reason;
    return reason;
  }

  learningTimes(): { actual: Float64Array; linearized: Float64Array | null } {
    return { actual: this.learned.actual!.times(), linearized: this.learned.linearized?.times() ?? null };
  }

  curvature(): Promise<CurvatureReport> {
    this.checkAlive();
    return curvatureReport(this.backend, this.spec, this.step);
  }

  private checkAlive(): void {
    if (this.disposed) throw new Error('session disposed');
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.backend.dispose();
  }
}
