/**
 * The Fisher representations (src/curvature/representations.ts): every operation of every
 * representation against a dense float64 computation of the matrix it represents
 * (Dense / Implicit / full-rank LowRank: F; Diag: diag F; BlockDiag: the layer blocks of F;
 * KFAC: blockdiag(G (x) A); EKFAC: blockdiag(Q diag(s) Q^T); truncated LowRank: the top-k
 * eigendecomposition of F), on an MLP (cross_entropy) and a strided conv net (mse). Then the
 * contract for bad input: undamped solves of singular matrices, negative or non-finite damping,
 * unsupported operations.
 */
import { describe, expect, it } from 'vitest';
import { gpuContext } from './helpers/gpu';
import { CONV_STRIDED, randomSpec } from './reference-helpers';
import { planOf } from '../src/model/layout';
import type { ResolvedSpec } from '../src/experiment/types';
import type { GpuContext } from '../src/gpu/context';
import type { ModelPlan } from '../src/model/layout';
import { forward, gradientsFromSignals, jacobianSignals } from '../src/reference/model';
import { fisherFromWhitened, kfacLayer } from '../src/reference/geometry';
import { metricFactors, whitenRows } from '../src/math/training';
import { choleskySolve, eighSym, eigvalsSym, kron } from '../src/math/linalg';
import {
  buildFisher,
  DiagFisher,
  FISHER_KINDS,
  FisherSource,
  SingularError,
  UnsupportedOperationError,
  type FisherKind,
  type FisherRepresentation,
} from '../src/curvature/representations';
import { piDamping } from '../src/math/training';

// ---------------------------------------------------------------------------------------------
// float64 oracles

const f32 = (a: Float64Array) => Float64Array.from(Float32Array.from(a));

interface Oracle {
  P: number;
  /** Dense matrix of each representation kind. */
  M: Record<FisherKind, Float64Array>;
  /** KFAC's pi-damped (G_d (x) A_d) per layer, as a function of the damping. */
  kfacDamped: (damping: number) => Float64Array;
}

function blockDiag(P: number, plan: ModelPlan, blocks: Float64Array[]): Float64Array {
  const M = new Float64Array(P * P);
  plan.paramLayers.forEach((l, i) => {
    for (let r = 0; r < l.size; r++) for (let c = 0; c < l.size; c++) M[(l.offset + r) * P + l.offset + c] = blocks[i][r * l.size + c];
  });
  return M;
}

function oracle(spec: ResolvedSpec, rank?: number): Oracle {
  const plan = planOf(spec);
  const { n, c } = spec.data;
  const P = plan.P;
  const rows = n * c;
  const fw = forward(plan, f32(spec.theta), f32(spec.data.x), n);
  const signals = jacobianSignals(fw);
  const J = gradientsFromSignals(fw, signals, rows, c);
  const Lt = metricFactors(spec.loss, fw.output, n, c);
  const Z = whitenRows(J, n, c, P, Lt);
  const F = fisherFromWhitened(Z, n, c, P);
  const layers = plan.paramLayers.map((l) =>
    kfacLayer(fw, l, whitenRows(signals[l.paramIndex], n, c, l.out * l.positions, Lt), Z, { withBlocks: true }),
  );
  const diag = new Float64Array(P * P);
  for (let i = 0; i < P; i++) diag[i * P + i] = F[i * P + i];
  const exact = blockDiag(
    P,
    plan,
    plan.paramLayers.map((l) => {
      const B = new Float64Array(l.size * l.size);
      for (let r = 0; r < l.size; r++) for (let q = 0; q < l.size; q++) B[r * l.size + q] = F[(l.offset + r) * P + l.offset + q];
      return B;
    }),
  );
  // Top-k eigendecomposition of F for the truncated LowRank.
  const e = eighSym(F, P);
  const low = new Float64Array(P * P);
  const k = rank ?? P;
  for (let j = P - k; j < P; j++) {
    const lam = e.values[j];
    if (lam <= 1e-6 * e.values[P - 1]) continue;
    for (let a = 0; a < P; a++) for (let b = 0; b < P; b++) low[a * P + b] += lam * e.vectors[a * P + j] * e.vectors[b * P + j];
  }
  return {
    P,
    M: {
      dense: F,
      implicit: F,
      'low-rank': low,
      diag,
      'block-diag': exact,
      kfac: blockDiag(P, plan, layers.map((k) => k.kfacBlock!)),
      ekfac: blockDiag(P, plan, layers.map((k) => k.ekfacBlock!)),
    },
    kfacDamped: (damping) =>
      blockDiag(
        P,
        plan,
        layers.map((k) => {
          const m = k.layer.fanIn + 1;
          const out = k.layer.out;
          const pi = piDamping(k.eigA, k.eigG);
          const sl = Math.sqrt(damping);
          const Gd = Float64Array.from(k.G);
          const Ad = Float64Array.from(k.A);
          for (let i = 0; i < out; i++) Gd[i * out + i] += sl / pi;
          for (let i = 0; i < m; i++) Ad[i * m + i] += pi * sl;
          return kron(Gd, out, Ad, m);
        }),
      ),
  };
}

