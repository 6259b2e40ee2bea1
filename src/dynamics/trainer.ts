/**
 * The actual model and its linearization at theta0, trained side by side on the GPU from the same
 * theta0 with the same batches (fixture README section 8; Lazy vs Hasty).
 *
 *   h(x; theta)     = f(x; theta)                              if alpha == 1 exactly
 *                   = alpha (f(x; theta) - f(x; theta0))       otherwise
 *   h_lin(x; theta) = the same rule applied to f_lin = f(x; theta0) + J0(x) (theta - theta0)
 *   objective       = L(h(X), Y) / alpha^2,   grad = (1/alpha) J^T dL/dh
 *
 * The linearized model is never given its Jacobian: its outputs are a JVP through the network
 * frozen at theta0 and its gradient a VJP at theta0, so it scales to models whose Jacobian does
 * not fit in memory. Both models store their displacement delta = theta - theta0 (what the
 * linearized model is a function of, and what `param_distance` measures), so neither loses
 * precision to theta0's magnitude.
 *
 * Optimizers: full-batch GD (the fixtures), minibatch SGD with momentum (PyTorch convention
 * v = mu v + g, theta -= lr v) and L2 weight decay (g += wd theta), one seeded data order shared
 * by both models; `kfac` / `ekfac` precondition the (decayed) gradient with each model's own
 * natural-gradient state (src/curvature/optimizer.ts: eigendecompositions every `eig_every`
 * steps, the EKFAC diagonal every step), the Fisher taken at the model's outputs h on the batch.
 * Divergence is caught by a GPU-side non-finite check of the parameters after every step.
 *
 * Two implementations of a step, chosen in the constructor and reported in `path`: the fused MLP
 * kernels (src/dynamics/fused-trainer.ts, src/nn/fused-mlp.ts: dense layers after an optional
 * leading flatten, gd / sgd / momentum / weight decay, widths that fit the workgroup memory;
 * 1 + models dispatches per step, all k steps of an advance() in one submission) and the general
 * path below (any architecture; ~43 dispatches per step for a 4-layer MLP). Both keep the same
 * tensors (delta, theta, velocity, divergence flags) in the same layout, so everything else reads
 * them alike. KFAC / EKFAC take the general path: their preconditioner is built from the general
 * path's per-layer forward state and batched backward signals, which the fused kernels keep
 * inside the step.
 */
import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { GpuModel, type ForwardState } from '../nn/gpu-model';
import type { ModelPlan } from '../model/layout';
import { axpby } from '../ops/elementwise';
import { lossAndGrad } from '../ops/loss';
import { reducePartials } from '../ops/reduce';
import { NonFiniteWatch } from '../ops/update';
import { NaturalGradient, type NaturalGradientOptions } from '../curvature/optimizer';
import type { ResolvedSpec, ResolvedTrain } from '../experiment/types';
import { fusedMlpSupport, type FusedMlpConfig, type FusedVariant } from '../nn/fused-mlp';
import { FusedTrainer } from './fused-trainer';
import { releaseSplit, uploadSplit, type DeviceSplit } from '../nn/split';
import type { BackendSnapshot, Evaluation, ModelKind, ModelSnapshot } from './backend';
import { BatchSchedule } from '../math/training';

export type { ModelKind } from './backend';

function mean(a: ArrayLike<number>, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += a[i];
  return s / n;
}

/**
 * Which implementation trains the models, and why: `fused` (src/nn/fused-mlp.ts: a whole step in
 * 1 + models dispatches) wherever it applies, else `general` (src/nn/gpu-model.ts).
 */
export interface TrainingPath {
  kind: 'fused' | 'general';
  reason: string;
}

export interface TrainerOptions {
  /** `auto` (default): the fused path where it applies; `general`: always the general path. */
  path?: 'auto' | 'general';
  /** Workgroup shape of the fused kernels (default: the adapter's, fusedVariantFor); for tests. */
  fusedVariant?: FusedVariant;
}

