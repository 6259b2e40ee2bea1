/**
 * The float64 infinite-width pieces (README section 13) beyond the fixture comparison of
 * tests/reference.test.ts: the twin against both public fixtures directly; the quadrature rule
 * against an independent adaptive integrator and Gauss-Hermite; the relu closed form; the
 * conventions for tanh / sigmoid / strides / padding / pooling against Monte-Carlo averages of
 * finite networks (one hidden layer: the expected empirical NTK is exact at any width); the
 * function-space predictor against a linear model trained in parameter space; the NTK distance;
 * and the refusals with the field named.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateSpec } from '../src/api/validate';
import { infinitePlan, infiniteProblem, neededBoxes } from '../src/model/infinite-plan';
import { infiniteKernelsRef, reluExpectations, activationExpectations } from '../src/reference/infinite';
import { gaussianExpectations, mappedNodes, DEFAULT_RULE } from '../src/math/infinite-quadrature';
import { gaussHermite, gaussHermiteExpectations } from './helpers/gauss-hermite';
import { FunctionSpacePredictor } from '../src/math/function-space';
import { ntkRelativeDistance } from '../src/math/kernel-distance';
import { computeReferenceResults } from '../src/reference/results';
import { Rng } from '../src/util/rng';
import { adaptiveExpectations, adaptiveIntegral } from './helpers/adaptive';
import { normalizedMaxError } from './helpers/random';

const fixture = (name: string) => JSON.parse(readFileSync(join(__dirname, 'fixtures', name), 'utf8'));

describe('infinite-width kernels in float64: the public fixtures', () => {
  for (const name of ['infinite_mlp_relu_mse_train.json', 'infinite_cnn_relu_ce.json']) {
    it(name, () => {
      const fx = fixture(name);
      const spec = validateSpec(fx.spec);
      const k = infiniteKernelsRef(infinitePlan(spec.model), { x: spec.data.x, n: spec.data.n }, [{ x: spec.data.xTest, n: spec.data.nTest }]);
      const e = fx.expected.infinite;
      // The fixtures hold 10 significant digits (5e-10 relative).
      expect(normalizedMaxError(k.nngp, e.nngp.flat())).toBeLessThan(1e-9);
      expect(normalizedMaxError(k.ntk, e.ntk.flat())).toBeLessThan(1e-9);
      expect(normalizedMaxError(k.extras[0].nngp, e.nngp_test.flat())).toBeLessThan(1e-9);
      expect(normalizedMaxError(k.extras[0].ntk, e.ntk_test.flat())).toBeLessThan(1e-9);
    });
  }
});

/** Cauchy-Schwarz scale of E[phi(u)phi(v)] (and of the derivative expectation). */
function scales(act: 'tanh' | 'sigmoid', s11: number, s22: number) {
  const d1 = adaptiveExpectations(act, s11, s11, s11);
  const d2 = adaptiveExpectations(act, s22, s22, s22);
  return { k: Math.sqrt(d1.k * d2.k), d: Math.sqrt(d1.d * d2.d) };
}

