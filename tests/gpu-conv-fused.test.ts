/**
 * shaders/conv_fused.wgsl (src/ops/conv.ts) against its float64 twins: the forward pass (patches,
 * pre-activations, activations), the input gradient (product with W + col2im) and the JVP, on
 * strides, paddings, kernels larger than the input, several channels, filter counts on both sides
 * of the kernel's block of 16 outputs, every activation, large magnitudes and zero inputs.
 */
import { describe, expect, it } from 'vitest';
import { gpuContext } from './helpers/gpu';
import { f32, normalizedMaxError, randomArray } from './helpers/random';
import * as ref from '../src/reference/kernels';
import { activate, activateDeriv } from '../src/reference/model';
import { convBackwardData, convForward, convJvp } from '../src/ops/conv';
import type { ConvPlan } from '../src/model/layout';
import type { Activation } from '../src/experiment/types';

interface Case {
  g: ref.ConvGeom;
  out: number;
  act: Activation;
  /** Input scale (adversarial magnitudes) or 0 for all-zero inputs. */
  scale: number;
}

const CASES: Case[] = [
  { g: { C: 1, H: 8, W: 8, k: 3, stride: 1, pad: 1, wMul: 1, bMul: 1 }, out: 4, act: 'relu', scale: 1 },
  { g: { C: 3, H: 7, W: 5, k: 3, stride: 2, pad: 2, wMul: 0.4, bMul: 0.1 }, out: 17, act: 'tanh', scale: 1 },
  { g: { C: 2, H: 5, W: 6, k: 5, stride: 1, pad: 0, wMul: 1, bMul: 1 }, out: 16, act: 'sigmoid', scale: 1e3 },
  { g: { C: 2, H: 4, W: 4, k: 1, stride: 3, pad: 0, wMul: 1, bMul: 1 }, out: 1, act: 'linear', scale: 1 },
  { g: { C: 1, H: 1, W: 1, k: 1, stride: 1, pad: 0, wMul: 1, bMul: 1 }, out: 33, act: 'relu', scale: 1 },
  { g: { C: 2, H: 3, W: 3, k: 4, stride: 1, pad: 3, wMul: 2, bMul: 1 }, out: 5, act: 'tanh', scale: 0 },
];

function planOf(c: Case, offset: number): ConvPlan {
  const { Hout, Wout } = ref.convOut(c.g);
  const fanIn = c.g.C * c.g.k * c.g.k;
  return {
    kind: 'conv2d',
    layerIndex: 0,
    paramIndex: 0,
    activation: c.act,
    inShape: [c.g.C, c.g.H, c.g.W],
    outShape: [c.out, Hout, Wout],
    fanIn,
    out: c.out,
    positions: Hout * Wout,
    offset,
    size: c.out * (fanIn + 1),
    cin: c.g.C,
    h: c.g.H,
    w: c.g.W,
    kernel: c.g.k,
    stride: c.g.stride,
    padding: c.g.pad,
    hOut: Hout,
    wOut: Wout,
    wMul: c.g.wMul,
    bMul: c.g.bMul,
  };
}

/** out[i, o, t] = sum_a W[o, a] P[i, t, a] in float64. */
function productRef(W: ArrayLike<number>, wOff: number, P: ArrayLike<number>, n: number, out: number, T: number, m: number, cols = m): Float64Array {
  const s = new Float64Array(n * out * T);
  for (let i = 0; i < n; i++)
    for (let o = 0; o < out; o++)
      for (let t = 0; t < T; t++) {
        let acc = 0;
        for (let a = 0; a < cols; a++) acc += W[wOff + o * m + a] * P[(i * T + t) * m + a];
        s[(i * out + o) * T + t] = acc;
      }
  return s;
}

