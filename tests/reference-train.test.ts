/**
 * Training reference beyond the fixtures: cross_entropy with alpha != 1, the gradient of
 * the alpha-scaled objective against finite differences, the closed form against the
 * JVP/VJP linearized trajectory when the top mode overshoots (eta lambda > 1), the lazy
 * limit (actual -> linearized as alpha grows), and the result structure rules.
 */
import { describe, expect, it } from 'vitest';
import { planModel } from '../src/model/layout';
import type { ResolvedSpec } from '../src/experiment/types';
import { forward, jacobian } from '../src/reference/model';
import { lossGradOutputs, meanLoss, modeResponse, scaledOutputs } from '../src/math/training';
import { ntkFromJacobian } from '../src/reference/geometry';
import { eigvalsSym } from '../src/math/linalg';
import {
  actualGradient,
  checkSupportedTrain,
  gradientDescent,
  trainResults,
  type TrainProblem,
} from '../src/reference/train';
import { computeReferenceResults } from '../src/reference/results';
import { resultKeys, toFixtureJson } from '../src/experiment/result';
import { CONV_STRIDED, MLP_SIGMOID, normErr, randomSpec } from './reference-helpers';

function problem(spec: ResolvedSpec): TrainProblem {
  return {
    plan: planModel(spec.model),
    loss: spec.loss,
    theta0: spec.theta,
    x: spec.data.x,
    n: spec.data.n,
    xTest: spec.data.xTest,
    nTest: spec.data.nTest,
    targets: { y: spec.data.y, labels: spec.data.labels },
    targetsTest: { y: spec.data.yTest, labels: spec.data.labelsTest },
    Y: spec.data.y,
    train: spec.train!,
  };
}

type Traj = Record<string, number[] | number[][] | number[][][]>;
const flat = (v: unknown): number[] => (Array.isArray(v) ? v.flatMap(flat) : [v as number]);

describe('alpha-scaled objective', () => {
  for (const [loss, alpha] of [
    ['cross_entropy', 3],
    ['mse', 0.5],
    ['cross_entropy', 1],
  ] as const) {
    it(`${loss}, alpha ${alpha}: gradient equals central differences of L(h)/alpha^2`, () => {
      const spec = randomSpec({ ...MLP_SIGMOID, loss, n: 6, seed: 31, train: { optimizer: 'gd', lr: 0.1, steps: 1, alpha } });
      const pb = problem(spec);
      const { plan, n } = pb;
      const f0 = forward(plan, pb.theta0, pb.x, n).output;
      // Evaluate away from theta0 so that h != 0 and the centering matters.
      const theta = Float64Array.from(pb.theta0, (t, p) => t + 0.05 * Math.sin(p));
      const phi = (th: Float64Array) => meanLoss(loss, scaledOutputs(forward(plan, th, pb.x, n).output, f0, alpha), pb.targets, n, plan.c) / alpha ** 2;
      const g = actualGradient(pb, f0, theta);
      const fd = new Float64Array(plan.P);
      const th = Float64Array.from(theta);
      const h = 1e-6;
      for (let p = 0; p < plan.P; p++) {
        th[p] = theta[p] + h;
        const a = phi(th);
        th[p] = theta[p] - h;
        const b = phi(th);
        th[p] = theta[p];
        fd[p] = (a - b) / (2 * h);
      }
      expect(normErr(g, fd)).toBeLessThan(1e-7);
    });
  }
});

