/**
 * The optimizer race of the EKFAC paper, reproduced small: plain (minibatch) gradient descent,
 * KFAC and EKFAC train the same network from the same initialization on the same batches, and
 * the training loss is recorded against epochs and against wall-clock time.
 *
 * A race file (examples/optimizer-race.json) is
 *   { "name", "description",
 *     "spec": <an experiment spec with a train section: batch_size, seed, ...>,
 *     "race": { "epochs": E, "time_budget_s": T, "max_epochs": M,
 *               "contestants": [ { "label", "optimizer", "lr", "momentum", "damping",
 *                                  "eig_every", "decay", "solver" }, ... ] } }
 * Each contestant's fields override `spec.train` and go through the spec validation (damping > 0,
 * eig_every >= 1, ...). Every contestant trains until it has done E epochs *and* spent T seconds
 * of training time (at most M epochs), so the result answers both "same epochs" (the loss after
 * E epochs) and "same wall-clock budget" (the loss at time T). The clock counts training steps
 * only (the GPU queue is drained before it is read); evaluations after each epoch are excluded.
 *
 * Run: `npm run --silent lab -- race examples/optimizer-race.json [--out result.json]`.
 */
import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import type { ModelPlan } from '../model/layout';
import { validateSpec } from '../api/validate';
import { planOf } from '../model/layout';
import type { ExperimentSpec, OptimizerKind, ResolvedSpec } from '../experiment/types';
import { Trainer } from '../dynamics/trainer';
import { accuracy } from '../math/training';
import { decodeImageSet, isImageData, resolveImageSpec } from '../data/images';
import type { NaturalGradient } from '../curvature/optimizer';
import type { EigenSolver } from '../curvature/eigen';

export interface Contestant {
  label?: string;
  optimizer: OptimizerKind;
  lr: number;
  momentum?: number;
  damping?: number;
  eig_every?: number;
  decay?: number;
  solver?: EigenSolver;
}

export interface RaceSettings {
  epochs: number;
  time_budget_s: number;
  max_epochs?: number;
  contestants: Contestant[];
}

export interface RaceFile {
  name?: string;
  description?: string;
  spec: ExperimentSpec;
  race: RaceSettings;
}

export interface EpochRecord {
  epoch: number;
  /** Training seconds so far (evaluations excluded). */
  time_s: number;
  loss: number;
  loss_test: number | null;
  accuracy: number | null;
  accuracy_test: number | null;
}

export interface ContestantResult {
  label: string;
  settings: Contestant;
  records: EpochRecord[];
  /** Eigendecompositions done (KFAC / EKFAC). */
  decompositions: number;
  diverged: boolean;
}

export interface RaceResult {
  name: string;
  adapter: string;
  epochs: number;
  time_budget_s: number;
  steps_per_epoch: number;
  contestants: ContestantResult[];
}

const label = (c: Contestant) =>
  c.label ?? (c.optimizer === 'kfac' || c.optimizer === 'ekfac' ? `${c.optimizer.toUpperCase()} (k=${c.eig_every ?? 1})` : c.optimizer.toUpperCase());

/**
 * The actual model alone (no linearization) trained by the engine's Trainer with GD / SGD
 * (momentum) or a KFAC / EKFAC preconditioner, on the batches of `spec.train` (batch_size, seed):
 * the race measures exactly what the lab trains.
 */
export class CurvatureTrainer {
  readonly plan: ModelPlan;
  private readonly trainer: Trainer;

  constructor(
    readonly ctx: GpuContext,
    readonly spec: ResolvedSpec,
    extra: { decay?: number; solver?: EigenSolver } = {},
  ) {
    if (!spec.train) throw new Error('race: the spec needs a train section');
    this.plan = planOf(spec);
    this.trainer = new Trainer(ctx, spec, this.plan, false, extra);
  }

  /** The current parameters (a work buffer, valid until the next step). */
  get theta(): Tensor {
    return this.trainer.theta('actual');
  }

  get ng(): NaturalGradient | null {
    return this.trainer.naturalGradient('actual');
  }

  get stepsPerEpoch(): number {
    return this.trainer.stepsPerEpoch;
  }

  get steps(): number {
    return this.trainer.step;
  }

  /** One optimizer step on the next batch. */
  step(): Promise<void> {
    return this.trainer.advance(1);
  }

  /** Mean loss and accuracy (cross_entropy) on a split. */
  async evaluate(split: 'train' | 'test'): Promise<{ loss: number; accuracy: number | null } | null> {
    if (split === 'test' && !this.trainer.test) return null;
    const e = await this.trainer.evaluate('actual', split);
    const labels = split === 'train' ? this.spec.data.labels : this.spec.data.labelsTest;
    return { loss: e.loss, accuracy: this.spec.loss === 'cross_entropy' ? accuracy(e.outputs, labels, this.plan.c) : null };
  }

  async diverged(): Promise<boolean> {
    return (await this.trainer.divergence()) !== null;
  }

  dispose(): void {
    this.trainer.dispose();
  }
}

/** Merge a contestant into the spec's train section and validate (errors name the contestant). */
export function contestantSpec(base: ExperimentSpec, c: Contestant, index: number): ResolvedSpec {
  const { label: _l, decay: _d, solver: _s, ...train } = c;
  try {
    return validateSpec({ ...base, train: { ...(base.train ?? {}), ...train, steps: 1 } });
  } catch (e) {
    throw new Error(`race.contestants[${index}] (${label(c)}): ${(e as Error).message}`);
  }
}

