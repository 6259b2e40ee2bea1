/**
 * The f64 symmetric eigensolver (and the small dense helpers) on adversarial matrices:
 * residual `||A V - V L||_F / ||A||_F`, orthogonality `||V^T V - I||_F`, ascending order,
 * and known eigenvalues where there are some.
 */
import { describe, expect, it } from 'vitest';
import { Rng } from '../src/util/rng';
import {
  choleskySolve,
  eighSym,
  eigvalsSym,
  frobenius,
  gramCols,
  gramRows,
  kron,
  kronCongruence,
  matmul,
  matmulNT,
  matmulTN,
  transpose,
} from '../src/math/linalg';

const EPS = 2 ** -52;

function randomSymmetric(n: number, rng: Rng): Float64Array {
  const A = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j <= i; j++) {
      const v = rng.normal();
      A[i * n + j] = v;
      A[j * n + i] = v;
    }
  return A;
}

/** Haar-ish random orthogonal matrix: modified Gram-Schmidt on a Gaussian matrix. */
function randomOrthogonal(n: number, rng: Rng): Float64Array {
  const Q = new Float64Array(n * n);
  for (let i = 0; i < n * n; i++) Q[i] = rng.normal();
  for (let j = 0; j < n; j++) {
    for (let pass = 0; pass < 2; pass++)
      for (let k = 0; k < j; k++) {
        let d = 0;
        for (let i = 0; i < n; i++) d += Q[i * n + j] * Q[i * n + k];
        for (let i = 0; i < n; i++) Q[i * n + j] -= d * Q[i * n + k];
      }
    let s = 0;
    for (let i = 0; i < n; i++) s += Q[i * n + j] ** 2;
    s = Math.sqrt(s);
    for (let i = 0; i < n; i++) Q[i * n + j] /= s;
  }
  return Q;
}

/** `Q diag(lambda) Q^T`, exactly symmetrized. */
function withSpectrum(lambda: number[], rng: Rng): Float64Array {
  const n = lambda.length;
  const Q = randomOrthogonal(n, rng);
  const QL = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) QL[i * n + j] = Q[i * n + j] * lambda[j];
  const A = matmulNT(QL, Q, n, n, n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < i; j++) {
      const v = 0.5 * (A[i * n + j] + A[j * n + i]);
      A[i * n + j] = v;
      A[j * n + i] = v;
    }
  return A;
}

/** Check a decomposition; returns the eigenvalues for further checks. */
function checkEigh(A: Float64Array, n: number, tolFactor = 50): Float64Array {
  const Acopy = Float64Array.from(A);
  const { values, vectors: V } = eighSym(A, n);
  expect(A).toEqual(Acopy); // input untouched
  expect(values.length).toBe(n);
  for (let i = 1; i < n; i++) expect(values[i]).toBeGreaterThanOrEqual(values[i - 1]);
  const normA = frobenius(A);
  const AV = matmul(A, V, n, n, n);
  const R = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) R[i * n + j] = AV[i * n + j] - V[i * n + j] * values[j];
  const tol = tolFactor * n * EPS;
  expect(frobenius(R)).toBeLessThanOrEqual(tol * Math.max(normA, Number.MIN_VALUE));
  const VtV = matmulTN(V, V, n, n, n);
  for (let i = 0; i < n; i++) VtV[i * n + i] -= 1;
  expect(frobenius(VtV)).toBeLessThanOrEqual(tol);
  // The values-only path agrees to round-off.
  const vals = eigvalsSym(A, n);
  for (let i = 0; i < n; i++) expect(Math.abs(vals[i] - values[i])).toBeLessThanOrEqual(tol * Math.max(normA, Number.MIN_VALUE));
  return values;
}

function expectValues(values: Float64Array, expected: number[], tol: number): void {
  const sorted = expected.slice().sort((a, b) => a - b);
  const scale = Math.max(...sorted.map(Math.abs), Number.MIN_VALUE);
  sorted.forEach((v, i) => expect(Math.abs(values[i] - v)).toBeLessThanOrEqual(tol * scale));
}

