/**
 * Geometry of the reference beyond the fixtures: identities the README states or implies,
 * checked on shapes the fixtures lack (strided conv under cross_entropy, c = 1, NTK
 * parameterization), and the alternative algorithms the GPU engine will use (EKFAC from
 * projected signals, Frobenius errors from Gram identities).
 */
import { describe, expect, it } from 'vitest';
import { planModel } from '../src/model/layout';
import { Rng } from '../src/util/rng';
import { spectrumStats } from '../src/math/spectrum';
import { backwardSignals, forward, gradientsFromSignals, unitCotangents } from '../src/reference/model';
import { metricFactors, softmaxRows, whitenKernel, whitenRows } from '../src/math/training';
import {
  alignments,
  centerNtk,
  fisherFromWhitened,
  fisherFrobeniusFromWhitened,
  fisherNormsFromWhitenedKernel,
  fisherTraceFromWhitened,
  kernelTargetAlignment,
  kfacLayer,
  ntkFromJacobian,
  ntkFromSignals,
  ntkPerLayer,
  ntkWithLayers,
  ntkTargetAlignment,
  ntkTrace,
} from '../src/reference/geometry';
import { eigvalsSym, frobenius } from '../src/math/linalg';
import { CONV_STRIDED, MLP_SIGMOID, normErr, randomSpec } from './reference-helpers';

function setup(spec: ReturnType<typeof randomSpec>) {
  const plan = planModel(spec.model);
  const { n, c } = spec.data;
  const fw = forward(plan, spec.theta, spec.data.x, n);
  const signals = backwardSignals(fw, unitCotangents(n, c), n * c, c);
  const J = gradientsFromSignals(fw, signals, n * c, c);
  const Lt = metricFactors(spec.loss, fw.output, n, c);
  const Z = whitenRows(J, n, c, plan.P, Lt);
  return { plan, n, c, fw, signals, J, Lt, Z, P: plan.P };
}

describe('Fisher / GGN', () => {
  const spec = randomSpec({ ...CONV_STRIDED, loss: 'cross_entropy', n: 6, seed: 21 });
  const { n, c, fw, J, Z, P, Lt } = setup(spec);
  const F = fisherFromWhitened(Z, n, c, P);

  it('cross_entropy: equals (1/n) sum_i J_i^T (diag p - p p^T) J_i formed directly', () => {
    const p = softmaxRows(fw.output, n, c);
    const ref = new Float64Array(P * P);
    for (let i = 0; i < n; i++)
      for (let k = 0; k < c; k++)
        for (let l = 0; l < c; l++) {
          const m = (k === l ? p[i * c + k] : 0) - p[i * c + k] * p[i * c + l];
          for (let a = 0; a < P; a++) {
            const ja = J[(i * c + k) * P + a] * m;
            if (ja === 0) continue;
            for (let b = 0; b < P; b++) ref[a * P + b] += (ja * J[(i * c + l) * P + b]) / n;
          }
        }
    expect(normErr(F, ref)).toBeLessThan(1e-13);
  });

  it('trace and Frobenius norm from Z, and from the whitened NTK L^T K L, equal those of F', () => {
    let tr = 0;
    for (let a = 0; a < P; a++) tr += F[a * P + a];
    expect(Math.abs(fisherTraceFromWhitened(Z, n) - tr) / tr).toBeLessThan(1e-13);
    expect(Math.abs(fisherFrobeniusFromWhitened(Z, n, c, P) - frobenius(F)) / frobenius(F)).toBeLessThan(1e-13);
    const W = whitenKernel(ntkFromJacobian(J, n * c, P), n, c, Lt);
    expect(normErr(W, ntkFromJacobian(Z, n * c, P))).toBeLessThan(1e-13);
    const norms = fisherNormsFromWhitenedKernel(W, n, c);
    expect(Math.abs(norms.trace - tr) / tr).toBeLessThan(1e-13);
    expect(Math.abs(norms.frobenius - frobenius(F)) / frobenius(F)).toBeLessThan(1e-13);
  });
});

