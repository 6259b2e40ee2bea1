/**
 * The float64 training math (src/math/training.ts) on its own: the pieces every engine and the
 * lab share, checked against direct definitions and the cases that broke earlier versions.
 */
import { describe, expect, it } from 'vitest';
import {
  accuracy,
  applyStep,
  classLoss,
  closedFormApplies,
  descentDirection,
  linearizedOutputs,
  lossDiverged,
  LazyClosedForm,
  metricFactors,
  predictedClass,
  scaledOutputs,
  stableLearningRate,
  targetClasses,
  topEigenvalue,
  whitenKernel,
} from '../src/math/training';
import { eigvalsSym } from '../src/math/linalg';
import { Rng } from '../src/util/rng';

function randomPsd(N: number, seed: number): Float64Array {
  const rng = new Rng(seed);
  const X = Float64Array.from({ length: N * N }, () => rng.normal());
  const K = new Float64Array(N * N);
  for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) for (let k = 0; k < N; k++) K[i * N + j] += X[i * N + k] * X[j * N + k];
  return K;
}

describe('training math', () => {
  it('alpha rule: h = f at alpha 1 exactly, alpha (f - f0) otherwise; h_lin likewise', () => {
    const f = [1, 2, 3];
    const f0 = [0.5, 1, 4];
    expect(Array.from(scaledOutputs(f, f0, 1))).toEqual(f);
    expect(Array.from(scaledOutputs(f, f0, 2))).toEqual([1, 2, -2]);
    expect(Array.from(linearizedOutputs([0.1, 0.2, 0.3], f0, 1))).toEqual([0.6, 1.2, 4.3]);
    expect(Array.from(linearizedOutputs([0.1, 0.2, 0.3], f0, 10))).toEqual([1, 2, 3]);
  });

  it('updates: PyTorch SGD with weight decay and momentum, and the divergence flag', () => {
    const r = { lr: 0.5, alpha: 2, momentum: 0.9, weightDecay: 0.1 };
    const d = descentDirection([2, -4], [1, 1], r);
    expect(Array.from(d)).toEqual([1.1, -1.9]);
    const delta = new Float64Array(2);
    const v = new Float64Array([1, 0]);
    expect(applyStep(delta, d, v, r)).toBe(true);
    expect(Array.from(v)).toEqual([0.9 + 1.1, -1.9]);
    expect(delta[0]).toBeCloseTo(-0.5 * 2.0, 15);
    expect(applyStep(delta, [Infinity, 0], null, r)).toBe(false);
  });

  it('class decisions: sign for one output, argmax otherwise; class targets +-1 or one-hot', () => {
    expect(predictedClass([-0.2, 0.3], 1, 1)).toBe(1);
    expect(predictedClass([0.1, 0.5, 0.2], 0, 3)).toBe(1);
    expect(accuracy([0.1, 0.5, 0.2, 0.9, 0.0, 0.1], Int32Array.from([1, 0]), 3)).toBe(1);
    expect(Array.from(targetClasses([1, -1, 1], 3, 1)!)).toEqual([1, 0, 1]);
    expect(targetClasses([1, 0.5], 2, 1)).toBeNull();
    expect(Array.from(targetClasses([0, 1, 1, 0], 2, 2)!)).toEqual([1, 0]);
    expect(targetClasses([1, 1, 0, 0], 2, 2)).toBeNull();
    expect(classLoss('mse', [0.5], 0, 1, 0)).toBeCloseTo(0.5 * 1.5 ** 2, 15);
    expect(classLoss('cross_entropy', [0, 0], 0, 2, 1)).toBeCloseTo(Math.log(2), 15);
  });

  it('divergence: non-finite, or grown more than a millionfold', () => {
    expect(lossDiverged(NaN, 1)).toBe(true);
    expect(lossDiverged(Infinity, 1)).toBe(true);
    expect(lossDiverged(0.9e6, 1)).toBe(false);
    expect(lossDiverged(1.1e6, 1)).toBe(true);
    expect(lossDiverged(1e-3, 0)).toBe(true);
    expect(lossDiverged(0, 0)).toBe(false);
  });

  it('top eigenvalue by power iteration, also when a constant start vector is in the null space', () => {
    const K = randomPsd(12, 3);
    const exact = Math.max(...eigvalsSym(K, 12));
    expect(Math.abs(topEigenvalue(K, 12) - exact) / exact).toBeLessThan(1e-8);
    // Cross-entropy metric at uniform outputs (h = 0): L_i 1 = 0 for every example.
    const n = 5;
    const c = 3;
    const W = whitenKernel(randomPsd(n * c, 4), n, c, metricFactors('cross_entropy', new Float64Array(n * c), n, c));
    const top = Math.max(...eigvalsSym(W, n * c));
    expect(top).toBeGreaterThan(0);
    expect(Math.abs(topEigenvalue(W, n * c) - top) / top).toBeLessThan(1e-8);
    expect(stableLearningRate(randomPsd(n * c, 4), new Float64Array(n * c), n, c, 'cross_entropy')).toBeCloseTo((2 * n) / top, 8);
  });

  it('closed form: equals GD on the quadratic in function space; applies to plain full-batch GD under mse only', () => {
    const n = 4;
    const N = n;
    const K = randomPsd(N, 9);
    const h0 = Float64Array.from([0.1, -0.2, 0.3, 0]);
    const Y = [1, -1, 1, -1];
    const lr = 0.5 / (Math.max(...eigvalsSym(K, N)) / n);
    const cf = new LazyClosedForm(K, h0, Y, n, lr);
    const h = Float64Array.from(h0);
    for (let t = 1; t <= 7; t++) {
      const r = Array.from(h, (v, i) => v - Y[i]);
      for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) h[i] -= (lr / n) * K[i * N + j] * r[j];
    }
    const got = cf.outputs(7);
    for (let i = 0; i < N; i++) expect(got[i]).toBeCloseTo(h[i], 12);
    const gd = { optimizer: 'gd', momentum: 0, weightDecay: 0 };
    expect(closedFormApplies('mse', gd)).toBe(true);
    expect(closedFormApplies('cross_entropy', gd)).toBe(false);
    expect(closedFormApplies('mse', { ...gd, optimizer: 'ekfac' })).toBe(false);
    expect(closedFormApplies('mse', { ...gd, weightDecay: 1e-4 })).toBe(false);
  });
});