describe('an image whose first layer is dense is the flattened vector', () => {
  it('same kernels as the MLP on the flattened input (one position, C H W channels)', () => {
    const rng = new Rng(4);
    const n = 4;
    const flat = Array.from({ length: n }, () => Array.from({ length: 18 }, () => rng.normal()));
    const layers = [
      { type: 'dense', units: 8, activation: 'tanh' },
      { type: 'dense', units: 2, activation: 'linear' },
    ];
    const make = (input: number[], x: unknown[]) =>
      validateSpec({ model: { input, layers, parameterization: 'ntk', sigma_w: 1.3, sigma_b: 0.2 }, init: { seed: 1, scheme: 'ntk' }, loss: 'mse', data: { x, y: x.map(() => [0, 0]) } });
    const image = make(
      [2, 3, 3],
      flat.map((r) => [0, 1].map((c) => [0, 1, 2].map((y) => r.slice(c * 9 + y * 3, c * 9 + y * 3 + 3)))),
    );
    const vector = make([18], flat);
    const plan = infinitePlan(image.model);
    expect([plan.channels, plan.h, plan.w]).toEqual([18, 1, 1]);
    const a = infiniteKernelsRef(plan, { x: image.data.x, n });
    const b = infiniteKernelsRef(infinitePlan(vector.model), { x: vector.data.x, n });
    expect(Array.from(a.ntk)).toEqual(Array.from(b.ntk));
    expect(Array.from(a.nngp)).toEqual(Array.from(b.nngp));
    // The same as the README's recursion on the 3x3 map of 2 channels (same-position means).
    const dense0 = plan.ops[0] as Extract<(typeof plan.ops)[number], { kind: 'dense' }>;
    const fullOps = [{ ...dense0, positionsIn: 9 }, plan.ops[1]];
    const full = { ...plan, channels: 2, h: 3, w: 3, maxPositions: 9, ops: fullOps, boxes: neededBoxes({ h: 3, w: 3, ops: fullOps }) };
    const c = infiniteKernelsRef(full, { x: image.data.x, n });
    expect(normalizedMaxError(c.ntk, a.ntk)).toBeLessThan(1e-14);
    expect(normalizedMaxError(c.nngp, a.nngp)).toBeLessThan(1e-14);
  });
});

describe('only the position pairs later layers read are computed', () => {
  const planOf = (input: number[], layers: unknown[]) =>
    infinitePlan(validateSpec({ model: { input, layers, parameterization: 'ntk' }, init: { seed: 1, scheme: 'ntk' }, loss: 'mse', data: { x: [zeros(input)], y: [[0]] } }).model);
  const zeros = (shape: number[]): unknown => (shape.length === 0 ? 0 : Array.from({ length: shape[0] }, () => zeros(shape.slice(1))));
  const conv = (k: number, s: number, p: number, act = 'relu') => ({ type: 'conv2d', filters: 2, kernel: k, stride: s, padding: p, activation: act });
  const box = (b: { ry: number; rx: number }) => [b.ry, b.rx];
  it('boxes of offsets per stage', () => {
    // The digits CNN: a 3x3 band behind the 2x2 pool, the diagonal after it.
    const cnn = planOf([1, 8, 8], [conv(3, 1, 1), conv(3, 1, 1), { type: 'avgpool2d', size: 2 }, { type: 'flatten' }, { type: 'dense', units: 1, activation: 'linear' }]);
    expect(cnn.boxes.map(box)).toEqual([[1, 1], [1, 1], [1, 1], [0, 0], [0, 0]]);
    // No pooling: the diagonal only.
    expect(planOf([1, 6, 6], [conv(3, 1, 1), { type: 'flatten' }, { type: 'dense', units: 1, activation: 'linear' }]).boxes.map(box)).toEqual([[0, 0], [0, 0], [0, 0]]);
    // Stride 2 before a pool of 3 (on a 6x6 map): offsets 2, 2*2+... clipped to the grid.
    const strided = planOf([1, 13, 13], [conv(3, 2, 1), { type: 'avgpool2d', size: 3 }, { type: 'flatten' }, { type: 'dense', units: 1, activation: 'linear' }]);
    expect(strided.boxes.map(box)).toEqual([[4, 4], [2, 2], [0, 0], [0, 0]]);
    // Global pooling: every pair.
    expect(planOf([1, 4, 5], [conv(3, 1, 1), { type: 'avgpool2d', size: 4 }, { type: 'flatten' }, { type: 'dense', units: 1, activation: 'linear' }]).boxes.map(box)).toEqual([[3, 3], [3, 3], [0, 0], [0, 0]]);
  });
  it('give bitwise the same kernels as the full maps', () => {
    const rng = new Rng(8);
    const plan = planOf([2, 7, 7], [conv(3, 2, 2, 'tanh'), conv(2, 1, 0, 'relu'), { type: 'avgpool2d', size: 2 }, { type: 'flatten' }, { type: 'dense', units: 1, activation: 'linear' }]);
    const all = { ...plan, boxes: plan.boxes.map((b) => ({ ...b, ry: b.h - 1, rx: b.w - 1 })) };
    expect(plan.boxes.some((b, i) => b.ry < all.boxes[i].ry)).toBe(true);
    const x = Float64Array.from({ length: 4 * 98 }, () => rng.normal());
    const a = infiniteKernelsRef(plan, { x, n: 3 }, [{ x: x.subarray(3 * 98), n: 1 }]);
    const b = infiniteKernelsRef(all, { x, n: 3 }, [{ x: x.subarray(3 * 98), n: 1 }]);
    expect(Array.from(a.ntk)).toEqual(Array.from(b.ntk));
    expect(Array.from(a.nngp)).toEqual(Array.from(b.nngp));
    expect(Array.from(a.extras[0].ntk)).toEqual(Array.from(b.extras[0].ntk));
  });
});