describe('KFAC / EKFAC', () => {
  const spec = randomSpec({ ...CONV_STRIDED, loss: 'cross_entropy', n: 6, seed: 21 });
  const { n, c, fw, signals, Z, Lt, P, J } = setup(spec);
  const F = fisherFromWhitened(Z, n, c, P);
  const layers = fw.plan.paramLayers;
  const results = layers.map((l) =>
    kfacLayer(fw, l, whitenRows(signals[l.paramIndex], n, c, l.out * l.positions, Lt), Z, { withBlocks: true }),
  );

  it('exact block is the diagonal block of F; its diagonal and norm match', () => {
    layers.forEach((l, li) => {
      const k = results[li];
      const block = new Float64Array(l.size * l.size);
      for (let a = 0; a < l.size; a++)
        for (let b = 0; b < l.size; b++) block[a * l.size + b] = F[(l.offset + a) * P + l.offset + b];
      expect(normErr(k.exactBlock!, block)).toBeLessThan(1e-13);
      expect(normErr(k.exactDiag, Float64Array.from({ length: l.size }, (_, a) => block[a * l.size + a]))).toBeLessThan(1e-13);
      expect(Math.abs(k.frobExact - frobenius(block)) / frobenius(block)).toBeLessThan(1e-13);
    });
  });

  it('EKFAC diagonal equals the projected-signal algorithm (sum over positions inside the square)', () => {
    layers.forEach((l, li) => {
      const k = results[li];
      const m = l.fanIn + 1;
      const T = l.positions;
      const Sw = whitenRows(signals[l.paramIndex], n, c, l.out * T, Lt);
      const patches = fw.patches[l.paramIndex];
      // Ahat[i,t,:] = U_A^T a~_{i,t};  Shat[r,:,t] = U_G^T Sw[r,:,t]
      const Ahat = new Float64Array(n * T * m);
      for (let it = 0; it < n * T; it++)
        for (let b = 0; b < m; b++) {
          let s = 0;
          for (let a = 0; a < m; a++) s += k.UA[a * m + b] * patches[it * m + a];
          Ahat[it * m + b] = s;
        }
      const s = new Float64Array(l.out * m);
      for (let r = 0; r < n * c; r++) {
        const i = Math.floor(r / c);
        for (let p = 0; p < l.out; p++) {
          const shat = new Float64Array(T);
          for (let t = 0; t < T; t++) {
            let v = 0;
            for (let o = 0; o < l.out; o++) v += k.UG[o * l.out + p] * Sw[(r * l.out + o) * T + t];
            shat[t] = v;
          }
          for (let b = 0; b < m; b++) {
            let g = 0;
            for (let t = 0; t < T; t++) g += shat[t] * Ahat[(i * T + t) * m + b];
            s[p * m + b] += (g * g) / n;
          }
        }
      }
      expect(normErr(k.ekfacS, s)).toBeLessThan(1e-12);
    });
  });

  it('EKFAC never does worse than KFAC in Frobenius norm; KFAC blocks are kron(G, A)', () => {
    for (const k of results) {
      expect(k.frobErrEkfac).toBeLessThanOrEqual(k.frobErrKfac * (1 + 1e-12));
      const m = k.layer.fanIn + 1;
      const N = k.layer.size;
      for (let o = 0; o < k.layer.out; o++)
        for (let a = 0; a < m; a++) expect(k.kfacBlock![(o * m + a) * N + o * m + a]).toBeCloseTo(k.kfacDiag[o * m + a], 15);
    }
  });

  it('the Gram-identity path (large layers) agrees with the explicit blocks', () => {
    layers.forEach((l, li) => {
      const k = results[li];
      const g = kfacLayer(fw, l, whitenRows(signals[l.paramIndex], n, c, l.out * l.positions, Lt), Z, {
        withBlocks: false,
        explicitMaxParams: 0,
      });
      expect(g.exactBlock).toBeUndefined();
      expect(Math.abs(g.frobExact - k.frobExact) / k.frobExact).toBeLessThan(1e-12);
      // sqrt of a difference of squares: about sqrt(eps) relative to ||F|| at worst.
      expect(Math.abs(g.frobErrKfac - k.frobErrKfac) / k.frobExact).toBeLessThan(1e-7);
      expect(Math.abs(g.frobErrEkfac - k.frobErrEkfac) / k.frobExact).toBeLessThan(1e-7);
      expect(normErr(g.ekfacS, k.ekfacS)).toBe(0);
      // Same, with the layer's whitened kernel from the NTK instead of a Gram product over Z.
      const Kl = ntkFromJacobian(J, n * c, P, l.offset, l.offset + l.size);
      const w = kfacLayer(fw, l, whitenRows(signals[l.paramIndex], n, c, l.out * l.positions, Lt), Z, {
        withBlocks: false,
        explicitMaxParams: 0,
        whitenedLayerKernel: whitenKernel(Kl, n, c, Lt),
      });
      expect(Math.abs(w.frobExact - k.frobExact) / k.frobExact).toBeLessThan(1e-12);
      expect(Math.abs(w.frobErrKfac - k.frobErrKfac) / k.frobExact).toBeLessThan(1e-7);
    });
  });

  it('a last linear layer under mse is exactly Kronecker: G = I and both errors vanish', () => {
    const mse = randomSpec({ ...CONV_STRIDED, loss: 'mse', n: 5, seed: 4 });
    const s = setup(mse);
    const last = s.plan.paramLayers[s.plan.paramLayers.length - 1];
    const k = kfacLayer(s.fw, last, whitenRows(s.signals[last.paramIndex], s.n, s.c, last.out, s.Lt), s.Z, { withBlocks: true });
    for (let o = 0; o < last.out; o++) for (let o2 = 0; o2 < last.out; o2++) expect(k.G[o * last.out + o2]).toBe(o === o2 ? 1 : 0);
    expect(k.frobErrKfac / k.frobExact).toBeLessThan(1e-14);
    expect(k.frobErrEkfac / k.frobExact).toBeLessThan(1e-14);
  });
});