const mv = (M: Float64Array, v: Float64Array, P: number) => {
  const o = new Float64Array(P);
  for (let i = 0; i < P; i++) {
    let s = 0;
    for (let j = 0; j < P; j++) s += M[i * P + j] * v[j];
    o[i] = s;
  }
  return o;
};
const addDiag = (M: Float64Array, d: number, P: number) => {
  const B = Float64Array.from(M);
  for (let i = 0; i < P; i++) B[i * P + i] += d;
  return B;
};
function inverse(M: Float64Array, P: number): Float64Array {
  const I = new Float64Array(P * P);
  for (let i = 0; i < P; i++) I[i * P + i] = 1;
  return choleskySolve(M, P, I, P);
}
function normErr(x: ArrayLike<number>, ref: ArrayLike<number>): number {
  let e = 0;
  let r = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(x[i] - ref[i]);
    e = Number.isNaN(d) ? Infinity : Math.max(e, d);
    r = Math.max(r, Math.abs(ref[i]));
  }
  return r > 0 ? e / r : e;
}
const relErr = (x: number, ref: number) => Math.abs(x - ref) / Math.abs(ref);

// ---------------------------------------------------------------------------------------------

const MODELS: [string, Parameters<typeof randomSpec>[0]][] = [
  [
    'tanh MLP, cross_entropy',
    {
      input: [3],
      layers: [
        { type: 'dense', units: 5, activation: 'tanh' },
        { type: 'dense', units: 4, activation: 'tanh' },
        { type: 'dense', units: 3, activation: 'linear' },
      ],
      loss: 'cross_entropy',
      n: 12,
      seed: 31,
    },
  ],
  ['strided conv, mse', { ...CONV_STRIDED, loss: 'mse', n: 4, seed: 32 }],
];

/** Errors of every operation of one representation against its f64 matrix. */
async function opErrors(ctx: GpuContext, F: FisherRepresentation, M: Float64Array, P: number, kind: FisherKind, o: Oracle, v64: Float64Array) {
  const v = ctx.upload(v64, [P], 'v');
  const lmax = eigvalsSym(o.M.dense, P)[P - 1];
  const damping = 0.1 * lmax;
  const errs: Record<string, number> = {};

  const Fv = F.mv(v);
  errs.mv = normErr(await ctx.read(Fv), mv(M, v64, P));
  Fv.destroy();
  const vMv = v64.reduce((s, x, i) => s + x * mv(M, v64, P)[i], 0);
  errs.vTMv = relErr(await F.vTMv(v), vMv);
  let tr = 0;
  let fro = 0;
  for (let i = 0; i < P; i++) tr += M[i * P + i];
  for (const x of M) fro += x * x;
  errs.trace = relErr(await F.trace(), tr);
  errs.frobeniusNorm = relErr(await F.frobeniusNorm(), Math.sqrt(fro));
  const d = F.diag();
  errs.diag = normErr(await ctx.read(d), Array.from({ length: P }, (_, i) => M[i * P + i]));
  d.destroy();
  const ev = await F.eigenvalues();
  const evRef = eigvalsSym(M, P);
  errs.eigenvalues = normErr(ev, evRef);

  const Md = kind === 'kfac' ? o.kfacDamped(damping) : addDiag(M, damping, P);
  const x = await F.solve(v, damping);
  errs.solve = normErr(await ctx.read(x), choleskySolve(Md, P, v64));
  x.destroy();
  if (kind !== 'implicit' && kind !== 'low-rank') {
    const inv = await F.inverse(damping);
    const D = await inv.toDense();
    errs.inverse = normErr(await ctx.read(D), inverse(Md, P));
    D.destroy();
    inv.dispose();
  }
  const D = await F.toDense();
  errs.toDense = normErr(await ctx.read(D), M);
  D.destroy();
  v.destroy();
  return errs;
}