describe('quadrature of tanh and sigmoid (mapped trapezoidal rule)', () => {
  // Small, large and mixed variances, correlations near -1, 0 and 1 (exactly 1 included).
  const CASES: [number, number, number][] = [
    [1, 0.3, 1],
    [0.01, -0.005, 0.04],
    [2.5, 2.4999, 2.5],
    [30, 54.717, 100],
    [100, 99.99999, 100],
    [1e4, -9999.99, 1e4],
    [1e4, 900, 100],
    [1e-4, 0, 1e4],
    [3, 3, 3],
    [1000, 3159.1, 1e4],
  ];
  for (const act of ['tanh', 'sigmoid'] as const) {
    it(`${act}: within 2e-7 of nested adaptive Gauss-Kronrod (normalized), variances 1e-4 .. 1e4`, () => {
      let worst = 0;
      for (const [a, b, c] of CASES) {
        const got = gaussianExpectations(act, a, b, c);
        const ref = adaptiveExpectations(act, a, b, c);
        const sc = scales(act, a, c);
        worst = Math.max(worst, Math.abs(got.k - ref.k) / sc.k, Math.abs(got.d - ref.d) / sc.d);
      }
      expect(worst).toBeLessThan(2e-7);
    });
  }

  it('agrees with 2-D Gauss-Hermite (128 points) at moderate variances, where Gauss-Hermite converges', () => {
    const gh = gaussHermite(128);
    for (const act of ['tanh', 'sigmoid'] as const) {
      for (const [a, b, c] of [
        [0.5, 0.2, 0.8],
        [1, -0.9, 1],
        [0.3, 0.3, 0.3],
      ]) {
        const got = gaussianExpectations(act, a, b, c);
        const ref = gaussHermiteExpectations(act, a, b, c, gh);
        expect(Math.abs(got.k - ref.k)).toBeLessThan(1e-11);
        expect(Math.abs(got.d - ref.d)).toBeLessThan(1e-11);
      }
    }
  });

  it('where Gauss-Hermite does not: variance 25, 128 points per dimension, tanh', () => {
    const ref = adaptiveExpectations('tanh', 25, 20, 25);
    const gh = gaussHermiteExpectations('tanh', 25, 20, 25, gaussHermite(128));
    const mapped = gaussianExpectations('tanh', 25, 20, 25);
    expect(Math.abs(gh.d - ref.d)).toBeGreaterThan(1e-4);
    expect(Math.abs(mapped.d - ref.d)).toBeLessThan(1e-10);
    expect(Math.abs(mapped.k - ref.k)).toBeLessThan(1e-10);
  });

  it('Gauss-Hermite nodes integrate polynomials exactly (E[z^2] = 1, E[z^4] = 3)', () => {
    const { x, w } = gaussHermite(20);
    const moment = (p: number) => x.reduce((s, xi, i) => s + w[i] * xi ** p, 0);
    expect(moment(0)).toBeCloseTo(1, 13);
    expect(moment(2)).toBeCloseTo(1, 12);
    expect(moment(4)).toBeCloseTo(3, 11);
    expect(moment(3)).toBeCloseTo(0, 12);
  });

  it('uses few nodes: about (2L + 2 ln(1/w)) / h per dimension', () => {
    expect(mappedNodes(0, 1).count + 1).toBe(51);
    expect(mappedNodes(0, 0.01).count + 1).toBeLessThan(90);
    expect(DEFAULT_RULE.h).toBe(0.3);
  });

  it('zero variance on one side and exact correlation are handled (no NaN)', () => {
    for (const act of ['tanh', 'sigmoid'] as const) {
      const z = gaussianExpectations(act, 0, 0, 2);
      const ref = adaptiveExpectations(act, 0, 0, 2);
      expect(Math.abs(z.k - ref.k)).toBeLessThan(1e-9);
      expect(Math.abs(z.d - ref.d)).toBeLessThan(1e-9);
      const one = gaussianExpectations(act, 4, 4 + 1e-12, 4);
      expect(Number.isFinite(one.k) && Number.isFinite(one.d)).toBe(true);
    }
    // sigmoid(0) = 1/2: E[sigmoid(0) sigmoid(v)] = 1/4 for symmetric v.
    expect(gaussianExpectations('sigmoid', 0, 0, 3).k).toBeCloseTo(0.25, 12);
  });
});