/** Resolve image datasets (digits, fashion) to explicit arrays, given a reader of public/datasets files. */
export function resolveRaceSpec(spec: ExperimentSpec, readDataset: (file: string) => Uint8Array): ExperimentSpec {
  if (!isImageData(spec.data)) return spec;
  const name = (spec.data as { dataset: string }).dataset;
  const file = name === 'digits' ? 'digits-8x8.bin' : 'fashion-14x14.bin';
  return resolveImageSpec(spec, decodeImageSet(name, readDataset(file))).spec;
}

export function checkRaceSettings(r: unknown): RaceSettings {
  const o = r as RaceSettings;
  if (!o || typeof o !== 'object') throw new Error('race: expected an object {epochs, time_budget_s, contestants}');
  if (!(Number.isInteger(o.epochs) && o.epochs >= 1)) throw new Error(`race.epochs: expected a positive integer, found ${JSON.stringify(o.epochs)}`);
  if (!(typeof o.time_budget_s === 'number' && o.time_budget_s >= 0)) throw new Error(`race.time_budget_s: expected a number >= 0, found ${JSON.stringify(o.time_budget_s)}`);
  if (!Array.isArray(o.contestants) || o.contestants.length === 0) throw new Error('race.contestants: expected a non-empty list');
  o.contestants.forEach((c, i) => {
    if (c.decay !== undefined && !(c.decay >= 0 && c.decay < 1)) throw new Error(`race.contestants[${i}].decay: expected a number in [0, 1), found ${c.decay}`);
    if (c.solver !== undefined && c.solver !== 'gpu' && c.solver !== 'cpu') throw new Error(`race.contestants[${i}].solver: expected "gpu" or "cpu", found ${JSON.stringify(c.solver)}`);
  });
  return o;
}

export interface RaceProgress {
  contestant: string;
  record: EpochRecord;
}

/** Run every contestant (in order) and collect its loss curve. */
export async function runRace(ctx: GpuContext, file: RaceFile, onProgress?: (p: RaceProgress) => void): Promise<RaceResult> {
  const r = checkRaceSettings(file.race);
  const maxEpochs = r.max_epochs ?? 50 * r.epochs;
  const specs = r.contestants.map((c, i) => contestantSpec(file.spec, c, i));
  const out: ContestantResult[] = [];
  let stepsPerEpoch = 0;
  for (let i = 0; i < specs.length; i++) {
    const c = r.contestants[i];
    const spec = specs[i];
    const tr = new CurvatureTrainer(ctx, spec, { decay: c.decay, solver: c.solver });
    stepsPerEpoch = tr.stepsPerEpoch;
    const records: EpochRecord[] = [];
    let time = 0;
    let diverged = false;
    try {
      const record = async (epoch: number) => {
        const a = (await tr.evaluate('train'))!;
        const b = await tr.evaluate('test');
        const rec: EpochRecord = { epoch, time_s: time, loss: a.loss, loss_test: b?.loss ?? null, accuracy: a.accuracy, accuracy_test: b?.accuracy ?? null };
        records.push(rec);
        onProgress?.({ contestant: label(c), record: rec });
        return rec;
      };
      await record(0);
      await ctx.sync();
      for (let epoch = 1; epoch <= maxEpochs; epoch++) {
        const t0 = performance.now();
        for (let s = 0; s < tr.stepsPerEpoch; s++) await tr.step();
        await ctx.sync();
        time += (performance.now() - t0) / 1000;
        if (await tr.diverged()) {
          diverged = true;
          break;
        }
        await record(epoch);
        if (epoch >= r.epochs && time >= r.time_budget_s) break;
      }
      out.push({ label: label(c), settings: c, records, decompositions: tr.ng?.decompositions ?? 0, diverged });
    } finally {
      tr.dispose();
    }
  }
  return { name: file.name ?? 'optimizer race', adapter: ctx.adapter.summary, epochs: r.epochs, time_budget_s: r.time_budget_s, steps_per_epoch: stepsPerEpoch, contestants: out };
}

/** Loss of a contestant at time t (the last epoch finished by then). */
export function lossAtTime(c: ContestantResult, t: number): EpochRecord {
  let best = c.records[0];
  for (const r of c.records) if (r.time_s <= t) best = r;
  return best;
}

/** A markdown summary: loss after the same epochs and at the same wall-clock times. */
export function formatRace(res: RaceResult): string {
  const E = res.epochs;
  const T = res.time_budget_s;
  const epochs = [1, Math.max(1, Math.round(E / 4)), Math.max(1, Math.round(E / 2)), E].filter((v, i, a) => a.indexOf(v) === i);
  const times = [T / 4, T / 2, T];
  const fmt = (x: number | null | undefined) => (x === null || x === undefined ? '-' : x.toPrecision(3));
  const lines: string[] = [];
  lines.push(`adapter: ${res.adapter}; ${res.steps_per_epoch} steps per epoch`);
  lines.push('');
  lines.push(`| optimizer | ${epochs.map((e) => `loss @ epoch ${e}`).join(' | ')} | time for ${E} epochs | ${times.map((t) => `loss @ ${t.toFixed(1)} s`).join(' | ')} | test acc @ ${T} s |`);
  lines.push(`|---|${epochs.map(() => '---|').join('')}---|${times.map(() => '---|').join('')}---|`);
  for (const c of res.contestants) {
    const at = (e: number) => c.records.find((r) => r.epoch === e);
    const tE = at(E)?.time_s;
    lines.push(
      `| ${c.label}${c.diverged ? ' (diverged)' : ''} | ${epochs.map((e) => fmt(at(e)?.loss)).join(' | ')} | ${tE === undefined ? '-' : `${tE.toFixed(2)} s`} | ${times
        .map((t) => `${fmt(lossAtTime(c, t).loss)} (ep ${lossAtTime(c, t).epoch})`)
        .join(' | ')} | ${fmt(lossAtTime(c, T).accuracy_test)} |`,
    );
  }
  return lines.join('\n');
}