const TOL: Record<string, number> = {
  mv: 1e-5,
  vTMv: 1e-5,
  trace: 1e-5,
  frobeniusNorm: 1e-5,
  diag: 1e-5,
  eigenvalues: 1e-5,
  solve: 1e-4,
  inverse: 1e-4,
  toDense: 1e-5,
};

describe('every operation of every representation against dense float64', () => {
  for (const [name, o] of MODELS) {
    it(name, async () => {
      const ctx = await gpuContext();
      const live = ctx.liveTensors;
      const spec = randomSpec(o);
      const plan = planOf(spec);
      const orc = oracle(spec);
      const P = orc.P;
      const v64 = f32(Float64Array.from({ length: P }, (_, i) => Math.sin(1.3 * i + 0.2)));
      const src = FisherSource.create(ctx, plan, spec.data.x, spec.data.n, spec.theta, spec.loss);
      const report: Record<string, Record<string, string>> = {};
      try {
        for (const kind of FISHER_KINDS) {
          const F = await buildFisher(kind, src, { cg: { tol: 1e-6 } });
          try {
            const errs = await opErrors(ctx, F, orc.M[kind], P, kind, orc, v64);
            report[kind] = Object.fromEntries(Object.entries(errs).map(([k, e]) => [k, e.toExponential(1)]));
            for (const [op, e] of Object.entries(errs)) expect(e, `${kind}.${op}`).toBeLessThanOrEqual(TOL[op]);
          } finally {
            F.dispose();
          }
        }
      } finally {
        src.dispose();
      }
      if (process.env.TANGENT_VERBOSE) console.table(report);
      expect(ctx.liveTensors).toBe(live);
    });
  }

  it('a truncated LowRank is the top-k eigendecomposition of F', async () => {
    const ctx = await gpuContext();
    const live = ctx.liveTensors;
    const spec = randomSpec(MODELS[0][1]);
    const orc = oracle(spec, 4);
    const P = orc.P;
    const src = FisherSource.create(ctx, planOf(spec), spec.data.x, spec.data.n, spec.theta, spec.loss);
    const F = await buildFisher('low-rank', src, { rank: 4 });
    src.dispose();
    const v64 = f32(Float64Array.from({ length: P }, (_, i) => Math.cos(0.7 * i)));
    const v = ctx.upload(v64, [P], 'v');
    const Fv = F.mv(v);
    expect(normErr(await ctx.read(Fv), mv(orc.M['low-rank'], v64, P))).toBeLessThan(1e-5);
    expect(normErr(await F.eigenvalues(), eigvalsSym(orc.M['low-rank'], P))).toBeLessThan(1e-5);
    let tr = 0;
    for (let i = 0; i < P; i++) tr += orc.M['low-rank'][i * P + i];
    expect(relErr(await F.trace(), tr)).toBeLessThan(1e-5);
    Fv.destroy();
    v.destroy();
    F.dispose();
    expect(ctx.liveTensors).toBe(live);
  });

  it('undamped solves of nonsingular representations', async () => {
    const ctx = await gpuContext();
    const live = ctx.liveTensors;
    // 2-3-2 tanh, mse, n = 16: F is 17 x 17 of rank 17 (32 rows).
    const spec = randomSpec({
      input: [2],
      layers: [
        { type: 'dense', units: 3, activation: 'tanh' },
        { type: 'dense', units: 2, activation: 'linear' },
      ],
      loss: 'mse',
      n: 16,
      seed: 33,
    });
    const orc = oracle(spec);
    const P = orc.P;
    const v64 = f32(Float64Array.from({ length: P }, (_, i) => 1 + 0.1 * i));
    const v = ctx.upload(v64, [P], 'v');
    const src = FisherSource.create(ctx, planOf(spec), spec.data.x, spec.data.n, spec.theta, spec.loss);
    try {
      for (const kind of FISHER_KINDS) {
        const F = await buildFisher(kind, src, { cg: { tol: 1e-7, maxIterations: 500 } });
        const M = orc.M[kind];
        const ev = eigvalsSym(M, P);
        const cond = ev[P - 1] / ev[0];
        const x = await F.solve(v, 0);
        // The float32 error of a solve grows with the condition number.
        const err = normErr(await ctx.read(x), choleskySolve(M, P, v64));
        expect(err, `${kind} (cond ${cond.toExponential(1)})`).toBeLessThan(Math.max(1e-4, 1e-6 * cond));
        x.destroy();
        F.dispose();
      }
    } finally {
      src.dispose();
      v.destroy();
    }
    expect(ctx.liveTensors).toBe(live);
  });
});

