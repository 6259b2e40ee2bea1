/**
 * The float64 CPU training backend, built on the reference implementation (src/reference):
 * the lab's fallback when the browser has no WebGPU, for small models. Same semantics as the GPU
 * Trainer (alpha scaling, JVP/VJP linearization, shared batch schedule, momentum, weight decay).
 */
import type { ResolvedSpec } from '../experiment/types';
import { LimitError } from '../experiment/errors';
import { planOf } from '../model/layout';
import type { ModelPlan } from '../model/layout';
import { forward, jacobianSignals, jvp, vjp, type Forward } from '../reference/model';
import { alignments, centerNtk, kernelSimilarity, ntkFromSignals } from '../reference/geometry';
import { eigvalsSym } from '../math/linalg';
import {
  applyStep,
  descentDirection,
  initialOutputs,
  LazyClosedForm,
  linearizedOutputs,
  lossGradOutputs,
  mean,
  perExampleLosses,
  scaledOutputs,
  stableLearningRate,
  type Targets,
} from '../math/training';
import type { BackendSnapshot, DynamicsBackend, Evaluation, ModelKind, ModelSnapshot, ProbeWithSpectrum } from './backend';
import type { ProbeResult } from './probes';
import { BatchSchedule } from '../math/training';
import { NaturalGradient64 } from '../reference/natural-gradient';
import { infiniteKernelsRef } from '../reference/infinite';
import { infinitePlan, type InfiniteKernels, type InputSet } from '../model/infinite-plan';

/**
 * Largest model the CPU backend accepts (parameters x training examples): about a second per
 * step of float64 work at this size. Smaller models are a matter of speed, which the lab measures
 * (it runs each experiment on the faster of the two engines).
 */
export const CPU_MAX_WORK = 100_000_000;

interface ModelState {
  delta: Float64Array;
  velocity: Float64Array | null;
  /** KFAC / EKFAC state (its own Fisher: at theta for the actual model, at theta0 for the linearized one). */
  natural: NaturalGradient64 | null;
  badStep: number | null;
}

export class CpuBackend implements DynamicsBackend {
  readonly adapter = 'CPU (float64 reference, no WebGPU)';
  step = 0;
  readonly initialProbe: ProbeResult;
  private readonly plan: ModelPlan;
  private readonly fw0: Forward;
  private readonly fw0Test: Forward | null;
  private readonly probeFw0: Forward;
  private readonly K0: Float64Array;
  private readonly K0c: Float64Array;
  private readonly models: { actual: ModelState; linearized: ModelState | null };
  private readonly schedule: BatchSchedule;
  private readonly targets: Targets;
  private readonly targetsTest: Targets;
  private readonly probeN: number;
  private readonly gridCache = new Map<Float32Array, Forward>();
  private closed: LazyClosedForm | null = null;

  constructor(
    private readonly spec: ResolvedSpec,
    linearized: boolean,
    probeExamples: number,
  ) {
    if (!spec.train) throw new Error('train: the spec has no train section');
    this.plan = planOf(spec);
    const d = spec.data;
    if (this.plan.P * d.n > CPU_MAX_WORK) {
      throw new LimitError('parameters x examples on the CPU', this.plan.P * d.n, CPU_MAX_WORK, `training P = ${this.plan.P} parameters on n = ${d.n} examples on the CPU engine (use WebGPU or a smaller model)`);
    }
    this.targets = { y: d.y, labels: d.labels };
    this.targetsTest = { y: d.yTest, labels: d.labelsTest };
    this.fw0 = forward(this.plan, spec.theta, d.x, d.n);
    this.fw0Test = d.nTest > 0 ? forward(this.plan, spec.theta, d.xTest, d.nTest) : null;
    this.probeN = Math.min(d.n, probeExamples);
    const c = this.plan.c;
    this.probeFw0 = forward(this.plan, spec.theta, d.x.subarray(0, this.probeN * this.plan.inputSize), this.probeN);
    const k0 = ntkFromSignals(this.probeFw0, jacobianSignals(this.probeFw0));
    this.K0 = k0.K;
    this.K0c = centerNtk(k0.K, this.probeN, c);
    const relu = this.plan.paramLayers.some((l) => l.activation === 'relu');
    this.initialProbe = {
      alignment: alignments(k0.K, k0.Kl, d.y.subarray(0, this.probeN * c), this.probeN, c),
      ntkSimilarityToInit: 1,
      ntkSimilarityToInitCentered: 1,
      reluSignSimilarity: relu ? 1 : null,
    };
    const P = this.plan.P;
    const t = spec.train;
    const ng = t.optimizer === 'kfac' || t.optimizer === 'ekfac';
    const make = (): ModelState => ({
      delta: new Float64Array(P),
      velocity: t.momentum > 0 ? new Float64Array(P) : null,
      natural: ng ? new NaturalGradient64(this.plan, { kind: t.optimizer as 'kfac' | 'ekfac', damping: t.damping, eigEvery: t.eigEvery, decay: 0, loss: spec.loss }) : null,
      badStep: null,
    });
    this.models = { actual: make(), linearized: linearized ? make() : null };
    this.schedule = new BatchSchedule(d.n, spec.train.batchSize, spec.train.seed);
  }

