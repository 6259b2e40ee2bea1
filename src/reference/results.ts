/**
 * The float64 reference result of an experiment spec, in exactly the structure of the
 * fixtures' `expected` object (same keys, nesting and shapes; plain JS numbers). This is
 * what the tests compare against the fixtures, what GPU results are compared against, and
 * the CPU fallback of the lab.
 */
import { planModel, type ModelPlan } from '../nn/layout';
import { RESULT_KEYS, type ResultKey } from '../spec/validate';
import type { ResolvedSpec } from '../spec/types';
import { forward, gradientsFromSignals, jacobianSignals, lossGradOutputs, perExampleLoss, vjp, type Forward, type Targets } from './model';
import {
  alignments,
  DEFAULT_EXPLICIT_MAX,
  fisherFromWhitened,
  fisherNormsFromWhitenedKernel,
  kfacLayer,
  metricFactors,
  ntkFromSignals,
  ntkTrace,
  spectrumSummary,
  whitenKernel,
  whitenRows,
} from './geometry';
import { trainResults, type TrainProblem } from './train';
import { infiniteReference } from './infinite-result';
import { infiniteProblem } from '../model/infinite-plan';
import { list, nest } from './nested';

/**
 * The keys that apply to a spec by default: everything, except `outputs_test` / `loss_test`
 * without test data, `fisher` when P > options.fisher_max_params, `train` without a
 * train section, and `infinite` without an infinite-width limit (src/model/infinite-plan.ts).
 */
export function defaultResultKeys(spec: ResolvedSpec, plan: ModelPlan = planModel(spec.model)): Set<ResultKey> {
  const keys = new Set<ResultKey>(RESULT_KEYS);
  if (spec.data.nTest === 0) {
    keys.delete('outputs_test');
    keys.delete('loss_test');
  }
  if (plan.P > spec.options.fisher_max_params) keys.delete('fisher');
  if (!spec.train) keys.delete('train');
  if (infiniteProblem(spec)) keys.delete('infinite');
  return keys;
}

/**
 * Which keys to compute: `keys` if given, else `spec.compute`, else the defaults. Keys that
 * cannot apply (test keys without test data, `train` without a train section) are dropped;
 * an explicitly requested `fisher` is computed whatever P is.
 */
export function resolveResultKeys(spec: ResolvedSpec, keys?: ReadonlySet<string>): Set<ResultKey> {
  const plan = planModel(spec.model);
  const requested = keys ?? (spec.compute ? new Set(spec.compute) : defaultResultKeys(spec, plan));
  const out = new Set<ResultKey>();
  for (const k of RESULT_KEYS) {
    if (!requested.has(k)) continue;
    if ((k === 'outputs_test' || k === 'loss_test') && spec.data.nTest === 0) continue;
    if (k === 'train' && !spec.train) continue;
    out.add(k);
  }
  return out;
}

/** Lazily computed shared intermediates (J0, K0, whitened quantities), each at most once. */
class Cache {
  private memo = new Map<string, unknown>();
  get<T>(key: string, make: () => T): T {
    if (!this.memo.has(key)) this.memo.set(key, make());
    return this.memo.get(key) as T;
  }
}

/**
 * Compute the reference results of `spec` for the given top-level keys (see
 * `resolveResultKeys`), in `RESULT_KEYS` order.
 */
