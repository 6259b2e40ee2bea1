/**
 * A training session: actual and linearized models trained side by side, emitting metric events
 * (src/engine/session-types.ts). The orchestration here is engine-agnostic: it runs on the WebGPU
 * backend (`createSession`) or on the float64 CPU reference (`createCpuSession` in
 * cpu-session.ts) for browsers without WebGPU.
 *
 * Events come every `metricsEvery` steps and at every checkpoint. Kernel probes (alignment,
 * spectrum, movement) run on at most `probeExamples` training examples every `kernelEvery`
 * events; 2-D grid maps every `gridEvery` events. Lazy vs Hasty's Delta-loss maps compare the two
 * models at matched mean training loss: each model's per-point grid loss is recorded when its
 * training loss first reaches a milestone (0.7, 0.55, 0.4 of the initial loss, which for the
 * logistic loss at 0.69 are the paper's 0.5 / 0.4 / 0.3), and the map is emitted once both have.
 */
import type { GpuContext } from '../gpu/context';
import { planOf } from '../spec/validate';
import type { ResolvedSpec } from '../spec/types';
import { DATASETS } from '../data/datasets';
import { spectrumStats } from '../geometry/spectrum';
import {
  DivergenceError,
  type CurvatureReport,
  type GridMetrics,
  type MetricEvent,
  type ModelMetrics,
  type Session,
  type SessionInfo,
  type SessionOptions,
} from '../engine/session-types';
import type { DynamicsBackend, Evaluation, ModelKind } from './backend';
import { GpuBackend } from './gpu-backend';
import { classLabels, difficultyGroups, groupMeans, targetClasses, type DifficultyGroups } from './groups';
import { curvatureReport } from './curvature-report';

const MILESTONES = [0.7, 0.55, 0.4];

export type ResolvedSessionOptions = Required<SessionOptions>;

export function resolveSessionOptions(opts: SessionOptions = {}): ResolvedSessionOptions {
  const pos = (v: number | undefined, def: number, name: string, min = 1) => {
    const x = v ?? def;
    if (!Number.isInteger(x) || x < min) throw new Error(`session option ${name}: expected an integer >= ${min}, found ${x}`);
    return x;
  };
  return {
    metricsEvery: pos(opts.metricsEvery, 10, 'metricsEvery'),
    kernelEvery: pos(opts.kernelEvery, 1, 'kernelEvery', 0),
    gridEvery: pos(opts.gridEvery, 5, 'gridEvery', 0),
    gridSize: pos(opts.gridSize, 40, 'gridSize', 2),
    topEigenvalues: pos(opts.topEigenvalues, 50, 'topEigenvalues'),
    linearized: opts.linearized ?? true,
    closedForm: opts.closedForm ?? true,
    perExampleLoss: opts.perExampleLoss ?? false,
    probeExamples: pos(opts.probeExamples, 100, 'probeExamples'),
    trainingPath: opts.trainingPath ?? 'auto',
  };
}