describe('eighSym', () => {
  const rng = new Rng(2024);

  it('1x1, 2x2 and empty', () => {
    expectValues(checkEigh(new Float64Array([-3.5]), 1), [-3.5], 0);
    expectValues(checkEigh(new Float64Array([2, 1, 1, 2]), 2), [1, 3], 1e-15);
    expectValues(checkEigh(new Float64Array([0, 1e-300, 1e-300, 0]), 2), [-1e-300, 1e-300], 1e-15);
    expect(eighSym(new Float64Array(0), 0).values.length).toBe(0);
  });

  it('random symmetric (n = 50) and n = 200', () => {
    checkEigh(randomSymmetric(50, rng), 50);
    checkEigh(randomSymmetric(200, rng), 200);
  });

  it('zero matrix gives zeros and the identity', () => {
    const n = 10;
    const { values, vectors } = eighSym(new Float64Array(n * n), n);
    expect(Array.from(values)).toEqual(new Array(n).fill(0));
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) expect(vectors[i * n + j]).toBe(i === j ? 1 : 0);
  });

  it('diagonal (unsorted, signed) is sorted with permutation vectors; identity stays identity', () => {
    const d = [3, -1, 0, 7, -1e-8, 2];
    const n = d.length;
    const A = new Float64Array(n * n);
    d.forEach((v, i) => (A[i * n + i] = v));
    const values = checkEigh(A, n);
    expect(Array.from(values)).toEqual(d.slice().sort((a, b) => a - b));
    const I = new Float64Array(16);
    for (let i = 0; i < 4; i++) I[i * 4 + i] = 1;
    const e = eighSym(I, 4);
    expect(Array.from(e.vectors)).toEqual(Array.from(I)); // LAPACK returns I too (EKFAC with G = I)
  });

  it('repeated eigenvalues', () => {
    const lambda = [1, 1, 1, 2, 2, 5, 5, 5, 5, -3, -3, 0, 0, 0];
    expectValues(checkEigh(withSpectrum(lambda, rng), lambda.length), lambda, 1e-14);
  });

  it('clustered eigenvalues (gaps of 1e-10)', () => {
    const lambda = Array.from({ length: 30 }, (_, k) => 1 + 1e-10 * k);
    expectValues(checkEigh(withSpectrum(lambda, rng), 30), lambda, 1e-14);
  });

  it('wide dynamic range 1e-6 .. 1 (absolute accuracy eps * ||A||)', () => {
    const lambda = Array.from({ length: 40 }, (_, k) => 10 ** (-6 + (6 * k) / 39));
    const values = checkEigh(withSpectrum(lambda, rng), 40);
    expectValues(values, lambda, 1e-14);
    expect(values[0]).toBeGreaterThan(0.9e-6);
  });

  it('rank 1 (v v^T)', () => {
    const n = 25;
    const v = Array.from({ length: n }, () => rng.normal());
    const A = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) A[i * n + j] = v[i] * v[j];
    const vv = v.reduce((s, x) => s + x * x, 0);
    expectValues(checkEigh(A, n), [...new Array(n - 1).fill(0), vv], 1e-14);
  });

  it('indefinite with known spectrum', () => {
    const lambda = [-10, -2.5, -1e-3, 0, 1e-3, 4, 9, 9.5];
    expectValues(checkEigh(withSpectrum(lambda, rng), lambda.length), lambda, 1e-14);
  });

  it('tridiagonal 1-D Laplacian (known spectrum 2 - 2 cos(k pi / (n+1)))', () => {
    const n = 60;
    const A = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      A[i * n + i] = 2;
      if (i > 0) A[i * n + i - 1] = A[(i - 1) * n + i] = -1;
    }
    const exact = Array.from({ length: n }, (_, k) => 2 - 2 * Math.cos(((k + 1) * Math.PI) / (n + 1)));
    expectValues(checkEigh(A, n), exact, 1e-14);
  });

  it('Wilkinson W21+ (pairs of nearly equal eigenvalues)', () => {
    const n = 21;
    const A = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      A[i * n + i] = Math.abs(10 - i);
      if (i > 0) A[i * n + i - 1] = A[(i - 1) * n + i] = 1;
    }
    const values = checkEigh(A, n);
    expect(values[n - 1]).toBeCloseTo(10.746194182903393, 13);
    expect(values[n - 2]).toBeCloseTo(10.746194182903322, 13);
  });

  it('extreme scales (1e-150 and 1e150) scale the eigenvalues', () => {
    const n = 12;
    const B = randomSymmetric(n, rng);
    const base = eighSym(B, n).values;
    for (const s of [1e-150, 1e150]) {
      const A = B.map((x) => x * s);
      const values = checkEigh(A, n);
      for (let i = 0; i < n; i++) expect(Math.abs(values[i] / s - base[i])).toBeLessThan(1e-13 * Math.abs(base[n - 1]));
    }
  });

  it('graded matrix A_ij = 2^-(i+j) * r_ij', () => {
    const n = 20;
    const R = randomSymmetric(n, rng);
    const A = R.map((x, k) => x * 2 ** -(Math.floor(k / n) + (k % n)));
    checkEigh(A, n);
  });

  it('reads the lower triangle only', () => {
    const n = 6;
    const A = randomSymmetric(n, rng);
    const L = Float64Array.from(A);
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) L[i * n + j] = 99;
    expect(Array.from(eighSym(L, n).values)).toEqual(Array.from(eighSym(A, n).values));
  });

  it('rejects non-finite input and wrong sizes', () => {
    expect(() => eighSym(new Float64Array([NaN]), 1)).toThrow(/non-finite/);
    expect(() => eighSym(new Float64Array(3), 2)).toThrow(/entries/);
  });
});