/** The path a spec's training takes on this device, with the reason (one line). */
export function chooseTrainingPath(
  ctx: GpuContext,
  spec: ResolvedSpec,
  plan: ModelPlan,
  options: TrainerOptions = {},
  /** Models trained: 2 with the linearization, 1 without. */
  models: 1 | 2 = 2,
): TrainingPath & { config?: FusedMlpConfig } {
  if (options.path === 'general') return { kind: 'general', reason: 'general path requested' };
  const opt = spec.train?.optimizer;
  if (opt === 'kfac' || opt === 'ekfac') {
    // The preconditioner needs the general path's per-layer forward state and batched backward
    // signals (its curvature factors); the fused kernels keep those inside the step.
    return { kind: 'general', reason: `optimizer ${opt}: the natural-gradient preconditioner uses the general path's forward state and signals` };
  }
  const support = options.fusedVariant ? fusedMlpSupport(ctx, plan, options.fusedVariant) : fusedMlpSupport(ctx, plan);
  if (!support.ok) return { kind: 'general', reason: support.reason };
  const c = support.config;
  return {
    kind: 'fused',
    reason: `fused MLP kernels (${c.variant.name}; tiles of ${c.B} examples, activation stride ${c.WMAX}; ${1 + models} dispatches per step)`,
    config: c,
  };
}

interface ModelState {
  delta: Tensor;
  /** theta0 + delta, kept current by the fused update kernel. */
  theta: Tensor;
  velocity: Tensor | null;
  natural: NaturalGradient | null;
}

export class Trainer {
  readonly model: GpuModel;
  readonly theta0: Tensor;
  readonly train: DeviceSplit;
  readonly test: DeviceSplit | null;
  /** Forward state at theta0 on the whole training / test set (the linearization point). */
  readonly state0: ForwardState;
  readonly state0Test: ForwardState | null;
  readonly cfg: ResolvedTrain;
  readonly alpha: number;
  readonly fullBatch: boolean;
  private readonly models: { actual: ModelState; linearized: ModelState | null };
  private readonly grad: Tensor;
  private readonly direction: Tensor | null;
  private readonly schedule: BatchSchedule;
  private readonly watches: Record<ModelKind, NonFiniteWatch | null>;
  /** Which implementation trains the models, and why (for notes and session facts). */
  readonly path: TrainingPath;
  private readonly fused: FusedTrainer | null = null;
  /** Steps taken. */
  step = 0;
  /**
   * Pacing of readbacks (announceWork): estimated device time per step, steps last announced,
   * observations so far.
   */
  private readonly pace = { msPerStep: 0, steps: 0, observations: 0 };

  constructor(
    readonly ctx: GpuContext,
    readonly spec: ResolvedSpec,
    readonly plan: ModelPlan,
    private readonly withLinearized = true,
    /** Extra settings of the natural-gradient optimizers (running averages, eigensolver). */
    natural: Pick<NaturalGradientOptions, 'decay' | 'solver'> = {},
    options: TrainerOptions = {},
  ) {
    if (!spec.train) throw new Error('train: the spec has no train section');
    this.cfg = spec.train;
    this.alpha = spec.train.alpha;
    this.model = new GpuModel(ctx, plan);
    const P = plan.P;
    this.theta0 = ctx.upload(spec.theta, [P], 'theta0');
    this.train = uploadSplit(ctx, spec, plan, 'train')!;
    this.test = uploadSplit(ctx, spec, plan, 'test');
    this.state0 = this.model.forward(this.train.x, this.train.n, this.theta0);
    this.state0Test = this.test ? this.model.forward(this.test.x, this.test.n, this.theta0) : null;
    const withMomentum = this.cfg.momentum > 0;
    const ng = this.cfg.optimizer === 'kfac' || this.cfg.optimizer === 'ekfac';
    const make = (): ModelState => ({
      delta: ctx.tensor([P], 'delta'),
      theta: ctx.upload(spec.theta, [P], 'theta'),
      velocity: withMomentum ? ctx.tensor([P], 'velocity') : null,
      natural: ng
        ? new NaturalGradient(ctx, plan, {
            kind: this.cfg.optimizer as 'kfac' | 'ekfac',
            damping: this.cfg.damping,
            eigEvery: this.cfg.eigEvery,
            loss: spec.loss,
            ...natural,
          })
        : null,
    });
    this.direction = ng ? ctx.tensor([P], 'natural direction') : null;
    this.models = { actual: make(), linearized: withLinearized ? make() : null };
    this.grad = ctx.tensor([P], 'grad');
    this.fullBatch = this.cfg.batchSize >= this.train.n;
    this.schedule = new BatchSchedule(this.train.n, this.cfg.batchSize, this.cfg.seed);
    this.watches = { actual: new NonFiniteWatch(ctx), linearized: withLinearized ? new NonFiniteWatch(ctx) : null };
    const chosen = chooseTrainingPath(ctx, spec, plan, options, withLinearized ? 2 : 1);
    this.path = { kind: chosen.kind, reason: chosen.reason };
    if (chosen.config) {
      const tensors = (m: ModelState, w: NonFiniteWatch) => ({ delta: m.delta, theta: m.theta, velocity: m.velocity, flag: w.flag });
      const lin = this.models.linearized;
      this.fused = new FusedTrainer(ctx, spec, plan, chosen.config, this.cfg, this.alpha, this.theta0, this.train, this.state0, this.test, this.state0Test, {
        actual: tensors(this.models.actual, this.watches.actual!),
        linearized: lin ? tensors(lin, this.watches.linearized!) : null,
      });
    }
  }

