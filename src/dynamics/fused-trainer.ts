/**
 * The Trainer's fused path (src/nn/fused-mlp.ts): the same training as the general path, in three
 * dispatches per step, several steps per submission.
 *
 * It keeps the Trainer's tensors current in the Trainer's layout and semantics (delta = theta -
 * theta0, theta = theta0 + delta, velocity, the divergence flags), so everything else the Trainer
 * and its users do (snapshots, probes, grid outputs, parameters) reads them as on the general path.
 * Minibatches come from the Trainer's seeded BatchSchedule, drawn for all k steps of an advance()
 * at once and uploaded as one index buffer, so both paths train on the same batches in the same
 * order. Evaluations (snapshot) are the step kernel's EVAL mode: one dispatch per split for both
 * models instead of a forward pass, a JVP and a loss kernel per model.
 */
import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import type { ForwardState } from '../nn/gpu-model';
import type { ModelPlan } from '../model/layout';
import { FusedMlp, type FusedMlpConfig, type FusedSplit } from '../nn/fused-mlp';
import type { ResolvedSpec, ResolvedTrain } from '../experiment/types';
import type { DeviceSplit } from '../nn/split';
import type { BatchSchedule } from '../math/training';
import type { ModelKind } from './backend';

/** What the fused path updates for one model: the Trainer's own tensors. */
export interface FusedModelTensors {
  delta: Tensor;
  theta: Tensor;
  velocity: Tensor | null;
  flag: Tensor;
}

function indexWords(indices: ArrayLike<number>): Float32Array {
  return new Float32Array(Uint32Array.from(indices).buffer);
}

export class FusedTrainer {
  private readonly mlp: FusedMlp;
  private readonly train: FusedSplit;
  private readonly test: FusedSplit | null;
  /** Identity rows 0..n-1 (full-batch steps). */
  private readonly identity: Tensor;
  /** Batch indices of the steps of the current advance (minibatch SGD). */
  private batches: Tensor | null = null;
  private readonly batchRows: number;

  constructor(
    private readonly ctx: GpuContext,
    spec: ResolvedSpec,
    plan: ModelPlan,
    config: FusedMlpConfig,
    private readonly cfg: ResolvedTrain,
    private readonly alpha: number,
    theta0: Tensor,
    trainSplit: DeviceSplit,
    state0: ForwardState,
    testSplit: DeviceSplit | null,
    state0Test: ForwardState | null,
    private readonly models: { actual: FusedModelTensors; linearized: FusedModelTensors | null },
  ) {
    const n = trainSplit.n;
    this.batchRows = Math.min(cfg.batchSize, n);
    const splits = testSplit && state0Test ? [n, testSplit.n] : [n];
    this.mlp = new FusedMlp(ctx, plan, config, spec.loss, this.batchRows, splits);
    this.train = this.mlp.packSplit(0, trainSplit.x, trainSplit.targets, state0);
    this.test = testSplit && state0Test ? this.mlp.packSplit(1, testSplit.x, testSplit.targets, state0Test) : null;
    this.identity = ctx.upload(indexWords(Array.from({ length: Math.max(n, testSplit?.n ?? 0) }, (_, i) => i)), [Math.max(n, testSplit?.n ?? 0)], 'row indices');
    this.mlp.loadWeights(models.actual.theta, theta0, models.linearized?.delta ?? null);
  }

  get config(): FusedMlpConfig {
    return this.mlp.config;
  }

  /**
   * Record `k` steps (both models, the same batches), numbered firstStep + 1 .. firstStep + k for
   * the divergence watch. Batches are drawn from `schedule` unless the steps are full-batch.
   */
  advance(k: number, firstStep: number, schedule: BatchSchedule, fullBatch: boolean): void {
    if (k <= 0) return;
    const n = this.train.n;
    let idx = this.identity;
    const rows: number[] = [];
    if (fullBatch) {
      for (let s = 0; s < k; s++) rows.push(n);
    } else {
      // All k batches in one upload; batch s starts at s * batchRows (the last of an epoch may be short).
      const words = new Uint32Array(k * this.batchRows);
      for (let s = 0; s < k; s++) {
        const b = schedule.next();
        words.set(b, s * this.batchRows);
        rows.push(b.length);
      }
      if (!this.batches || this.batches.size < words.length) {
        this.batches?.destroy();
        this.batches = this.ctx.tensor([words.length], 'batch indices', false);
      }
      this.ctx.write(this.batches, new Float32Array(words.buffer));
      idx = this.batches;
    }
    const models = this.models.linearized ? 2 : 1;
    for (let s = 0; s < k; s++) {
      const batchOff = fullBatch ? 0 : s * this.batchRows;
      this.mlp.stepPass({ mode: 'train', split: this.train, idx, rows: rows[s], batchOff, alpha: this.alpha, models });
      const kinds: [0 | 1, FusedModelTensors][] = [[0, this.models.actual]];
      if (this.models.linearized) kinds.push([1, this.models.linearized]);
      for (const [model, m] of kinds) {
        this.mlp.updatePass({
          model,
          split: this.train,
          idx,
          rows: rows[s],
          batchOff,
          step: firstStep + s + 1,
          lr: this.cfg.lr,
          weightDecay: this.cfg.weightDecay,
          momentum: this.cfg.momentum,
          delta: m.delta,
          theta: m.theta,
          velocity: m.velocity,
          flag: m.flag,
        });
      }
    }
  }

  /**
   * Record the evaluation of both models (the linearized one if present) on a split; returns
   * where each model's outputs h (n x c) and per-example losses (n) are in `scratch`.
   */
  recordEvaluation(split: 'train' | 'test'): { scratch: Tensor; n: number; regions: Partial<Record<ModelKind, { h: number; loss: number }>> } {
    const s = split === 'train' ? this.train : this.test;
    if (!s) throw new Error(`no ${split} data`);
    const models = this.models.linearized ? 2 : 1;
    this.mlp.stepPass({ mode: 'eval', split: s, idx: this.identity, rows: s.n, batchOff: 0, alpha: this.alpha, models });
    const regions: Partial<Record<ModelKind, { h: number; loss: number }>> = { actual: this.mlp.evalRegion(s, 0) };
    if (this.models.linearized) regions.linearized = this.mlp.evalRegion(s, 1);
    return { scratch: this.mlp.work, n: s.n, regions };
  }

  dispose(): void {
    this.mlp.dispose();
    this.identity.destroy();
    this.batches?.destroy();
  }
}
