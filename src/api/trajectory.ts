/**
 * The runner's `train` key (fixture README sections 8, 11, 12): the actual and linearized
 * trajectories recorded at `train.checkpoints`, and for mse the closed-form lazy prediction.
 */
import type { GpuContext } from '../gpu/context';
import { planOf } from '../model/layout';
import type { ResolvedSpec } from '../experiment/types';
import { norm } from '../ops/reduce';
import { nest } from '../util/nested';
import type { TrainResult, TrajectoryResult } from '../experiment/result';
import { DivergenceError } from './session-types';
import { Trainer, type ModelKind } from '../dynamics/trainer';
import { KernelProbe, type ProbeResult } from '../dynamics/probes';
import { ClosedForm } from '../dynamics/closed-form';
import { stableLearningRate } from '../dynamics/stability';

type Series = Record<string, unknown[]>;

function emptySeries(hasTest: boolean, relu: boolean): Series {
  const keys = ['outputs'];
  if (hasTest) keys.push('outputs_test');
  keys.push('loss');
  if (hasTest) keys.push('loss_test');
  keys.push(
    'per_example_loss',
    'param_distance',
    'alignment_uncentered',
    'alignment_centered',
    'alignment_per_layer_uncentered',
    'alignment_per_layer_centered',
    'alignment_ntk_centered',
    'alignment_per_layer_ntk_centered',
    'ntk_similarity_to_init',
    'ntk_similarity_to_init_centered',
  );
  if (relu) keys.push('relu_sign_similarity');
  return Object.fromEntries(keys.map((k) => [k, []]));
}

function pushProbe(s: Series, p: ProbeResult): void {
  s.alignment_uncentered.push(p.alignment.uncentered);
  s.alignment_centered.push(p.alignment.centered);
  s.alignment_per_layer_uncentered.push(p.alignment.per_layer_uncentered);
  s.alignment_per_layer_centered.push(p.alignment.per_layer_centered);
  s.alignment_ntk_centered.push(p.alignment.ntk_centered);
  s.alignment_per_layer_ntk_centered.push(p.alignment.per_layer_ntk_centered);
  s.ntk_similarity_to_init.push(p.ntkSimilarityToInit);
  s.ntk_similarity_to_init_centered.push(p.ntkSimilarityToInitCentered);
  if (s.relu_sign_similarity) s.relu_sign_similarity.push(p.reluSignSimilarity);
}

/** Train both models through the checkpoints and return the fixture's `train` object. */
export async function trainTrajectory(ctx: GpuContext, spec: ResolvedSpec, onNote?: (note: string) => void): Promise<TrainResult> {
  const plan = planOf(spec);
  const cfg = spec.train;
  if (!cfg) throw new Error('train: the spec has no train section');
  const trainer = new Trainer(ctx, spec, plan, true);
  onNote?.(`training: ${trainer.path.kind} path (${trainer.path.reason})`);
  let probe: KernelProbe | null = null;
  try {
    probe = await KernelProbe.create(ctx, trainer.model, trainer.state0, trainer.theta0, spec.data.y);
    const closed = spec.loss === 'mse' ? await ClosedForm.create(ctx, trainer, probe.kernel0) : null;
    const hasTest = trainer.test !== null;
    const relu = probe.initial.reluSignSimilarity !== null;
    const series: Record<ModelKind, Series> = { actual: emptySeries(hasTest, relu), linearized: emptySeries(hasTest, relu) };
    const closedSeries: Series = hasTest ? { outputs: [], outputs_test: [] } : { outputs: [] };
    const n = spec.data.n;
    const c = plan.c;
    for (const t of cfg.checkpoints) {
      await trainer.advance(t - trainer.step);
      const bad = await trainer.divergence();
      if (bad) {
        const bound = await stableLearningRate(ctx, trainer.model, trainer.state0, trainer.theta0, spec.loss, trainer.alpha);
        throw new DivergenceError(bad.step, bad.model, bound, cfg.lr);
      }
      for (const kind of ['actual', 'linearized'] as ModelKind[]) {
        const s = series[kind];
        const tr = await trainer.evaluate(kind, 'train');
        s.outputs.push(nest(Array.from(tr.outputs), [n, c]));
        if (hasTest) {
          const te = await trainer.evaluate(kind, 'test');
          s.outputs_test.push(nest(Array.from(te.outputs), [spec.data.nTest, c]));
          s.loss_test.push(te.loss);
        }
        s.loss.push(tr.loss);
        s.per_example_loss.push(Array.from(tr.perExample));
        s.param_distance.push(await norm(ctx, trainer.delta(kind)));
        if (kind === 'linearized') {
          // J = J0 and the activation pattern is frozen: similarities are exactly 1.
          pushProbe(s, probe.initial);
        } else if (t === 0) {
          pushProbe(s, probe.initial);
        } else {
          const theta = trainer.theta('actual');
          const state = trainer.model.forward(trainer.train.x, n, theta);
          const { probe: p } = await probe.measure(state, theta);
          trainer.model.releaseForward(state);
          pushProbe(s, p);
        }
      }
      if (closed) {
        closedSeries.outputs.push(nest(Array.from(closed.outputs(t)), [n, c]));
        if (hasTest) closedSeries.outputs_test.push(nest(Array.from((await closed.outputsTest(t))!), [spec.data.nTest, c]));
      }
    }
    const result: TrainResult = {
      actual: series.actual as unknown as TrajectoryResult,
      linearized: series.linearized as unknown as TrajectoryResult,
      checkpoints: cfg.checkpoints.slice(),
    };
    if (closed) result.closed_form = closedSeries as unknown as TrainResult['closed_form'];
    return result;
  } finally {
    probe?.dispose();
    trainer.dispose();
  }
}