describe('bad input: clear errors, never NaN passed on', () => {
  it('undamped solve of a singular representation throws SingularError, for every kind', async () => {
    const ctx = await gpuContext();
    const live = ctx.liveTensors;
    // n = 6 < m = 13 and n c = 24 < P: F, its blocks, A and the EKFAC diagonal are all singular.
    const spec = randomSpec({
      input: [12],
      layers: [
        { type: 'dense', units: 7, activation: 'relu' },
        { type: 'dense', units: 4, activation: 'linear' },
      ],
      loss: 'cross_entropy',
      n: 6,
      seed: 7,
    });
    const P = planOf(spec).P;
    const v = ctx.upload(new Float32Array(P).fill(1), [P], 'v');
    const src = FisherSource.create(ctx, planOf(spec), spec.data.x, spec.data.n, spec.theta, spec.loss);
    try {
      for (const kind of FISHER_KINDS) {
        if (kind === 'diag') continue; // its diagonal is positive here; see the next test
        const F = await buildFisher(kind, src);
        await expect(F.solve(v, 0), kind).rejects.toThrow(SingularError);
        if (kind !== 'implicit' && kind !== 'low-rank') await expect(F.inverse(0), kind).rejects.toThrow(SingularError);
        // The same solve with damping works and is finite.
        const x = await F.solve(v, 1e-2);
        const xs = await ctx.read(x);
        expect(xs.every(Number.isFinite), kind).toBe(true);
        x.destroy();
        F.dispose();
      }
    } finally {
      src.dispose();
    }
    const D = new DiagFisher(ctx, 3, ctx.upload([1, 0, 2], [3], 'd'));
    const w = ctx.upload([1, 1, 1], [3], 'w');
    await expect(D.solve(w, 0)).rejects.toThrow(SingularError);
    await expect(D.inverse(0)).rejects.toThrow(SingularError);
    D.dispose();
    w.destroy();
    v.destroy();
    expect(ctx.liveTensors).toBe(live);
  });

  it('negative or non-finite damping and unsupported operations throw, for every kind', async () => {
    const ctx = await gpuContext();
    const live = ctx.liveTensors;
    const spec = randomSpec(MODELS[0][1]);
    const P = planOf(spec).P;
    const v = ctx.upload(new Float32Array(P).fill(1), [P], 'v');
    const short = ctx.upload([1, 2], [2], 'short');
    const src = FisherSource.create(ctx, planOf(spec), spec.data.x, spec.data.n, spec.theta, spec.loss);
    try {
      for (const kind of FISHER_KINDS) {
        const F = await buildFisher(kind, src);
        for (const bad of [-1e-3, Number.NaN, Number.POSITIVE_INFINITY]) {
          await expect(F.solve(v, bad), `${kind} ${bad}`).rejects.toThrow(/damping must be a finite number >= 0/);
        }
        expect(() => F.mv(short), kind).toThrow(/needs a vector of/);
        if (kind === 'implicit' || kind === 'low-rank') await expect(F.inverse(1e-3)).rejects.toThrow(UnsupportedOperationError);
        else await expect(F.inverse(-1)).rejects.toThrow(/damping/);
        F.dispose();
      }
    } finally {
      src.dispose();
    }
    v.destroy();
    short.destroy();
    expect(ctx.liveTensors).toBe(live);
  });
});
