/**
 * The reference model beyond the fixture shapes: the forward pass against the README's
 * layer formulas written out naively, and the Jacobian, JVP, VJP and loss gradient
 * against central finite differences, on a strided/padded conv net, a conv feeding a dense
 * layer directly, and a sigmoid MLP under the NTK parameterization.
 */
import { describe, expect, it } from 'vitest';
import { planModel, type ModelPlan } from '../src/model/layout';
import type { ResolvedSpec } from '../src/experiment/types';
import { Rng } from '../src/util/rng';
import {
  activate,
  forward,
  jacobian,
  jvp,
  vjp,
} from '../src/reference/model';
import { lossGradOutputs, meanLoss } from '../src/math/training';
import { CONV_NO_FLATTEN, CONV_STRIDED, MLP_SIGMOID, normErr, randomSpec } from './reference-helpers';

/** Forward pass of one example straight from the README's formulas (no patches, no batching). */
function naiveForward(plan: ModelPlan, theta: Float64Array, x: Float64Array): Float64Array {
  let a = Array.from(x);
  for (const layer of plan.layers) {
    if (layer.kind === 'dense') {
      const m = layer.fanIn + 1;
      const out = [];
      for (let o = 0; o < layer.out; o++) {
        let s = layer.bMul * theta[layer.offset + o * m + layer.fanIn];
        for (let j = 0; j < layer.fanIn; j++) s += layer.wMul * theta[layer.offset + o * m + j] * a[j];
        out.push(activate(layer.activation, s));
      }
      a = out;
    } else if (layer.kind === 'conv2d') {
      const { cin, h, w, kernel: k, stride, padding: p, hOut, wOut } = layer;
      const m = layer.fanIn + 1;
      const inPad = (c: number, y: number, xx: number) => {
        const yy = y - p;
        const xi = xx - p;
        return yy >= 0 && yy < h && xi >= 0 && xi < w ? a[(c * h + yy) * w + xi] : 0;
      };
      const out = [];
      for (let o = 0; o < layer.out; o++)
        for (let y = 0; y < hOut; y++)
          for (let xx = 0; xx < wOut; xx++) {
            let s = layer.bMul * theta[layer.offset + o * m + layer.fanIn];
            for (let c = 0; c < cin; c++)
              for (let i = 0; i < k; i++)
                for (let j = 0; j < k; j++)
                  s += layer.wMul * theta[layer.offset + o * m + (c * k + i) * k + j] * inPad(c, y * stride + i, xx * stride + j);
            out.push(activate(layer.activation, s));
          }
      a = out;
    } else if (layer.kind === 'avgpool2d') {
      const [ch, h, w] = layer.inShape;
      const q = layer.size;
      const ho = Math.floor(h / q);
      const wo = Math.floor(w / q);
      const out = [];
      for (let c = 0; c < ch; c++)
        for (let y = 0; y < ho; y++)
          for (let xx = 0; xx < wo; xx++) {
            let s = 0;
            for (let i = 0; i < q; i++) for (let j = 0; j < q; j++) s += a[(c * h + y * q + i) * w + xx * q + j];
            out.push(s / (q * q));
          }
      a = out;
    }
  }
  return Float64Array.from(a);
}

const cases: { name: string; spec: () => ResolvedSpec }[] = [
  { name: 'conv stride 2 pad 2 + conv + avgpool (floor) + dense, cross_entropy', spec: () => randomSpec({ ...CONV_STRIDED, loss: 'cross_entropy', n: 3, seed: 11 }) },
  { name: 'conv -> dense without flatten, mse', spec: () => randomSpec({ ...CONV_NO_FLATTEN, loss: 'mse', n: 4, seed: 5 }) },
  {
    name: 'sigmoid MLP, NTK parameterization (sigma_w 1.5, sigma_b 0.3), cross_entropy',
    spec: () => randomSpec({ ...MLP_SIGMOID, loss: 'cross_entropy', n: 5, seed: 3, scheme: 'ntk', sigma_w: 1.5, sigma_b: 0.3 }),
  },
];