/** Create a session on the GPU. */
export async function createSession(ctx: GpuContext, spec: ResolvedSpec, opts: SessionOptions = {}): Promise<Session> {
  const o = resolveSessionOptions(opts);
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

interface Grid {
  size: number;
  extent: GridMetrics['extent'];
  points: Float32Array;
  /** True class of every grid point (dataset rule, else nearest training label); null for regression. */
  labels: Int32Array | null;
}

export class SessionImpl implements Session {
  private emitted = -1;
  private events = 0;
  private engineSeconds = 0;
  private readonly classes: Int32Array | null;
  private readonly classesTest: Int32Array | null;
  private readonly milestones: { value: number; actual: Float32Array | null; linearized: Float32Array | null }[] = [];
  private lastDelta: { map: Float32Array; milestone: number } | null = null;
  private readonly learned: Record<ModelKind, LearningTracker | null>;
  private disposed = false;

  private constructor(
    private readonly backend: DynamicsBackend,
    private readonly spec: ResolvedSpec,
    private readonly opts: ResolvedSessionOptions,
    readonly info: SessionInfo,
    private readonly groups: DifficultyGroups | null,
    private readonly grid: Grid | null,
  ) {
    this.classes = classLabels(spec);
    const d = spec.data;
    this.classesTest = d.labelsTest ?? (d.nTest > 0 ? targetClasses(d.yTest, d.nTest, d.c) : null);
    this.learned = { actual: new LearningTracker(d.n), linearized: backend.hasLinearized ? new LearningTracker(d.n) : null };
  }

  static async create(backend: DynamicsBackend, spec: ResolvedSpec, opts: ResolvedSessionOptions): Promise<SessionImpl> {
    if (!spec.train) throw new Error('train: a session needs a train section in the spec');
    const plan = planOf(spec);
    const groups = difficultyGroups(spec, plan.inputSize);
    const grid = plan.inputSize === 2 && opts.gridEvery > 0 ? makeGrid(spec, opts.gridSize) : null;
    const d = spec.data;
    const labels = classLabels(spec);
    const stableLr = await backend.stableLr();
    const info: SessionInfo = {
      adapter: backend.adapter,
      P: plan.P,
      n: d.n,
      nTest: d.nTest,
      c: plan.c,
      layers: plan.paramLayers.map((l) => ({ index: l.layerIndex, type: l.kind, paramSize: l.size })),
      groups: groups ? groups.names.map((name, g) => ({ name, size: groups.sizes[g] })) : [],
      stableLr,
      ...(backend.trainingPath ? { trainingPath: backend.trainingPath } : {}),
      points2d:
        plan.inputSize === 2
          ? {
              x: strided(d.x, 0, d.n),
              y: strided(d.x, 1, d.n),
              label: labels ?? new Int32Array(d.n),
              testX: strided(d.xTest, 0, d.nTest),
              testY: strided(d.xTest, 1, d.nTest),
              testLabel: d.labelsTest ?? (d.nTest > 0 ? (targetClasses(d.yTest, d.nTest, d.c) ?? new Int32Array(d.nTest)) : new Int32Array(0)),
            }
          : null,
    };
    return new SessionImpl(backend, spec, opts, info, groups, grid);
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
      await this.backend.advance(next - this.step);
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
    const step = this.step;
    const actualTrain = snap.evals['actual:train'];
    const actualTest = snap.evals['actual:test'] ?? null;
    const linTrain = snap.evals['linearized:train'] ?? null;
    const linTest = snap.evals['linearized:test'] ?? null;
    const actual = this.modelMetrics(actualTrain, actualTest, snap.distance.actual!);
    const linearized = linTrain ? this.modelMetrics(linTrain, linTest, snap.distance.linearized!) : null;
    const cf = this.opts.closedForm ? await this.backend.closedForm(step) : null;
    const closedForm = cf ? this.modelMetrics(this.evalFromOutputs(cf.train, 'train'), cf.test ? this.evalFromOutputs(cf.test, 'test') : null, null) : null;
    const gap = linTrain
      ? { train: rmsDiff(actualTrain.outputs, linTrain.outputs), test: actualTest && linTest ? rmsDiff(actualTest.outputs, linTest.outputs) : null }
      : null;

    const kernelDue = this.opts.kernelEvery > 0 && this.events % this.opts.kernelEvery === 0;
    let alignment: MetricEvent['alignment'] = null;
    let spectrum: MetricEvent['spectrum'] = null;
    let movement: MetricEvent['movement'] = null;
    let kernel: MetricEvent['kernel'] = null;
    if (kernelDue) {
      const pr = await this.backend.probe(true);
      alignment = pr.probe.alignment;
      movement = {
        ntkSimilarityToInit: pr.probe.ntkSimilarityToInit,
        ntkSimilarityToInitCentered: pr.probe.ntkSimilarityToInitCentered,
        reluSignSimilarity: pr.probe.reluSignSimilarity,
      };
      if (pr.kernel) {
        const c = this.info.c;
        const N = pr.n * c;
        const traced = new Float32Array(pr.n * pr.n);
        for (let i = 0; i < pr.n; i++)
          for (let j = 0; j < pr.n; j++) {
            let s = 0;
            for (let k = 0; k < c; k++) s += pr.kernel[(i * c + k) * N + j * c + k];
            traced[i * pr.n + j] = s;
          }
        kernel = { n: pr.n, traced };
      }
      if (pr.eigenvalues) {
        const stats = spectrumStats(pr.eigenvalues);
        const lmax = stats.eigenvalues[0] ?? 0;
        spectrum = {
          eigenvalues: stats.eigenvalues.slice(0, this.opts.topEigenvalues),
          effectiveRank: stats.effective_rank,
          traceRatio: stats.trace_ratio,
          stableLr: lmax > 0 ? (2 * pr.n) / lmax : Infinity,
        };
      }
    }
    const grid = await this.gridMetrics(actualTrain.loss, linTrain?.loss ?? null);
    this.learned.actual!.record(step, this.learnedFlags(actualTrain));
    if (linTrain) this.learned.linearized!.record(step, this.learnedFlags(linTrain));
    const event: MetricEvent = {
      step,
      wallTime: this.engineSeconds,
      actual,
      linearized,
      closedForm,
      gap,
      alignment,
      spectrum,
      movement,
      grid,
      kernel,
      perExampleLoss: this.opts.perExampleLoss
        ? { actual: Float32Array.from(actualTrain.perExample), linearized: linTrain ? Float32Array.from(linTrain.perExample) : null }
        : null,
    };
    this.events++;
    this.emitted = step;
    this.engineSeconds += (performance.now() - t0) / 1000;
    return event;
  }

  /**
   * Per-example "learned" flags: correctly classified (classification), or per-example loss at
   * most half its initial value (regression).
   */
  private learnedFlags(e: Evaluation): Uint8Array {
    const n = this.spec.data.n;
    const c = this.info.c;
    const out = new Uint8Array(n);
    if (this.classes) {
      for (let i = 0; i < n; i++) {
        let pred: number;
        if (c === 1) pred = e.outputs[i] > 0 ? 1 : 0;
        else {
          pred = 0;
          for (let k = 1; k < c; k++) if (e.outputs[i * c + k] > e.outputs[i * c + pred]) pred = k;
        }
        out[i] = pred === this.classes[i] ? 1 : 0;
      }
      return out;
    }
    if (!this.initialPerExample) this.initialPerExample = Float64Array.from(e.perExample);
    for (let i = 0; i < n; i++) out[i] = e.perExample[i] <= 0.5 * this.initialPerExample[i] ? 1 : 0;
    return out;
  }

  private initialPerExample: Float64Array | null = null;

  /**
   * Per-example learning time (Lazy vs Hasty's third notion of difficulty): the first recorded
   * step from which the example stays learned at every later event (NaN if it is not learned
   * at the last event). Only as fine as `metricsEvery`.
   */
  learningTimes(): { actual: Float64Array; linearized: Float64Array | null } {
    return { actual: this.learned.actual!.times(), linearized: this.learned.linearized?.times() ?? null };
  }

  private modelMetrics(train: Evaluation, test: Evaluation | null, paramDistance: number | null): ModelMetrics {
    const c = this.info.c;
    return {
      loss: train.loss,
      lossTest: test ? test.loss : null,
      accuracy: accuracy(train.outputs, this.classes, c),
      accuracyTest: test ? accuracy(test.outputs, this.classesTest, c) : null,
      paramDistance,
      groupLoss: this.groups ? groupMeans(train.perExample, this.groups) : null,
    };
  }

  /** Losses of outputs computed elsewhere (the closed form), in f64. */
  private evalFromOutputs(h: Float64Array, split: 'train' | 'test'): Evaluation {
    const d = this.spec.data;
    const n = split === 'train' ? d.n : d.nTest;
    const y = split === 'train' ? d.y : d.yTest;
    const c = this.info.c;
    const perExample = new Float64Array(n);
    let loss = 0;
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let k = 0; k < c; k++) s += (h[i * c + k] - y[i * c + k]) ** 2;
      perExample[i] = 0.5 * s;
      loss += perExample[i];
    }
    return { outputs: h, perExample, loss: loss / n };
  }

  private async gridMetrics(lossActual: number, lossLin: number | null): Promise<GridMetrics | null> {
    const g = this.grid;
    if (!g) return null;
    const rows = g.size * g.size;
    const due = this.opts.gridEvery > 0 && this.events % this.opts.gridEvery === 0;
    if (this.milestones.length === 0 && g.labels) {
      for (const f of MILESTONES) this.milestones.push({ value: f * lossActual, actual: null, linearized: null });
    }
    // Milestone crossings need the per-point losses of the model that crossed.
    const crossing = (kind: ModelKind, loss: number | null) => loss !== null && this.milestones.some((m) => m[kind] === null && loss <= m.value);
    const needActual = due || crossing('actual', lossActual);
    const needLin = this.backend.hasLinearized && (due || crossing('linearized', lossLin));
    if (!needActual && !needLin) return null;
    const outA = needActual ? await this.backend.outputsAt('actual', g.points, rows) : null;
    const outL = needLin ? await this.backend.outputsAt('linearized', g.points, rows) : null;
    if (g.labels) {
      for (const m of this.milestones) {
        if (outA && m.actual === null && lossActual <= m.value) m.actual = this.pointLosses(outA, g.labels);
        if (outL && m.linearized === null && lossLin !== null && lossLin <= m.value) m.linearized = this.pointLosses(outL, g.labels);
        if (m.actual && m.linearized && (!this.lastDelta || this.lastDelta.milestone > m.value)) {
          this.lastDelta = { map: m.actual.map((v, i) => v - m.linearized![i]), milestone: m.value };
        }
      }
    }
    if (!due) return null;
    return {
      size: g.size,
      extent: g.extent,
      actual: this.mapValues(outA!),
      linearized: outL ? this.mapValues(outL) : null,
      deltaLoss: this.lastDelta ? this.lastDelta.map : null,
      milestone: this.lastDelta ? this.lastDelta.milestone : null,
    };
  }

  /** Per-point losses against the grid's true labels, encoded like the training targets. */
  private pointLosses(h: Float32Array, labels: Int32Array): Float32Array {
    const c = this.info.c;
    const out = new Float32Array(labels.length);
    for (let i = 0; i < labels.length; i++) {
      if (this.spec.loss === 'cross_entropy') {
        let mx = -Infinity;
        for (let k = 0; k < c; k++) mx = Math.max(mx, h[i * c + k]);
        let z = 0;
        for (let k = 0; k < c; k++) z += Math.exp(h[i * c + k] - mx);
        out[i] = Math.log(z) - (h[i * c + labels[i]] - mx);
      } else {
        let s = 0;
        for (let k = 0; k < c; k++) {
          const target = c === 1 ? (labels[i] === 1 ? 1 : -1) : k === labels[i] ? 1 : 0;
          s += (h[i * c + k] - target) ** 2;
        }
        out[i] = 0.5 * s;
      }
    }
    return out;
  }

  /** One value per grid point: P(class 1) for two classes, the output for one, else the argmax class. */
  private mapValues(h: Float32Array): Float32Array {
    const c = this.info.c;
    const rows = h.length / c;
    const out = new Float32Array(rows);
    for (let i = 0; i < rows; i++) {
      if (c === 1) out[i] = h[i];
      else if (c === 2 && this.spec.loss === 'cross_entropy') out[i] = 1 / (1 + Math.exp(h[i * 2] - h[i * 2 + 1]));
      else {
        let best = 0;
        for (let k = 1; k < c; k++) if (h[i * c + k] > h[i * c + best]) best = k;
        out[i] = best;
      }
    }
    return out;
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

/** Tracks, per example, the step since which it has been learned without interruption. */
class LearningTracker {
  private readonly since: Float64Array;

  constructor(n: number) {
    this.since = new Float64Array(n).fill(NaN);
  }

  record(step: number, learned: Uint8Array): void {
    for (let i = 0; i < learned.length; i++) {
      if (!learned[i]) this.since[i] = NaN;
      else if (Number.isNaN(this.since[i])) this.since[i] = step;
    }
  }

  times(): Float64Array {
    return Float64Array.from(this.since);
  }
}

function strided(a: Float64Array, offset: number, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = a[2 * i + offset];
  return out;
}

function rmsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s / Math.max(1, a.length));
}