export function computeReferenceResults(spec: ResolvedSpec, keys?: ReadonlySet<string>): Record<string, unknown> {
  const plan = planModel(spec.model);
  const want = resolveResultKeys(spec, keys);
  const { n, nTest, c } = spec.data;
  const P = plan.P;
  const rows = n * c;
  const targets: Targets = { y: spec.data.y, labels: spec.data.labels };
  const targetsTest: Targets = { y: spec.data.yTest, labels: spec.data.labelsTest };
  const cache = new Cache();

  const fw0 = (): Forward => cache.get('fw0', () => forward(plan, spec.theta, spec.data.x, n));
  const fwTest = (): Forward => cache.get('fwTest', () => forward(plan, spec.theta, spec.data.xTest, nTest));
  const signals = () => cache.get('signals', () => jacobianSignals(fw0()));
  const J = () => cache.get('J', () => gradientsFromSignals(fw0(), signals(), rows, c));
  const kernels = () => cache.get('kernels', () => ntkFromSignals(fw0(), signals()));
  const K = () => kernels().K;
  const Kl = () => kernels().Kl;
  const Lt = () => cache.get('Lt', () => metricFactors(spec.loss, fw0().output, n, c));
  const Z = () => cache.get('Z', () => whitenRows(J(), n, c, P, Lt()));
  const fisherNorms = () => cache.get('fisherNorms', () => fisherNormsFromWhitenedKernel(whitenKernel(K(), n, c, Lt()), n, c));

  const r: Record<string, unknown> = {};
  for (const key of want) {
    switch (key) {
      case 'theta':
        r.theta = list(spec.theta);
        break;
      case 'outputs':
        r.outputs = nest(fw0().output, [n, c]);
        break;
      case 'outputs_test':
        r.outputs_test = nest(fwTest().output, [nTest, c]);
        break;
      case 'loss':
        r.loss = mean(perExampleLoss(spec.loss, fw0().output, targets, n, c));
        break;
      case 'loss_test':
        r.loss_test = mean(perExampleLoss(spec.loss, fwTest().output, targetsTest, nTest, c));
        break;
      case 'per_example_loss':
        r.per_example_loss = list(perExampleLoss(spec.loss, fw0().output, targets, n, c));
        break;
      case 'loss_grad':
        r.loss_grad = list(vjp(fw0(), lossGradOutputs(spec.loss, fw0().output, targets, n, c)));
        break;
      case 'jacobian':
        r.jacobian = nest(J(), [rows, P]);
        break;
      case 'ntk':
        r.ntk = nest(K(), [rows, rows]);
        break;
      case 'ntk_trace':
        r.ntk_trace = nest(ntkTrace(K(), n, c), [n, n]);
        break;
      case 'ntk_trace_per_layer':
        r.ntk_trace_per_layer = Kl().map((k) => nest(ntkTrace(k, n, c), [n, n]));
        break;
      case 'alignment':
        r.alignment = alignments(K(), Kl(), spec.data.y, n, c);
        break;
      case 'ntk_spectrum':
        r.ntk_spectrum = spectrumSummary(K(), rows);
        break;
      case 'ntk_trace_spectrum':
        r.ntk_trace_spectrum = spectrumSummary(ntkTrace(K(), n, c), n);
        break;
      case 'fisher':
        r.fisher = nest(fisherFromWhitened(Z(), n, c, P), [P, P]);
        break;
      case 'fisher_trace':
        r.fisher_trace = fisherNorms().trace;
        break;
      case 'fisher_frobenius':
        r.fisher_frobenius = fisherNorms().frobenius;
        break;
      case 'kfac':
        r.kfac = kfacResults(spec, plan, fw0(), signals(), Z(), Lt(), Kl());
        break;
      case 'train': {
        const pb: TrainProblem = {
          plan,
          loss: spec.loss,
          theta0: spec.theta,
          x: spec.data.x,
          n,
          xTest: spec.data.xTest,
          nTest,
          targets,
          targetsTest,
          Y: spec.data.y,
          train: spec.train!,
        };
        r.train = trainResults(pb);
        break;
      }
      case 'infinite':
        r.infinite = infiniteReference(spec);
        break;
    }
  }
  return r;
}

function mean(a: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s / a.length;
}

/** The `kfac` list: one entry per parametrized layer, in the fixture's key order. */
function kfacResults(
  spec: ResolvedSpec,
  plan: ModelPlan,
  fw: Forward,
  signals: Float64Array[],
  Z: Float64Array,
  Lt: Float64Array | null,
  Kl: Float64Array[],
): Record<string, unknown>[] {
  const { n, c } = spec.data;
  return plan.paramLayers.map((l) => {
    const m = l.fanIn + 1;
    const withBlocks = l.size <= spec.options.block_max_params;
    const Sw = whitenRows(signals[l.paramIndex], n, c, l.out * l.positions, Lt);
    const explicit = withBlocks || l.size <= DEFAULT_EXPLICIT_MAX;
    const whitenedLayerKernel = explicit ? undefined : whitenKernel(Kl[l.paramIndex], n, c, Lt);
    const k = kfacLayer(fw, l, Sw, Z, { withBlocks, whitenedLayerKernel });
    const entry: Record<string, unknown> = {
      layer_index: l.layerIndex,
      type: l.kind,
      param_offset: l.offset,
      param_size: l.size,
      out: l.out,
      fan_in_plus_1: m,
      spatial_positions: l.positions,
      A: nest(k.A, [m, m]),
      G: nest(k.G, [l.out, l.out]),
      eig_A: list(k.eigA),
      eig_G: list(k.eigG),
      ekfac_s: nest(k.ekfacS, [l.out, m]),
      exact_block_diag: list(k.exactDiag),
      kfac_block_diag: list(k.kfacDiag),
      ekfac_block_diag: list(k.ekfacDiag),
      frob_exact: k.frobExact,
      frob_err_kfac: k.frobErrKfac,
      frob_err_ekfac: k.frobErrEkfac,
    };
    if (withBlocks) {
      entry.exact_block = nest(k.exactBlock!, [l.size, l.size]);
      entry.kfac_block = nest(k.kfacBlock!, [l.size, l.size]);
      entry.ekfac_block = nest(k.ekfacBlock!, [l.size, l.size]);
    }
    return entry;
  });
}