  get hasLinearized(): boolean {
    return this.models.linearized !== null;
  }

  private state(kind: ModelKind): ModelState {
    const m = this.models[kind];
    if (!m) throw new Error('no linearized model in this session');
    return m;
  }

  private theta(kind: ModelKind): Float64Array {
    const d = this.state(kind).delta;
    return this.spec.theta.map((v, i) => v + d[i]);
  }

  /** h of a model on inputs whose theta0 forward pass is `fw0`. */
  private outputs(kind: ModelKind, fw0: Forward, x: Float64Array, rows: number): { h: Float64Array; fw: Forward } {
    const alpha = this.spec.train!.alpha;
    if (kind === 'actual') {
      const fw = forward(this.plan, this.theta('actual'), x, rows);
      return { h: scaledOutputs(fw.output, fw0.output, alpha), fw };
    }
    return { h: linearizedOutputs(jvp(fw0, this.state('linearized').delta), fw0.output, alpha), fw: fw0 };
  }

  async advance(k: number): Promise<void> {
    const cfg = this.spec.train!;
    const d = this.spec.data;
    const inSize = this.plan.inputSize;
    const c = this.plan.c;
    for (let s = 0; s < k; s++) {
      const idx = this.schedule.next();
      const full = idx.length === d.n;
      const rows = idx.length;
      const xb = full ? d.x : gather(d.x, idx, inSize);
      const tb: Targets = full ? this.targets : { y: gather(d.y, idx, c), labels: d.labels ? Int32Array.from(idx, (i) => d.labels![i]) : null };
      const fw0 = full ? this.fw0 : forward(this.plan, this.spec.theta, xb, rows);
      for (const kind of ['actual', 'linearized'] as ModelKind[]) {
        const m = this.models[kind];
        if (!m) continue;
        const { h, fw } = this.outputs(kind, fw0, xb, rows);
        const g = vjp(fw, lossGradOutputs(this.spec.loss, h, tb, rows, c));
        const theta = kind === 'actual' ? fw.theta : this.theta('linearized');
        // Curvature of this batch at the model's outputs h (the metric of L(h)), as the GPU trainer.
        m.natural?.update(fw, h);
        let direction = descentDirection(g, theta, cfg);
        if (m.natural) direction = m.natural.precondition(direction);
        const finite = applyStep(m.delta, direction, m.velocity, cfg);
        if (!finite && m.badStep === null) m.badStep = this.step + 1;
      }
      this.step++;
    }
  }

  private async evaluate(kind: ModelKind, split: 'train' | 'test'): Promise<Evaluation> {
    const d = this.spec.data;
    const fw0 = split === 'train' ? this.fw0 : this.fw0Test;
    if (!fw0) throw new Error(`no ${split} data`);
    const rows = split === 'train' ? d.n : d.nTest;
    const { h } = this.outputs(kind, fw0, split === 'train' ? d.x : d.xTest, rows);
    const perExample = perExampleLosses(this.spec.loss, h, split === 'train' ? this.targets : this.targetsTest, rows, this.plan.c);
    return { outputs: h, perExample, loss: mean(perExample) };
  }

  async snapshot(): Promise<BackendSnapshot> {
    const model = async (kind: ModelKind): Promise<ModelSnapshot> => ({
      train: await this.evaluate(kind, 'train'),
      test: this.fw0Test ? await this.evaluate(kind, 'test') : null,
      paramDistance: Math.sqrt(this.state(kind).delta.reduce((s, v) => s + v * v, 0)),
    });
    return {
      actual: await model('actual'),
      linearized: this.models.linearized ? await model('linearized') : null,
      divergence: await this.divergence(),
    };
  }