describe('relu closed form', () => {
  const N = (z: number) => Math.exp(-0.5 * z * z) / Math.sqrt(2 * Math.PI);
  /** E[f(u) g(v)] by nested adaptive quadrature (independent of the arc-cosine formulas). */
  function numeric(s11: number, s12: number, s22: number, f: (u: number) => number, g: (v: number) => number): number {
    const a = Math.sqrt(s11);
    const b = s12 / a;
    const c = Math.sqrt(Math.max(s22 - b * b, 0));
    return adaptiveIntegral((z1) => f(a * z1) * adaptiveIntegral((z2) => g(b * z1 + c * z2) * N(z2), -9, 9, 1e-12, c > 0 ? [(-b * z1) / c] : []) * N(z1), -9, 9, 1e-12, [0]);
  }
  it('matches numerical integration', () => {
    const relu = (x: number) => Math.max(x, 0);
    const step = (x: number) => (x > 0 ? 1 : 0);
    for (const [a, b, c] of [
      [1, 0.5, 2],
      [3, -2.9, 3],
      [0.2, 0.01, 5],
    ]) {
      const e = reluExpectations(a, b, c);
      expect(e.k).toBeCloseTo(numeric(a, b, c, relu, relu), 8);
      expect(e.d).toBeCloseTo(numeric(a, b, c, step, step), 7);
    }
  });
  it('an identical pair gives angle 0 exactly: k = S/2, d = 1/2', () => {
    for (const s of [1e-30, 0.1, 1 / 3, 7.123456789, 1e20]) expect(reluExpectations(s, s, s)).toEqual({ k: s / 2, d: 0.5 });
  });
  it('rho = -1 gives 0; a zero variance gives 0; linear passes Sigma through', () => {
    const e = reluExpectations(2, -2, 2);
    expect(Math.abs(e.k)).toBeLessThan(1e-15);
    expect(e.d).toBe(0);
    expect(reluExpectations(0, 0, 1)).toEqual({ k: 0, d: 0 });
    expect(activationExpectations('linear', 1, 0.3, 2)).toEqual({ k: 0.3, d: 1 });
  });
});