/** Fraction of correct predictions, or null for regression targets. */
export function accuracy(h: ArrayLike<number>, classes: Int32Array | null, c: number): number | null {
  if (!classes || classes.length === 0) return null;
  let ok = 0;
  for (let i = 0; i < classes.length; i++) {
    let pred: number;
    if (c === 1) pred = h[i] > 0 ? 1 : 0;
    else {
      pred = 0;
      for (let k = 1; k < c; k++) if (h[i * c + k] > h[i * c + pred]) pred = k;
    }
    if (pred === classes[i]) ok++;
  }
  return ok / classes.length;
}

/** A square grid over the training inputs' bounding box (10% margin), with true labels. */
function makeGrid(spec: ResolvedSpec, size: number): Grid {
  const d = spec.data;
  let xMin = Infinity;
  let xMax = -Infinity;
  let yMin = Infinity;
  let yMax = -Infinity;
  for (let i = 0; i < d.n; i++) {
    xMin = Math.min(xMin, d.x[2 * i]);
    xMax = Math.max(xMax, d.x[2 * i]);
    yMin = Math.min(yMin, d.x[2 * i + 1]);
    yMax = Math.max(yMax, d.x[2 * i + 1]);
  }
  const padX = 0.1 * (xMax - xMin || 1);
  const padY = 0.1 * (yMax - yMin || 1);
  const extent = { xMin: xMin - padX, xMax: xMax + padX, yMin: yMin - padY, yMax: yMax + padY };
  const points = new Float32Array(size * size * 2);
  for (let r = 0; r < size; r++) {
    for (let q = 0; q < size; q++) {
      const i = r * size + q;
      points[2 * i] = extent.xMin + ((extent.xMax - extent.xMin) * q) / (size - 1);
      points[2 * i + 1] = extent.yMin + ((extent.yMax - extent.yMin) * r) / (size - 1);
    }
  }
  const train = classLabels(spec);
  let labels: Int32Array | null = null;
  if (train) {
    const rule = d.meta.dataset ? DATASETS[d.meta.dataset]?.rule : undefined;
    labels = new Int32Array(size * size);
    for (let i = 0; i < size * size; i++) {
      const px = points[2 * i];
      const py = points[2 * i + 1];
      if (rule) {
        labels[i] = rule(px, py);
        continue;
      }
      let best = Infinity;
      for (let j = 0; j < d.n; j++) {
        const dist = (d.x[2 * j] - px) ** 2 + (d.x[2 * j + 1] - py) ** 2;
        if (dist < best) {
          best = dist;
          labels[i] = train[j];
        }
      }
    }
  }
  return { size, extent, points, labels };
}