  async parameters(kind: ModelKind): Promise<Float64Array> {
    return this.theta(kind);
  }

  async outputsAt(kind: ModelKind, points: Float32Array, rows: number): Promise<Float32Array> {
    let fw0 = this.gridCache.get(points);
    if (!fw0) {
      fw0 = forward(this.plan, this.spec.theta, Float64Array.from(points), rows);
      this.gridCache.set(points, fw0);
    }
    return Float32Array.from(this.outputs(kind, fw0, Float64Array.from(points), rows).h);
  }

  async probe(withSpectrum: boolean): Promise<ProbeWithSpectrum> {
    const c = this.plan.c;
    const n = this.probeN;
    const fw = forward(this.plan, this.theta('actual'), this.spec.data.x.subarray(0, n * this.plan.inputSize), n);
    const k = ntkFromSignals(fw, jacobianSignals(fw));
    let agree = 0;
    let units = 0;
    for (const l of this.plan.paramLayers) {
      if (l.activation !== 'relu') continue;
      const s = fw.pre[l.paramIndex];
      const s0 = this.probeFw0.pre[l.paramIndex];
      for (let i = 0; i < s.length; i++) if (s[i] > 0 === s0[i] > 0) agree++;
      units += s.length;
    }
    const probe: ProbeResult = {
      alignment: alignments(k.K, k.Kl, this.spec.data.y.subarray(0, n * c), n, c),
      ntkSimilarityToInit: kernelSimilarity(k.K, this.K0),
      ntkSimilarityToInitCentered: kernelSimilarity(centerNtk(k.K, n, c), this.K0c),
      reluSignSimilarity: units > 0 ? agree / units : null,
    };
    return { probe, eigenvalues: withSpectrum ? eigvalsSym(k.K, n * c) : null, kernel: withSpectrum ? k.K : null, n };
  }

  private async divergence(): Promise<{ step: number; model: ModelKind } | null> {
    const a = this.models.actual.badStep;
    const l = this.models.linearized?.badStep ?? null;
    if (a === null && l === null) return null;
    if (l === null || (a !== null && a <= l)) return { step: a!, model: 'actual' };
    return { step: l, model: 'linearized' };
  }

  async stableLr(): Promise<number> {
    const { n, c } = { n: this.spec.data.n, c: this.plan.c };
    const K = ntkFromSignals(this.fw0, jacobianSignals(this.fw0)).K;
    return stableLearningRate(K, initialOutputs(this.fw0.output, this.spec.train!.alpha), n, c, this.spec.loss);
  }

  async infiniteKernels(extras: InputSet[]): Promise<InfiniteKernels> {
    const d = this.spec.data;
    return infiniteKernelsRef(infinitePlan(this.spec.model), { x: d.x, n: d.n }, extras);
  }

  async closedForm(t: number): Promise<{ train: Float64Array; test: Float64Array | null } | null> {
    if (this.spec.loss !== 'mse' || !this.models.linearized) return null;
    const alpha = this.spec.train!.alpha;
    if (!this.closed) {
      const K = ntkFromSignals(this.fw0, jacobianSignals(this.fw0)).K;
      this.closed = new LazyClosedForm(K, initialOutputs(this.fw0.output, alpha), this.spec.data.y, this.spec.data.n, this.spec.train!.lr);
    }
    let test: Float64Array | null = null;
    if (this.fw0Test) {
      // K0t c = J0_test (J0^T c): a VJP on the training set, a JVP on the test set.
      const kc = jvp(this.fw0Test, vjp(this.fw0, this.closed.testCoefficients(t)));
      const h0t = initialOutputs(this.fw0Test.output, alpha);
      test = kc.map((v, i) => h0t[i] + v);
    }
    return { train: this.closed.outputs(t), test };
  }

  dispose(): void {
    this.gridCache.clear();
  }
}

function gather(a: Float64Array, idx: number[], width: number): Float64Array {
  const out = new Float64Array(idx.length * width);
  idx.forEach((i, r) => out.set(a.subarray(i * width, (i + 1) * width), r * width));
  return out;
}