describe('fused conv passes match their float64 twins', () => {
  CASES.forEach((c, ci) => {
    const g = c.g;
    it(`C=${g.C} ${g.H}x${g.W} k=${g.k} s=${g.stride} p=${g.pad}, ${c.out} filters, ${c.act}${c.scale === 0 ? ', zero input' : c.scale > 1 ? ', large inputs' : ''}`, async () => {
      const ctx = await gpuContext();
      const live = ctx.liveTensors;
      const offset = 3; // the layer's slice does not start at 0
      const l = planOf(c, offset);
      const m = l.fanIn + 1;
      const T = l.positions;
      const n = 3;
      const x = f32(randomArray(n * g.C * g.H * g.W, 40 + ci, c.scale));
      const theta = f32(randomArray(offset + l.size, 50 + ci, 0.7));
      const tx = ctx.upload(x, [x.length]);
      const tth = ctx.upload(theta, [theta.length]);

      // Forward: patches, pre-activations, activations.
      const P = ref.im2colRef(x, n, g);
      const s = productRef(theta, offset, P, n, c.out, T, m);
      const tp = ctx.tensor([P.length]);
      const ts = ctx.tensor([s.length]);
      const ta = c.act === 'linear' ? null : ctx.tensor([s.length]);
      convForward(ctx, l, tx, tth, tp, ts, ta, n);
      expect(normalizedMaxError(await ctx.read(tp), P)).toBeLessThan(1e-7);
      expect(normalizedMaxError(await ctx.read(ts), s)).toBeLessThan(1e-6);
      if (ta) expect(normalizedMaxError(await ctx.read(ta), Array.from(s, (v) => activate(c.act, v)))).toBeLessThan(1e-6);

      // Input gradient of signals S: col2im of S^T W.
      const rows = 4;
      const S = f32(randomArray(rows * c.out * T, 60 + ci));
      const dP = new Float64Array(rows * T * l.fanIn);
      for (let r = 0; r < rows; r++)
        for (let t = 0; t < T; t++)
          for (let a = 0; a < l.fanIn; a++) {
            let acc = 0;
            for (let o = 0; o < c.out; o++) acc += S[(r * c.out + o) * T + t] * theta[offset + o * m + a];
            dP[(r * T + t) * l.fanIn + a] = acc;
          }
      const tS = ctx.upload(S, [S.length]);
      const tdx = ctx.tensor([rows * g.C * g.H * g.W]);
      convBackwardData(ctx, l, tS, tth, tdx, rows);
      expect(normalizedMaxError(await ctx.read(tdx), ref.col2imRef(dP, rows, g))).toBeLessThan(1e-6);

      // JVP: act'(s) o (V~ P^T + W (wMul tangent patches)), with and without an input tangent.
      const v = f32(randomArray(offset + l.size, 70 + ci));
      const tan = f32(randomArray(x.length, 80 + ci));
      const Ptan = ref.im2colRef(tan, n, { ...g, bMul: 0 });
      const direct = productRef(v, offset, P, n, c.out, T, m);
      const through = productRef(theta, offset, Ptan, n, c.out, T, m, l.fanIn);
      const tv = ctx.upload(v, [v.length]);
      const ttan = ctx.upload(tan, [tan.length]);
      const tds = ctx.tensor([s.length]);
      // act' at the float32 pre-activations the kernel is given (for saturated units, act' at the
      // float64 ones differs by the relative rounding of s times |s|: a property of the inputs).
      const pre32 = await ctx.read(ts);
      for (const withTangent of [true, false]) {
        const want = Array.from(pre32, (z, q) => activateDeriv(c.act, z) * (direct[q] + (withTangent ? through[q] : 0)));
        convJvp(ctx, l, tp, tth, tv, withTangent ? ttan : null, ts, tds, n);
        expect(normalizedMaxError(await ctx.read(tds), want)).toBeLessThan(2e-6);
      }
      for (const t of [tx, tth, tp, ts, ta, tS, tdx, tv, ttan, tds]) t?.destroy();
      expect(ctx.liveTensors).toBe(live);
    });
  });
});