  /**
   * The first step whose update made a model's parameters non-finite (the step count after
   * the update, so the state at that step is the first bad one), or null.
   */
  async divergence(): Promise<{ step: number; model: ModelKind } | null> {
    const a = await this.watches.actual!.firstBadStep();
    const l = this.watches.linearized ? await this.watches.linearized.firstBadStep() : null;
    if (a === null && l === null) return null;
    if (l === null || (a !== null && a <= l)) return { step: a!, model: 'actual' };
    return { step: l, model: 'linearized' };
  }

  get hasLinearized(): boolean {
    return this.withLinearized;
  }

  private modelState(kind: ModelKind): ModelState {
    const m = this.models[kind];
    if (!m) throw new Error('this trainer has no linearized model');
    return m;
  }

  delta(kind: ModelKind): Tensor {
    return this.modelState(kind).delta;
  }

  /** A model's natural-gradient state (kfac / ekfac optimizers), or null. */
  naturalGradient(kind: ModelKind): NaturalGradient | null {
    return this.modelState(kind).natural;
  }

  /** Optimizer steps per pass over the training set. */
  get stepsPerEpoch(): number {
    return Math.ceil(this.train.n / Math.min(this.cfg.batchSize, this.train.n));
  }

  /** The current parameters theta0 + delta of a model (owned by the trainer, updated in place). */
  theta(kind: ModelKind): Tensor {
    return this.modelState(kind).theta;
  }

  /** h from raw outputs f and f(theta0) per the alpha rule; returns a new tensor. */
  private scaleOutputs(f: Tensor, f0: Tensor, rows: number): Tensor {
    const c = this.plan.c;
    const h = this.ctx.tensor([rows, c], 'h', false);
    this.ctx.copy(f, h, rows * c);
    if (this.alpha !== 1) axpby(this.ctx, -this.alpha, f0, this.alpha, h, rows * c);
    return h;
  }

  /** h_lin from J0 delta and f(theta0). */
  private linearOutputs(jv: Tensor, f0: Tensor, rows: number): Tensor {
    const c = this.plan.c;
    const h = this.ctx.tensor([rows, c], 'h lin', false);
    if (this.alpha === 1) {
      this.ctx.copy(jv, h, rows * c);
      axpby(this.ctx, 1, f0, 1, h, rows * c);
    } else {
      axpby(this.ctx, this.alpha, jv, 0, h, rows * c);
    }
    return h;
  }