/** Average of the empirical full NTK over seeds of an NTK-parameterized finite network. */
function meanEmpiricalNtk(raw: Record<string, unknown>, seeds: number): Float64Array {
  let sum: Float64Array | null = null;
  for (let s = 0; s < seeds; s++) {
    const spec = validateSpec({ ...raw, init: { seed: 100 + s, scheme: 'ntk' } });
    const K = computeReferenceResults(spec, ['ntk']).ntk!.data;
    if (!sum) sum = new Float64Array(K.length);
    for (let i = 0; i < K.length; i++) sum[i] += K[i] / seeds;
  }
  return sum!;
}

describe('conventions against finite networks (Monte Carlo, one hidden layer: exact in expectation)', () => {
  const rng = new Rng(11);
  const data = (n: number, shape: number[]) => {
    const size = shape.reduce((a, b) => a * b, 1);
    return Array.from({ length: n }, () => {
      const flat = Array.from({ length: size }, () => rng.normal());
      if (shape.length === 1) return flat;
      const [C, H, W] = shape;
      return Array.from({ length: C }, (_, c) => Array.from({ length: H }, (_, y) => flat.slice((c * H + y) * W, (c * H + y + 1) * W)));
    });
  };
  const cases: [string, Record<string, unknown>][] = [
    [
      'tanh MLP',
      { input: [3], layers: [{ type: 'dense', units: 512, activation: 'tanh' }, { type: 'dense', units: 2, activation: 'linear' }], sigma_w: 1.6, sigma_b: 0.4 },
    ],
    [
      'sigmoid CNN: conv 3x3 stride 2 padding 2 (2 channels in), avgpool 2, flatten, dense',
      {
        input: [2, 5, 5],
        layers: [
          { type: 'conv2d', filters: 256, kernel: 3, stride: 2, padding: 2, activation: 'sigmoid' },
          { type: 'avgpool2d', size: 2 },
          { type: 'flatten' },
          { type: 'dense', units: 2, activation: 'linear' },
        ],
        sigma_w: 1.3,
        sigma_b: 0.2,
      },
    ],
  ];
  for (const [name, m] of cases) {
    it(`${name}: mean empirical NTK over 12 seeds within Monte-Carlo noise of Theta (x) I`, () => {
      const input = m.input as number[];
      const n = 5;
      const raw = {
        model: { input, layers: m.layers, parameterization: 'ntk', sigma_w: m.sigma_w, sigma_b: m.sigma_b },
        loss: 'mse',
        data: { x: data(n, input), y: Array.from({ length: n }, () => [0, 0]) },
      };
      const Kmean = meanEmpiricalNtk(raw, 12);
      const spec = validateSpec({ ...raw, init: { seed: 1, scheme: 'ntk' } });
      const theta = infiniteKernelsRef(infinitePlan(spec.model), { x: spec.data.x, n }).ntk;
      const dist = ntkRelativeDistance(Kmean, theta, n, 2);
      if (process.env.TANGENT_VERBOSE) console.log(name, dist);
      // Noise ~ 1/sqrt(units x seeds) ~ 1.5-2.5e-2; a convention error (phi' , a factor, the
      // padding count, the pooling) moves it by 1e-1 or more.
      expect(dist).toBeLessThan(0.06);
    });
  }
});