describe('linearized training', () => {
  it('cross_entropy, alpha 3: the JVP/VJP trajectory equals GD on the explicit linear model h = alpha J0 dtheta', () => {
    const alpha = 3;
    const spec = randomSpec({
      ...CONV_STRIDED,
      loss: 'cross_entropy',
      n: 5,
      nTest: 3,
      seed: 41,
      train: { optimizer: 'gd', lr: 0.7, steps: 12, alpha, checkpoints: [0, 5, 12] },
    });
    const pb = problem(spec);
    const { plan, n } = pb;
    const c = plan.c;
    const P = plan.P;
    const J0 = jacobian(forward(plan, pb.theta0, pb.x, n));
    const J0t = jacobian(forward(plan, pb.theta0, pb.xTest, pb.nTest));
    const lin = (J: Float64Array, rows: number, th: Float64Array) => {
      const h = new Float64Array(rows);
      for (let r = 0; r < rows; r++) {
        let s = 0;
        for (let p = 0; p < P; p++) s += J[r * P + p] * (th[p] - pb.theta0[p]);
        h[r] = alpha * s;
      }
      return h;
    };
    const outs: number[][] = [];
    const outsTest: number[][] = [];
    gradientDescent(
      pb.theta0,
      pb.train.lr,
      pb.train.steps,
      pb.train.checkpoints,
      (th) => {
        const r = lossGradOutputs('cross_entropy', lin(J0, n * c, th), pb.targets, n, c);
        const g = new Float64Array(P);
        for (let row = 0; row < n * c; row++) for (let p = 0; p < P; p++) g[p] += (J0[row * P + p] * r[row]) / alpha;
        return g;
      },
      (_t, th) => {
        outs.push(Array.from(lin(J0, n * c, th)));
        outsTest.push(Array.from(lin(J0t, pb.nTest * c, th)));
      },
    );
    const res = trainResults(pb) as unknown as { linearized: Traj; actual: Traj };
    expect(normErr(flat(res.linearized.outputs), outs.flat())).toBeLessThan(1e-12);
    expect(normErr(flat(res.linearized.outputs_test), outsTest.flat())).toBeLessThan(1e-12);
    expect(flat(res.linearized.outputs).slice(0, n * c).every((v) => v === 0)).toBe(true); // h = 0 at init
    expect(res.actual.relu_sign_similarity).toBeDefined();
    expect(res.linearized.relu_sign_similarity).toEqual([1, 1, 1]);
    expect(res.linearized.ntk_similarity_to_init).toEqual([1, 1, 1]);
    expect((res.actual.ntk_similarity_to_init as number[])[0]).toBeCloseTo(1, 14);
  });

  it('mse closed form equals the linearized trajectory when eta * lambda_max = 1.5 (integer powers)', () => {
    const alpha = 7;
    const base = randomSpec({ ...CONV_STRIDED, loss: 'mse', n: 4, nTest: 3, seed: 43 });
    const plan = planModel(base.model);
    const { n, c } = base.data;
    const K0 = ntkFromJacobian(jacobian(forward(plan, base.theta, base.data.x, n)), n * c, plan.P);
    const lmax = eigvalsSym(K0, n * c)[n * c - 1];
    const lr = (1.5 * n) / lmax;
    const spec = randomSpec({
      ...CONV_STRIDED,
      loss: 'mse',
      n: 4,
      nTest: 3,
      seed: 43,
      train: { optimizer: 'gd', lr, steps: 30, alpha, checkpoints: [0, 1, 2, 7, 30] },
    });
    const res = trainResults(problem(spec)) as unknown as { linearized: Traj; closed_form: Traj };
    expect(normErr(flat(res.closed_form.outputs), flat(res.linearized.outputs))).toBeLessThan(1e-9);
    expect(normErr(flat(res.closed_form.outputs_test), flat(res.linearized.outputs_test))).toBeLessThan(1e-9);
    // t = 0 is exactly h0 = 0 for alpha != 1.
    expect(flat(res.closed_form.outputs).slice(0, n * c).every((v) => v === 0)).toBe(true);
  });

  it('mode response: expm1/log1p branch for eta*lambda < 1, integer powers otherwise', () => {
    expect(modeResponse(0, 10)).toBe(0);
    expect(modeResponse(1e-20, 100)).toBeCloseTo(1e-18, 30);
    expect(modeResponse(-1e-17, 10) / -1e-16).toBeCloseTo(1, 12);
    expect(modeResponse(0.5, 3)).toBeCloseTo(1 - 0.125, 15);
    expect(modeResponse(1, 4)).toBe(1);
    expect(modeResponse(1.5, 3)).toBe(1 - (-0.5) ** 3);
    expect(modeResponse(1.5, 0)).toBe(0);
  });
});