  /**
   * Outputs h of a model on a split, given the forward state at theta0 on that split (and, for
   * the actual model, the forward state at theta). Caller destroys the returned tensor.
   */
  outputsOn(kind: ModelKind, state0: ForwardState, x: Tensor, rows: number): { h: Tensor; stateAt: ForwardState | null } {
    if (kind === 'actual') {
      const st = this.model.forward(x, rows, this.theta('actual'));
      return { h: this.scaleOutputs(st.output, state0.output, rows), stateAt: st };
    }
    const jv = this.model.jvp(state0, this.theta0, this.delta('linearized'));
    const h = this.linearOutputs(jv, state0.output, rows);
    jv.destroy();
    return { h, stateAt: null };
  }

  /** Record (without reading) a model's outputs h and per-example losses on a split. */
  private recordEvaluation(kind: ModelKind, split: 'train' | 'test'): { h: Tensor; perEx: Tensor; n: number } {
    const data = split === 'train' ? this.train : this.test;
    const state0 = split === 'train' ? this.state0 : this.state0Test;
    if (!data || !state0) throw new Error(`no ${split} data`);
    const { h, stateAt } = this.outputsOn(kind, state0, data.x, data.n);
    if (stateAt) this.model.releaseForward(stateAt);
    const perEx = this.ctx.tensor([data.n], 'per-example loss', false);
    const g = this.ctx.tensor([data.n, this.plan.c], 'unused grad', false);
    lossAndGrad(this.ctx, this.spec.loss, h, data.targets, perEx, g, data.n, this.plan.c, 1);
    g.destroy();
    return { h, perEx, n: data.n };
  }

  /** Outputs and losses of a model on the training or test split. */
  async evaluate(kind: ModelKind, split: 'train' | 'test'): Promise<Evaluation> {
    if (this.fused) {
      const ev = this.fused.recordEvaluation(split);
      const r = ev.regions[kind];
      if (!r) throw new Error('this trainer has no linearized model');
      const [outputs, perExample] = await this.ctx.readMany([
        { tensor: ev.scratch, offset: r.h, count: ev.n * this.plan.c },
        { tensor: ev.scratch, offset: r.loss, count: ev.n },
      ]);
      return { outputs, perExample, loss: mean(perExample, ev.n) };
    }
    const { h, perEx, n } = this.recordEvaluation(kind, split);
    const [outputs, perExample] = await this.ctx.readMany([{ tensor: h }, { tensor: perEx }]);
    h.destroy();
    perEx.destroy();
    return { outputs, perExample, loss: mean(perExample, n) };
  }

  /**
   * Every per-event quantity of both models with a single readback (one GPU sync instead of
   * one per quantity): outputs and losses on each split, parameter distances, and the
   * divergence watch.
   */
  async snapshot(): Promise<BackendSnapshot> {
    const ctx = this.ctx;
    const kinds: ModelKind[] = this.withLinearized ? ['actual', 'linearized'] : ['actual'];
    const splits: ('train' | 'test')[] = this.test ? ['train', 'test'] : ['train'];
    const recorded: { kind: ModelKind; split: 'train' | 'test'; h: Tensor; perEx: Tensor; n: number; offsets?: { h: number; loss: number } }[] = [];
    if (this.fused) {
      // One EVAL dispatch per split for both models; outputs and losses are read from scratch.
      for (const split of splits) {
        const ev = this.fused.recordEvaluation(split);
        for (const kind of kinds) recorded.push({ kind, split, h: ev.scratch, perEx: ev.scratch, n: ev.n, offsets: ev.regions[kind] });
      }
    } else {
      for (const kind of kinds) for (const split of splits) recorded.push({ kind, split, ...this.recordEvaluation(kind, split) });
    }
    const distances = kinds.map((k) => reducePartials(ctx, 1, this.delta(k), null, this.plan.P));
    const flags = kinds.map((k) => this.watches[k]!.flag);
    const c = this.plan.c;
    let reads: Float32Array[];
    try {
      reads = await ctx.readMany([
        ...recorded.flatMap((r) =>
          r.offsets
            ? [
                { tensor: r.h, offset: r.offsets.h, count: r.n * c },
                { tensor: r.perEx, offset: r.offsets.loss, count: r.n },
              ]
            : [{ tensor: r.h }, { tensor: r.perEx }],
        ),
        ...distances.map((t) => ({ tensor: t })),
        ...flags.map((t) => ({ tensor: t, count: 1 })),
      ]);
    } finally {
      // Freed whether or not the readback succeeds (a failed one must not leak a live session's memory).
      for (const r of recorded) {
        if (r.offsets) continue; // fused evaluations live in the fused trainer's scratch
        r.h.destroy();
        r.perEx.destroy();
      }
      for (const t of distances) t.destroy();
    }
    const evaluation = (kind: ModelKind, split: 'train' | 'test'): Evaluation | null => {
      const i = recorded.findIndex((r) => r.kind === kind && r.split === split);
      if (i < 0) return null;
      const perExample = reads[2 * i + 1];
      return { outputs: reads[2 * i], perExample, loss: mean(perExample, recorded[i].n) };
    };
    const model = (kind: ModelKind): ModelSnapshot => {
      const k = kinds.indexOf(kind);
      return {
        train: evaluation(kind, 'train')!,
        test: evaluation(kind, 'test'),
        paramDistance: Math.sqrt(reads[2 * recorded.length + k].reduce((a, b) => a + b, 0)),
      };
    };
    const snapshot: BackendSnapshot = {
      actual: model('actual'),
      linearized: this.withLinearized ? model('linearized') : null,
      divergence: kinds
        .map((k, i) => ({ model: k, step: NonFiniteWatch.decode(reads[2 * recorded.length + kinds.length + i]) }))
        .filter((b): b is { model: ModelKind; step: number } => b.step !== null)
        .sort((a, b) => a.step - b.step)[0] ?? null,
    };
    return snapshot;
  }