describe.each(cases)('$name', ({ spec: make }) => {
  const spec = make();
  const plan = planModel(spec.model);
  const { n, c } = spec.data;
  const P = plan.P;
  const f = (theta: Float64Array) => forward(plan, theta, spec.data.x, n).output;
  const fw = forward(plan, spec.theta, spec.data.x, n);
  const J = jacobian(fw);
  const h = 1e-6;

  it('forward equals the naive README formulas', () => {
    const inSize = plan.inputSize;
    for (let i = 0; i < n; i++) {
      const ref = naiveForward(plan, spec.theta, spec.data.x.subarray(i * inSize, (i + 1) * inSize));
      expect(normErr(fw.output.subarray(i * c, (i + 1) * c), ref)).toBeLessThan(1e-14);
    }
  });

  it('Jacobian columns equal central differences', () => {
    const fd = new Float64Array(n * c * P);
    const th = Float64Array.from(spec.theta);
    for (let p = 0; p < P; p++) {
      th[p] = spec.theta[p] + h;
      const fp = f(th);
      th[p] = spec.theta[p] - h;
      const fm = f(th);
      th[p] = spec.theta[p];
      for (let r = 0; r < n * c; r++) fd[r * P + p] = (fp[r] - fm[r]) / (2 * h);
    }
    expect(normErr(J, fd)).toBeLessThan(1e-7);
  });

  it('JVP equals J v and a directional difference; VJP equals J^T u', () => {
    const rng = new Rng(99);
    const v = Float64Array.from({ length: P }, () => rng.normal());
    const u = Float64Array.from({ length: n * c }, () => rng.normal());
    const Jv = new Float64Array(n * c);
    for (let r = 0; r < n * c; r++) for (let p = 0; p < P; p++) Jv[r] += J[r * P + p] * v[p];
    const Jtu = new Float64Array(P);
    for (let r = 0; r < n * c; r++) for (let p = 0; p < P; p++) Jtu[p] += J[r * P + p] * u[r];
    expect(normErr(jvp(fw, v), Jv)).toBeLessThan(1e-13);
    expect(normErr(vjp(fw, u), Jtu)).toBeLessThan(1e-13);
    const plus = Float64Array.from(spec.theta, (t, p) => t + h * v[p]);
    const minus = Float64Array.from(spec.theta, (t, p) => t - h * v[p]);
    const fp = f(plus);
    const fm = f(minus);
    expect(normErr(jvp(fw, v), Float64Array.from(fp, (x, r) => (x - fm[r]) / (2 * h)))).toBeLessThan(1e-7);
  });

  it('loss gradient (VJP of dL/df) equals central differences of the mean loss', () => {
    const t = { y: spec.data.y, labels: spec.data.labels };
    const L = (theta: Float64Array) => meanLoss(spec.loss, f(theta), t, n, c);
    const g = vjp(fw, lossGradOutputs(spec.loss, fw.output, t, n, c));
    const fd = new Float64Array(P);
    const th = Float64Array.from(spec.theta);
    for (let p = 0; p < P; p++) {
      th[p] = spec.theta[p] + h;
      const lp = L(th);
      th[p] = spec.theta[p] - h;
      const lm = L(th);
      th[p] = spec.theta[p];
      fd[p] = (lp - lm) / (2 * h);
    }
    expect(normErr(g, fd)).toBeLessThan(1e-7);
  });
});

describe('layout and batching', () => {
  it('a batch of n examples equals n single-example passes (no cross-talk)', () => {
    const spec = randomSpec({ ...CONV_STRIDED, loss: 'mse', n: 4, seed: 2 });
    const plan = planModel(spec.model);
    const all = forward(plan, spec.theta, spec.data.x, 4);
    const Jall = jacobian(all);
    const inSize = plan.inputSize;
    const rowLen = plan.c * plan.P;
    for (let i = 0; i < 4; i++) {
      const one = forward(plan, spec.theta, spec.data.x.slice(i * inSize, (i + 1) * inSize), 1);
      expect(Array.from(one.output)).toEqual(Array.from(all.output.subarray(i * plan.c, (i + 1) * plan.c)));
      expect(normErr(jacobian(one), Jall.subarray(i * rowLen, (i + 1) * rowLen))).toBeLessThan(1e-15);
    }
  });

  it('rejects a theta or x of the wrong size', () => {
    const spec = randomSpec({ ...MLP_SIGMOID, loss: 'mse', n: 2 });
    const plan = planModel(spec.model);
    expect(() => forward(plan, new Float64Array(3), spec.data.x, 2)).toThrow(/theta/);
    expect(() => forward(plan, spec.theta, spec.data.x, 3)).toThrow(/x has/);
  });
});
