/**
 * The WebGPU training backend: a Trainer (both models), kernel probes on a subset of the
 * training examples, and the closed form (mse) on the whole training set.
 */
import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import type { ForwardState } from '../nn/gpu-model';
import type { ResolvedSpec } from '../experiment/types';
import { planOf } from '../model/layout';
import { Trainer } from './trainer';
import { KernelProbe, kernelsAt, releaseKernels } from './probes';
import { ClosedForm } from './closed-form';
import { stableLearningRate } from './stability';
import { eigvalsSym } from '../math/linalg';
import type { BackendSnapshot, DynamicsBackend, ModelKind, ProbeWithSpectrum } from './backend';
import { infinitePlan, type InfiniteKernels, type InputSet } from '../model/infinite-plan';
import { infiniteKernels } from '../geometry/infinite-kernels';

export interface GpuBackendOptions {
  /** Examples used by the kernel probes (the NTK-alignment paper used 100). */
  probeExamples: number;
  /** Largest n*c for which the closed form is computed (an f64 eigendecomposition of K0). */
  closedFormMax: number;
  linearized: boolean;
  /** `auto`: the fused MLP kernels where they apply; `general`: always the general path. */
  trainingPath?: 'auto' | 'general';
}

export class GpuBackend implements DynamicsBackend {
  private constructor(
    private readonly ctx: GpuContext,
    private readonly spec: ResolvedSpec,
    private readonly trainer: Trainer,
    private readonly probeX: Tensor,
    private readonly probeN: number,
    private readonly probeState0: ForwardState,
    private readonly kernelProbe: KernelProbe,
    private readonly closed: ClosedForm | null,
    private readonly gridCache: Map<Float32Array, { x: Tensor; state0: ForwardState }>,
  ) {}

  static async create(ctx: GpuContext, spec: ResolvedSpec, opts: GpuBackendOptions): Promise<GpuBackend> {
    const plan = planOf(spec);
    const trainer = new Trainer(ctx, spec, plan, opts.linearized, {}, { path: opts.trainingPath ?? 'auto' });
    const n = spec.data.n;
    const c = plan.c;
    const m = Math.min(n, opts.probeExamples);
    const probeX = ctx.upload(spec.data.x.subarray(0, m * plan.inputSize), [m, plan.inputSize], 'probe x');
    const probeState0 = trainer.model.forward(probeX, m, trainer.theta0);
    const probe = await KernelProbe.create(ctx, trainer.model, probeState0, trainer.theta0, spec.data.y.subarray(0, m * c));
    let closed: ClosedForm | null = null;
    if (spec.loss === 'mse' && opts.linearized && n * c <= opts.closedFormMax) {
      const K0 = kernelsAt(ctx, trainer.model, trainer.state0, trainer.theta0, false);
      closed = await ClosedForm.create(ctx, trainer, K0.total);
      releaseKernels(K0);
    }
    return new GpuBackend(ctx, spec, trainer, probeX, m, probeState0, probe, closed, new Map());
  }

  get adapter(): string {
    return this.ctx.adapter.summary;
  }

  get step(): number {
    return this.trainer.step;
  }

  get trainingPath() {
    return this.trainer.path;
  }

  get hasLinearized(): boolean {
    return this.trainer.hasLinearized;
  }

  get initialProbe() {
    return this.kernelProbe.initial;
  }

  async advance(k: number): Promise<void> {
    // No queue sync here: the session reads metrics right after, which waits for the work (and
    // dawn.node's onSubmittedWorkDone resolves on a slower polling path than a buffer map).
    await this.trainer.advance(k);
  }

  snapshot(): Promise<BackendSnapshot> {
    return this.trainer.snapshot();
  }

  async parameters(kind: ModelKind): Promise<Float64Array> {
    const [t0, d] = await this.ctx.readMany([{ tensor: this.trainer.theta0 }, { tensor: this.trainer.delta(kind) }]);
    return Float64Array.from(t0, (v, i) => v + d[i]);
  }

  async outputsAt(kind: ModelKind, points: Float32Array, rows: number): Promise<Float32Array> {
    let cached = this.gridCache.get(points);
    if (!cached) {
      const x = this.ctx.upload(points, [rows, this.trainer.plan.inputSize], 'grid x');
      cached = { x, state0: this.trainer.model.forward(x, rows, this.trainer.theta0) };
      this.gridCache.set(points, cached);
    }
    const { h, stateAt } = this.trainer.outputsOn(kind, cached.state0, cached.x, rows);
    if (stateAt) this.trainer.model.releaseForward(stateAt);
    try {
      return await this.ctx.read(h);
    } finally {
      h.destroy();
    }
  }

  async probe(withSpectrum: boolean): Promise<ProbeWithSpectrum> {
    const theta = this.trainer.theta('actual');
    const state = this.trainer.model.forward(this.probeX, this.probeN, theta);
    let measured: Awaited<ReturnType<KernelProbe['measure']>>;
    try {
      measured = await this.kernelProbe.measure(state, theta, withSpectrum);
    } finally {
      this.trainer.model.releaseForward(state);
    }
    const { probe, kernel } = measured;
    let eigenvalues: Float64Array | null = null;
    let K64: Float64Array | null = null;
    if (kernel) {
      const N = this.probeN * this.trainer.plan.c;
      let K: Float32Array;
      try {
        K = await this.ctx.read(kernel);
      } finally {
        kernel.destroy();
      }
      K64 = new Float64Array(N * N);
      for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) K64[i * N + j] = 0.5 * (K[i * N + j] + K[j * N + i]);
      eigenvalues = eigvalsSym(K64, N);
    }
    return { probe, eigenvalues, kernel: K64, n: this.probeN };
  }

  stableLr(): Promise<number> {
    return stableLearningRate(this.ctx, this.trainer.model, this.trainer.state0, this.trainer.theta0, this.spec.loss, this.trainer.alpha);
  }

  infiniteKernels(extras: InputSet[]): Promise<InfiniteKernels> {
    const d = this.spec.data;
    return infiniteKernels(this.ctx, infinitePlan(this.spec.model), { x: d.x, n: d.n }, extras);
  }

  async closedForm(t: number) {
    if (!this.closed) return null;
    return { train: this.closed.outputs(t), test: await this.closed.outputsTest(t) };
  }

  dispose(): void {
    for (const g of this.gridCache.values()) {
      this.trainer.model.releaseForward(g.state0);
      g.x.destroy();
    }
    this.gridCache.clear();
    this.kernelProbe.dispose();
    this.trainer.model.releaseForward(this.probeState0);
    this.probeX.destroy();
    this.trainer.dispose();
  }
}