  /** Gather rows of the training set into batch tensors (minibatch SGD). */
  private batch(indices: number[]): { x: Tensor; targets: Tensor; state0: ForwardState | null; owned: boolean } {
    if (this.fullBatch) return { x: this.train.x, targets: this.train.targets, state0: this.state0, owned: false };
    const d = this.spec.data;
    const inSize = this.plan.inputSize;
    const c = this.plan.c;
    const B = indices.length;
    const xb = new Float32Array(B * inSize);
    const mse = this.spec.loss === 'mse';
    const tb = new Float32Array(mse ? B * c : B);
    indices.forEach((i, r) => {
      xb.set(d.x.subarray(i * inSize, (i + 1) * inSize), r * inSize);
      if (mse) tb.set(d.y.subarray(i * c, (i + 1) * c), r * c);
      else tb[r] = d.labels![i];
    });
    const x = this.ctx.upload(xb, [B, inSize], 'x batch');
    const targets = this.ctx.upload(tb, [tb.length], 'targets batch');
    // The network at theta0 on the batch: the linearization point, and f(theta0) for alpha != 1.
    const state0 = this.withLinearized || this.alpha !== 1 ? this.model.forward(x, B, this.theta0) : null;
    return { x, targets, state0, owned: true };
  }

  /** One optimizer step of one model on a batch. */
  private async stepModel(kind: ModelKind, b: { x: Tensor; targets: Tensor; state0: ForwardState | null }, rows: number): Promise<void> {
    const ctx = this.ctx;
    const c = this.plan.c;
    const alpha = this.alpha;
    let h: Tensor;
    let state: ForwardState;
    let theta: Tensor;
    if (kind === 'actual') {
      theta = this.theta('actual');
      state = this.model.forward(b.x, rows, theta);
      h = this.scaleOutputs(state.output, b.state0?.output ?? state.output, rows);
    } else {
      state = b.state0!;
      theta = this.theta0;
      const jv = this.model.jvp(state, this.theta0, this.delta('linearized'));
      h = this.linearOutputs(jv, state.output, rows);
      jv.destroy();
    }
    const perEx = ctx.tensor([rows], 'per-example loss', false);
    const seeds = ctx.tensor([rows, c], 'dPhi/df', false);
    // dPhi/df = (1/alpha^2) * alpha * dL/dh = (1/alpha) (1/rows) dl/dh.
    lossAndGrad(ctx, this.spec.loss, h, b.targets, perEx, seeds, rows, c, 1 / (rows * alpha));
    const signals = this.model.backward(state, seeds, 1, theta);
    this.model.gradient(state, signals, this.grad);
    this.model.releaseSignals(signals);
    const m = this.modelState(kind);
    // Curvature of this batch at the model's outputs h (the metric of L(h)), before they go.
    if (m.natural) await m.natural.update(this.model, state, theta, h);
    if (kind === 'actual') this.model.releaseForward(state);
    h.destroy();
    perEx.destroy();
    seeds.destroy();
    if (this.cfg.weightDecay > 0) axpby(ctx, this.cfg.weightDecay, m.theta, 1, this.grad);
    let update = this.grad;
    if (m.natural) {
      m.natural.precondition(this.grad, this.direction!);
      update = this.direction!;
    }
    if (m.velocity) {
      axpby(ctx, 1, update, this.cfg.momentum, m.velocity);
      update = m.velocity;
    }
    this.watches[kind]!.update(update, this.theta0, m.delta, m.theta, this.cfg.lr, this.step + 1);
  }