describe('lazy limit', () => {
  it('the actual - linearized output gap shrinks like 1/alpha (mse)', () => {
    const gap = (alpha: number) => {
      const spec = randomSpec({ ...MLP_SIGMOID, loss: 'mse', n: 6, seed: 17, train: { optimizer: 'gd', lr: 0.5, steps: 20, alpha } });
      const res = trainResults(problem(spec)) as unknown as { actual: Traj; linearized: Traj };
      const a = flat(res.actual.outputs);
      const l = flat(res.linearized.outputs);
      return Math.max(...a.map((v, i) => Math.abs(v - l[i])));
    };
    const g10 = gap(10);
    const g100 = gap(100);
    expect(g10).toBeGreaterThan(0);
    expect(g100 / g10).toBeLessThan(0.2);
    expect(g100 / g10).toBeGreaterThan(0.05);
  });
});

describe('structure of results', () => {
  it('no test data: no outputs_test / loss_test anywhere; no relu key without relu layers', () => {
    const spec = randomSpec({ ...MLP_SIGMOID, loss: 'mse', n: 4, seed: 2, train: { optimizer: 'gd', lr: 0.1, steps: 3 } });
    const r = toFixtureJson(computeReferenceResults(spec)) as Record<string, unknown> & { train: { actual: Traj; linearized: Traj; closed_form: Traj } };
    expect(r.outputs_test).toBeUndefined();
    expect(r.loss_test).toBeUndefined();
    expect(r.train.actual.outputs_test).toBeUndefined();
    expect(r.train.actual.loss_test).toBeUndefined();
    expect(r.train.closed_form.outputs_test).toBeUndefined();
    expect(r.train.actual.relu_sign_similarity).toBeUndefined();
    expect(Object.keys(r.train)).toEqual(['actual', 'linearized', 'checkpoints', 'closed_form']);
    expect(r.train.actual.loss as number[]).toHaveLength(2); // default checkpoints [0, steps]
  });

  it('cross_entropy has no closed_form; fisher obeys fisher_max_params; blocks obey block_max_params', () => {
    const spec = randomSpec({
      ...CONV_STRIDED,
      loss: 'cross_entropy',
      n: 3,
      nTest: 2,
      seed: 2,
      train: { optimizer: 'gd', lr: 0.1, steps: 2 },
      options: { fisher_max_params: 100, block_max_params: 60 },
    });
    const r = toFixtureJson(computeReferenceResults(spec)) as Record<string, unknown> & { train: object; kfac: Record<string, unknown>[] };
    expect(Object.keys(r.train)).toEqual(['actual', 'linearized', 'checkpoints']);
    expect(r.fisher).toBeUndefined();
    expect(r.fisher_trace).toBeTypeOf('number');
    const sizes = r.kfac.map((k) => k.param_size as number);
    r.kfac.forEach((k, i) => expect('exact_block' in k).toBe(sizes[i] <= 60));
    expect(sizes.some((s) => s > 60) && sizes.some((s) => s <= 60)).toBe(true);
  });

  it('key selection: explicit keys, spec.compute, and an explicitly requested fisher', () => {
    const spec = randomSpec({ ...MLP_SIGMOID, loss: 'mse', n: 3, seed: 2, options: { fisher_max_params: 10 } });
    expect(resultKeys(computeReferenceResults(spec, ['loss', 'theta', 'fisher']))).toEqual(['theta', 'loss', 'fisher']);
    expect(resultKeys(computeReferenceResults({ ...spec, compute: ['ntk'] }))).toEqual(['ntk']);
    expect(resultKeys(computeReferenceResults(spec, ['outputs_test', 'train']))).toEqual([]);
  });

  it('unsupported optimizers are rejected, not approximated', () => {
    const spec = randomSpec({ ...MLP_SIGMOID, loss: 'mse', n: 4, seed: 2, train: { optimizer: 'sgd', lr: 0.1, steps: 3, batch_size: 2 } });
    expect(() => checkSupportedTrain(spec.train!, 4)).toThrow(/optimizer "sgd".*batch_size 2/);
  });
});
