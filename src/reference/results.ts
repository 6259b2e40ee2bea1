/**
 * The float64 reference result of an experiment spec, as a typed `AnalysisResult`
 * (src/experiment/result.ts; `toFixtureJson` gives the fixtures' `expected` format). This is
 * what the tests compare against the fixtures, what GPU results are compared against, and
 * the lab's CPU analysis.
 */
import { planModel, type ModelPlan } from '../model/layout';
import { keyApplies, requestedKeys, RESULT_KEYS, type ResultKey } from '../experiment/keys';
import { matrix, type AnalysisResult, type KfacLayerResult } from '../experiment/result';
import { spectrumStats } from '../math/spectrum';
import { eigvalsSym } from '../math/linalg';
import type { ResolvedSpec } from '../experiment/types';
import { forward, gradientsFromSignals, jacobianSignals, vjp, type Forward } from './model';
import { lossGradOutputs, mean, metricFactors, perExampleLosses, whitenKernel, whitenRows, type Targets } from '../math/training';
import {
  alignments,
  DEFAULT_EXPLICIT_MAX,
  fisherFromWhitened,
  fisherNormsFromWhitenedKernel,
  kfacLayer,
  ntkFromSignals,
  ntkTrace,
} from './geometry';
import { trainResults, type TrainProblem } from './train';
import { list, nest } from '../util/nested';
import { infiniteReference } from './infinite-result';
import { infiniteProblem } from '../model/infinite-plan';

/** Lazily computed shared intermediates (J0, K0, whitened quantities), each at most once. */
class Cache {
  private memo = new Map<string, unknown>();
  get<T>(key: string, make: () => T): T {
    if (!this.memo.has(key)) this.memo.set(key, make());
    return this.memo.get(key) as T;
  }
}

/**
 * Compute the reference results of `spec` for the given keys, or for the spec's own
 * (`requestedKeys`: `spec.compute`, else every key that applies). Keys that cannot apply (test
 * keys without test data, `train` without a train section) are dropped; an explicitly requested
 * `fisher` is computed whatever P is (float64 on the host has no device limit).
 */
export function computeReferenceResults(spec: ResolvedSpec, keys?: Iterable<ResultKey>): AnalysisResult {
  const plan = planModel(spec.model);
  const asked = keys ? new Set(keys) : null;
  const want = asked ? RESULT_KEYS.filter((k) => asked.has(k) && keyApplies(k, spec)) : requestedKeys(spec, plan.P, infiniteProblem(spec) === null).keys;
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
  const perExample = () => cache.get('perExample', () => perExampleLosses(spec.loss, fw0().output, targets, n, c));

  const r: AnalysisResult = {};
  for (const key of want) {
    switch (key) {
      case 'theta':
        r.theta = spec.theta;
        break;
      case 'outputs':
        r.outputs = matrix(fw0().output, n, c);
        break;
      case 'outputs_test':
        r.outputsTest = matrix(fwTest().output, nTest, c);
        break;
      case 'loss':
        r.loss = mean(perExample());
        break;
      case 'loss_test':
        r.lossTest = mean(perExampleLosses(spec.loss, fwTest().output, targetsTest, nTest, c));
        break;
      case 'per_example_loss':
        r.perExampleLoss = perExample();
        break;
      case 'loss_grad':
        r.lossGrad = vjp(fw0(), lossGradOutputs(spec.loss, fw0().output, targets, n, c));
        break;
      case 'jacobian':
        r.jacobian = matrix(J(), rows, P);
        break;
      case 'ntk':
        r.ntk = matrix(K(), rows, rows);
        break;
      case 'ntk_trace':
        r.ntkTrace = matrix(ntkTrace(K(), n, c), n, n);
        break;
      case 'ntk_trace_per_layer':
        r.ntkTracePerLayer = Kl().map((k) => matrix(ntkTrace(k, n, c), n, n));
        break;
      case 'alignment':
        r.alignment = alignments(K(), Kl(), spec.data.y, n, c);
        break;
      case 'ntk_spectrum':
        r.ntkSpectrum = spectrumStats(eigvalsSym(K(), rows));
        break;
      case 'ntk_trace_spectrum':
        r.ntkTraceSpectrum = spectrumStats(eigvalsSym(ntkTrace(K(), n, c), n));
        break;
      case 'fisher':
        r.fisher = matrix(fisherFromWhitened(Z(), n, c, P), P, P);
        break;
      case 'fisher_trace':
        r.fisherTrace = fisherNorms().trace;
        break;
      case 'fisher_frobenius':
        r.fisherFrobenius = fisherNorms().frobenius;
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

/** The `kfac` list: one entry per parametrized layer, in the fixture's key order. */
function kfacResults(
  spec: ResolvedSpec,
  plan: ModelPlan,
  fw: Forward,
  signals: Float64Array[],
  Z: Float64Array,
  Lt: Float64Array | null,
  Kl: Float64Array[],
): KfacLayerResult[] {
  const { n, c } = spec.data;
  return plan.paramLayers.map((l) => {
    const m = l.fanIn + 1;
    const withBlocks = l.size <= spec.options.block_max_params;
    const Sw = whitenRows(signals[l.paramIndex], n, c, l.out * l.positions, Lt);
    const explicit = withBlocks || l.size <= DEFAULT_EXPLICIT_MAX;
    const whitenedLayerKernel = explicit ? undefined : whitenKernel(Kl[l.paramIndex], n, c, Lt);
    const k = kfacLayer(fw, l, Sw, Z, { withBlocks, whitenedLayerKernel });
    const entry: KfacLayerResult = {
      layer_index: l.layerIndex,
      type: l.kind,
      param_offset: l.offset,
      param_size: l.size,
      out: l.out,
      fan_in_plus_1: m,
      spatial_positions: l.positions,
      A: nest(k.A, [m, m]) as number[][],
      G: nest(k.G, [l.out, l.out]) as number[][],
      eig_A: list(k.eigA),
      eig_G: list(k.eigG),
      ekfac_s: nest(k.ekfacS, [l.out, m]) as number[][],
      exact_block_diag: list(k.exactDiag),
      kfac_block_diag: list(k.kfacDiag),
      ekfac_block_diag: list(k.ekfacDiag),
      frob_exact: k.frobExact,
      frob_err_kfac: k.frobErrKfac,
      frob_err_ekfac: k.frobErrEkfac,
    };
    if (withBlocks) {
      entry.exact_block = nest(k.exactBlock!, [l.size, l.size]) as number[][];
      entry.kfac_block = nest(k.kfacBlock!, [l.size, l.size]) as number[][];
      entry.ekfac_block = nest(k.ekfacBlock!, [l.size, l.size]) as number[][];
    }
    return entry;
  });
}