  /** Take `k` steps of both models (same batches). */
  async advance(k: number): Promise<void> {
    if (this.fused) {
      // All k steps in one submission (the context batches dispatches until flush).
      this.learnPace();
      this.fused.advance(k, this.step, this.schedule, this.fullBatch);
      this.step += Math.max(0, k);
      this.announceWork(k);
      return;
    }
    const paced = !this.models.actual.natural;
    if (paced) this.learnPace();
    for (let s = 0; s < k; s++) {
      const idx = this.fullBatch ? null : this.schedule.next();
      const b = this.batch(idx ?? []);
      const rows = idx ? idx.length : this.train.n;
      await this.stepModel('actual', b, rows);
      if (this.withLinearized) await this.stepModel('linearized', b, rows);
      if (b.owned) {
        b.x.destroy();
        b.targets.destroy();
        if (b.state0) this.model.releaseForward(b.state0);
      }
      this.step++;
    }
    // (The natural-gradient optimizers read back inside the step, so there is nothing to pace.)
    if (paced) this.announceWork(k);
    else this.ctx.flush();
  }

  /**
   * Update the per-step device time from how long the last announced work took to read back. If
   * it outlasted the announced time, the elapsed time is the work's own; if it finished within
   * it, the work may have been shorter, so the estimate decays.
   */
  private learnPace(): void {
    const o = this.ctx.takeObservedWork();
    if (!o || this.pace.steps === 0) return;
    // The first readback includes the pipelines' compilation (seconds to minutes on a CPU adapter).
    if (this.pace.observations++ === 0) return;
    const perStep = o.elapsedMs / this.pace.steps;
    if (this.pace.msPerStep === 0) this.pace.msPerStep = perStep;
    // Outlasted the announced time: the elapsed time is the work's own (growth bounded, in case
    // it included something else, e.g. a compilation).
    else if (o.elapsedMs > 1.1 * o.expectedMs) this.pace.msPerStep = Math.min(perStep, 2 * this.pace.msPerStep);
    else this.pace.msPerStep *= 0.9;
  }

  /** Submit, and tell the context how long the k steps should keep the device busy (ctx.expectWork). */
  private announceWork(k: number): void {
    this.pace.steps = k;
    // 80 %: sleeping past the end delays the readback, waking early only costs some polling.
    // At most a second: a wrong estimate must not stall a run.
    if (this.pace.msPerStep > 0) this.ctx.expectWork(Math.min(0.8 * k * this.pace.msPerStep, 1000));
    else this.ctx.expectWork(1e-9);
  }

  dispose(): void {
    this.fused?.dispose();
    this.model.releaseForward(this.state0);
    if (this.state0Test) this.model.releaseForward(this.state0Test);
    releaseSplit(this.train);
    releaseSplit(this.test);
    for (const m of [this.models.actual, this.models.linearized]) {
      m?.delta.destroy();
      m?.theta.destroy();
      m?.velocity?.destroy();
      m?.natural?.dispose();
    }
    this.direction?.destroy();
    this.watches.actual?.destroy();
    this.watches.linearized?.destroy();
    this.theta0.destroy();
    this.grad.destroy();
  }
}