describe('function-space predictor', () => {
  /** A linear model h(x) = phi(x)^T W (W0 = 0) trained in parameter space by the same SGD. */
  function linearModel(features: Float64Array, n: number, m: number, P: number, c: number, loss: 'mse' | 'cross_entropy', y: Float64Array, lr: number, mu: number, batches: number[][]) {
    const W = new Float64Array(P * c);
    const V = new Float64Array(P * c);
    const outputs = (rows: number, offset: number) => {
      const h = new Float64Array(rows * c);
      for (let i = 0; i < rows; i++) for (let k = 0; k < c; k++) for (let p = 0; p < P; p++) h[i * c + k] += features[(offset + i) * P + p] * W[p * c + k];
      return h;
    };
    for (const B of batches) {
      const h = outputs(n, 0);
      const G = new Float64Array(P * c);
      for (const i of B) {
        const r = new Float64Array(c);
        if (loss === 'mse') for (let k = 0; k < c; k++) r[k] = h[i * c + k] - y[i * c + k];
        else {
          const mx = Math.max(...Array.from(h.subarray(i * c, i * c + c)));
          const e = Array.from(h.subarray(i * c, i * c + c), (v) => Math.exp(v - mx));
          const z = e.reduce((a, b) => a + b, 0);
          for (let k = 0; k < c; k++) r[k] = e[k] / z - y[i * c + k];
        }
        for (let p = 0; p < P; p++) for (let k = 0; k < c; k++) G[p * c + k] += (features[i * P + p] * r[k]) / B.length;
      }
      for (let j = 0; j < G.length; j++) {
        V[j] = mu * V[j] + G[j];
        W[j] -= lr * V[j];
      }
    }
    return { train: outputs(n, 0), extra: outputs(m, n) };
  }

  for (const loss of ['mse', 'cross_entropy'] as const) {
    it(`${loss}: minibatches with momentum equal the linear model's SGD mapped to function space`, () => {
      const rng = new Rng(3);
      const n = 7;
      const m = 4;
      const P = 5;
      const c = 3;
      const F = Float64Array.from({ length: (n + m) * P }, () => rng.normal());
      const gram = (r0: number, rows: number) => {
        const K = new Float64Array(rows * n);
        for (let i = 0; i < rows; i++) for (let j = 0; j < n; j++) for (let p = 0; p < P; p++) K[i * n + j] += F[(r0 + i) * P + p] * F[j * P + p];
        return K;
      };
      const y = new Float64Array(n * c);
      for (let i = 0; i < n; i++) {
        if (loss === 'mse') for (let k = 0; k < c; k++) y[i * c + k] = rng.normal();
        else y[i * c + (i % c)] = 1;
      }
      const batches = [[0, 3, 5], [1, 2], [4, 6, 0, 2], [5], [0, 1, 2, 3, 4, 5, 6], [6, 3]];
      const lr = 0.05;
      const mu = 0.7;
      const pred = new FunctionSpacePredictor({ loss, ntk: gram(0, n), n, c, y, lr, momentum: mu, extras: [{ ntk: gram(n, m), m }] });
      for (const B of batches) pred.advance(B);
      const ref = linearModel(F, n, m, P, c, loss, y, lr, mu, batches);
      expect(pred.step).toBe(batches.length);
      expect(normalizedMaxError(pred.outputs, ref.train)).toBeLessThan(1e-12);
      expect(normalizedMaxError(pred.extraOutputs[0], ref.extra)).toBeLessThan(1e-12);
    });
  }

  it('full-batch mse GD equals the closed form (I - (lr/n) Theta)^t applied to -Y', () => {
    const n = 3;
    const theta = Float64Array.from([2, 0.5, 0.1, 0.5, 1.5, 0.2, 0.1, 0.2, 1]);
    const y = Float64Array.from([1, -1, 0.5]);
    const lr = 0.4;
    const p = new FunctionSpacePredictor({ loss: 'mse', ntk: theta, n, c: 1, y, lr });
    // r_t = h_t - y evolves as r_{t+1} = (I - lr/n Theta) r_t from r_0 = -y.
    let r = Float64Array.from(y, (v) => -v);
    for (let t = 0; t < 5; t++) {
      p.advance();
      r = Float64Array.from({ length: n }, (_, i) => r[i] - (lr / n) * (theta[i * 3] * r[0] + theta[i * 3 + 1] * r[1] + theta[i * 3 + 2] * r[2]));
    }
    for (let i = 0; i < n; i++) expect(p.outputs[i]).toBeCloseTo(r[i] + y[i], 13);
    expect(p.loss()).toBeCloseTo(r.reduce((s, v) => s + 0.5 * v * v, 0) / n, 13);
  });

  it('refuses bad input', () => {
    const base = { loss: 'mse' as const, ntk: new Float64Array(4), n: 2, c: 1, y: new Float64Array(2), lr: 0.1 };
    expect(() => new FunctionSpacePredictor({ ...base, ntk: new Float64Array(3) })).toThrow(/ntk has 3 entries/);
    expect(() => new FunctionSpacePredictor({ ...base, lr: -1 })).toThrow(/learning rate/);
    expect(() => new FunctionSpacePredictor({ ...base, momentum: 1 })).toThrow(/momentum/);
    expect(() => new FunctionSpacePredictor(base).advance([2])).toThrow(/batch index 2/);
  });
});