describe('dense helpers', () => {
  const rng = new Rng(7);
  const rand = (k: number) => Float64Array.from({ length: k }, () => rng.normal());

  it('matmul variants, transpose and Gram matrices agree', () => {
    const [m, k, n] = [5, 7, 4];
    const A = rand(m * k);
    const B = rand(k * n);
    const C = matmul(A, B, m, k, n);
    const C2 = matmulTN(transpose(A, m, k), B, k, m, n);
    const C3 = matmulNT(A, transpose(B, k, n), m, k, n);
    for (let i = 0; i < m * n; i++) {
      expect(C2[i]).toBeCloseTo(C[i], 13);
      expect(C3[i]).toBeCloseTo(C[i], 13);
    }
    const G1 = gramRows(A, m, k, 2, 6);
    const G2 = gramCols(transpose(A, m, k), k, m).length; // shape sanity
    expect(G2).toBe(m * m);
    const Asub = new Float64Array(m * 4);
    for (let i = 0; i < m; i++) for (let j = 0; j < 4; j++) Asub[i * 4 + j] = A[i * k + 2 + j];
    const G3 = matmulNT(Asub, Asub, m, 4, m);
    for (let i = 0; i < m * m; i++) expect(G1[i]).toBeCloseTo(G3[i], 13);
    const Gc = gramCols(A, m, k, 1, 5);
    for (let p = 0; p < 4; p++)
      for (let q = 0; q < 4; q++) {
        let s = 0;
        for (let r = 0; r < m; r++) s += A[r * k + 1 + p] * A[r * k + 1 + q];
        expect(Gc[p * 4 + q]).toBeCloseTo(s, 13);
      }
  });

  it('kronCongruence equals (U (x) V) X (U (x) V)^T formed densely', () => {
    const [p, q] = [3, 4];
    const U = rand(p * p);
    const V = rand(q * q);
    const N = p * q;
    const X = rand(N * N);
    const Q = kron(U, p, V, q);
    const dense = matmulNT(matmul(Q, X, N, N, N), Q, N, N, N);
    const fast = kronCongruence(X, U, p, V, q);
    for (let i = 0; i < N * N; i++) expect(fast[i]).toBeCloseTo(dense[i], 11);
  });

  it('frobenius is scale-safe and exact on simple cases', () => {
    expect(frobenius(new Float64Array([3, 4]))).toBe(5);
    expect(frobenius(new Float64Array([3e-200, 4e-200]))).toBeCloseTo(5e-200, 210);
    expect(frobenius(new Float64Array([3e200, 4e200])) / 5e200).toBeCloseTo(1, 15);
    expect(frobenius(new Float64Array(4))).toBe(0);
  });

  it('choleskySolve solves SPD systems and rejects indefinite ones', () => {
    const n = 8;
    const M = rand(n * n);
    const A = matmulNT(M, M, n, n, n);
    for (let i = 0; i < n; i++) A[i * n + i] += 0.1;
    const B = rand(n * 2);
    const X = choleskySolve(A, n, B, 2);
    const AX = matmul(A, X, n, n, 2);
    for (let i = 0; i < n * 2; i++) expect(AX[i]).toBeCloseTo(B[i], 10);
    expect(() => choleskySolve(new Float64Array([1, 2, 2, 1]), 2, new Float64Array([1, 1]))).toThrow(/positive definite/);
  });
});