describe('kernels and alignments', () => {
  it('factorized NTK from signals equals J J^T per layer (dense (ÃÃ^T)⊙(SS^T), conv via its block)', () => {
    for (const spec of [
      randomSpec({ ...CONV_STRIDED, loss: 'cross_entropy', n: 5, seed: 8 }),
      randomSpec({ ...MLP_SIGMOID, loss: 'mse', n: 7, seed: 9, scheme: 'ntk', sigma_w: 1.3, sigma_b: 0.2 }),
    ]) {
      const { n, c, J, plan, fw, signals } = setup(spec);
      const ref = ntkWithLayers(J, plan, n * c);
      const fac = ntkFromSignals(fw, signals);
      expect(normErr(fac.K, ref.K)).toBeLessThan(1e-14);
      fac.Kl.forEach((k, l) => expect(normErr(k, ref.Kl[l])).toBeLessThan(1e-14));
    }
  });

  it('per-layer traced kernels sum to the traced NTK', () => {
    const spec = randomSpec({ ...CONV_STRIDED, loss: 'cross_entropy', n: 5, seed: 8 });
    const { n, c, J, P, plan } = setup(spec);
    const K = ntkFromJacobian(J, n * c, P);
    const sum = new Float64Array(n * n);
    for (const Kl of ntkPerLayer(J, plan, n * c)) ntkTrace(Kl, n, c).forEach((v, i) => (sum[i] += v));
    expect(normErr(sum, ntkTrace(K, n, c))).toBeLessThan(1e-14);
  });

  it('centered NTK equals the Gram matrix of the Jacobian centered over examples per output', () => {
    const spec = randomSpec({ ...MLP_SIGMOID, loss: 'mse', n: 7, seed: 9, scheme: 'ntk', sigma_w: 1.3, sigma_b: 0.2 });
    const { n, c, J, P } = setup(spec);
    const Jc = Float64Array.from(J);
    for (let k = 0; k < c; k++)
      for (let p = 0; p < P; p++) {
        let s = 0;
        for (let i = 0; i < n; i++) s += J[(i * c + k) * P + p];
        for (let i = 0; i < n; i++) Jc[(i * c + k) * P + p] -= s / n;
      }
    expect(normErr(centerNtk(ntkFromJacobian(J, n * c, P), n, c), ntkFromJacobian(Jc, n * c, P))).toBeLessThan(1e-13);
  });

  it('for c = 1 the NTK-target alignments equal the kernel-target ones (README section 9)', () => {
    const spec = randomSpec({
      input: [3],
      layers: [
        { type: 'dense', units: 7, activation: 'tanh' },
        { type: 'dense', units: 1, activation: 'linear' },
      ],
      loss: 'mse',
      n: 9,
      seed: 12,
    });
    const { n, c, J, P, plan } = setup(spec);
    const K = ntkFromJacobian(J, n * c, P);
    const al = alignments(K, ntkPerLayer(J, plan, n * c), spec.data.y, n, c);
    expect(al.ntk_centered).toBeCloseTo(al.centered, 13);
    expect(al.ntk_uncentered).toBeCloseTo(al.uncentered, 13);
    al.per_layer_ntk_centered.forEach((v, l) => expect(v).toBeCloseTo(al.per_layer_centered[l], 13));
  });

  it('alignments are scale invariant and equal 1 for a kernel built from the targets', () => {
    const rng = new Rng(3);
    const [n, c] = [6, 2];
    const Y = Float64Array.from({ length: n * c }, () => rng.normal());
    // K = v v^T on the full index: the NTK alignment is exactly 1.
    const N = n * c;
    const Yc = Float64Array.from(Y);
    for (let k = 0; k < c; k++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += Y[i * c + k];
      for (let i = 0; i < n; i++) Yc[i * c + k] -= s / n;
    }
    const K = new Float64Array(N * N);
    for (let a = 0; a < N; a++) for (let b = 0; b < N; b++) K[a * N + b] = 3 * Yc[a] * Yc[b];
    expect(ntkTargetAlignment(K, Y, n, c, true)).toBeCloseTo(1, 14);
    const Ktr = ntkTrace(K, n, c);
    const Kyy = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < c; k++) Kyy[i * n + j] += Y[i * c + k] * Y[j * c + k];
    expect(kernelTargetAlignment(Kyy.map((v) => 5 * v), Y, n, c, false)).toBeCloseTo(1, 14);
    expect(kernelTargetAlignment(Ktr, Y, n, c, true)).toBeCloseTo(kernelTargetAlignment(Ktr.map((v) => 1e-3 * v), Y, n, c, true), 14);
  });

  it('spectrum statistics: identity has effective rank N and trace ratios k/N', () => {
    const N = 12;
    const I = new Float64Array(N * N);
    for (let i = 0; i < N; i++) I[i * N + i] = 2;
    const s = spectrumStats(eigvalsSym(I, N));
    expect(s.effective_rank).toBeCloseTo(N, 12);
    expect(s.trace_ratio['1']).toBeCloseTo(1 / N, 15);
    expect(s.trace_ratio['5']).toBeCloseTo(5 / N, 15);
    expect(s.trace_ratio['10']).toBeCloseTo(10 / N, 15);
    const r1 = spectrumStats(eigvalsSym(new Float64Array([1, 1, 1, 1]), 2)); // rank 1: eigenvalues 2, 0
    expect(r1.eigenvalues[0]).toBeCloseTo(2, 15);
    expect(r1.effective_rank).toBeCloseTo(1, 14);
    expect(r1.trace_ratio['5']).toBe(1);
  });
});