describe('relative distance to Theta (x) I_c', () => {
  it('is 0 for Theta (x) I, 1 for 2 Theta (x) I, and counts off-diagonal output blocks', () => {
    const n = 2;
    const c = 2;
    const theta = [2, 1, 1, 3];
    const kron = (s: number, off = 0) => {
      const K = new Float64Array(16);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < c; k++) for (let l = 0; l < c; l++) K[(i * c + k) * 4 + j * c + l] = k === l ? s * theta[i * n + j] : off;
      return K;
    };
    expect(ntkRelativeDistance(kron(1), theta, n, c)).toBe(0);
    expect(ntkRelativeDistance(kron(2), theta, n, c)).toBeCloseTo(1, 14);
    // 8 off-diagonal entries of 1 against ||Theta (x) I||^2 = 2 * 15.
    expect(ntkRelativeDistance(kron(1, 1), theta, n, c)).toBeCloseTo(Math.sqrt(8 / 30), 14);
    expect(() => ntkRelativeDistance(new Float64Array(15), theta, n, c)).toThrow(/expected/);
  });
});

describe('which specs have an infinite-width limit (one-line reasons naming the field)', () => {
  const tiny = fixture('infinite_mlp_relu_mse_train.json').spec;
  const variant = (f: (s: any) => void) => {
    const s = JSON.parse(JSON.stringify(tiny));
    f(s);
    return infiniteProblem(validateSpec(s))?.message ?? null;
  };
  it('accepts the fixtures', () => {
    expect(variant(() => {})).toBeNull();
    expect(infiniteProblem(validateSpec(fixture('infinite_cnn_relu_ce.json').spec))).toBeNull();
  });
  it('refuses standard parameterization, non-linear outputs, layers after the output, wd and kfac', () => {
    expect(variant((s) => (s.model.parameterization = 'standard'))).toMatch(/^model\.parameterization: expected "ntk".*found "standard"$/);
    expect(variant((s) => (s.model.layers[2].activation = 'tanh'))).toMatch(/^model\.layers\[2\]\.activation: expected "linear".*found "tanh"$/);
    expect(variant((s) => (s.train.weight_decay = 0.01))).toMatch(/^train\.weight_decay: /);
    expect(variant((s) => (s.train.optimizer = 'kfac'))).toMatch(/^train\.optimizer: /);
    const cnn = JSON.parse(JSON.stringify(fixture('infinite_cnn_relu_ce.json').spec));
    cnn.model.layers = [cnn.model.layers[0], { type: 'conv2d', filters: 3, kernel: 3, stride: 1, padding: 1, activation: 'linear' }, { type: 'flatten' }];
    cnn.params = undefined;
    cnn.init = { seed: 1, scheme: 'ntk' };
    delete cnn.params;
    expect(infiniteProblem(validateSpec(cnn))?.message).toMatch(/^model\.layers\[1\]: expected a last dense\/conv2d layer with one output position.*found 36 positions$/);
  });
  it('refuses a non-finite sigma at validation (JSON 1e999 is Infinity)', () => {
    const s = JSON.parse(JSON.stringify(tiny).replace('"sigma_w":1.4', '"sigma_w":1e999'));
    expect(() => validateSpec(s)).toThrow(/^model\.sigma_w: expected a finite number, found Infinity$/);
  });
});
