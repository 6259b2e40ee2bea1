// Infinite-width kernels (fixture README section 13): the linear steps of the NNGP / NTK
// recursion on per-(example, position)-pair maps, for a chunk of B example pairs at once.
// The float64 twin is src/reference/infinite.ts (same per-entry arithmetic, same summation order).
//
// Maps. For a pair (a, b), K[p, q] is the covariance between position p of example a and position
// q of example b (T the NTK). Only the pairs (p, q) that later layers read are kept: offsets
// |dy| <= RY, |dx| <= RX of the stage's grid (src/model/infinite-plan.ts neededBoxes: the diagonal
// alone without pooling, a 3 x 3 band behind a 2 x 2 pool). Each position keeps ROW partners:
// banded stages (BANDED) store partner j = p + (j / (2 RX + 1) - RY, j % (2 RX + 1) - RX), full
// stages store partner j = position j. A pair's map is P * ROW floats, entry (p, j) at p * ROW + j.
//
// Layouts (f32 unless noted; row-major):
//   pairs  u32 [B][2]           the chunk's example pairs (a, b): indices into X and the variances
//   X      [N][C][P]            every example's input (NCHW; a vector [d] is C = d, P = 1)
//   maps   [B][P][ROW]          as above, for the output stage (*_OUT) and the input stage (*_IN)
//   vars   [N][P]               Sigma(x, p; x, p) of every example (written from self pairs)
//
// Entry points (1-D over `count` invocations, 256 per workgroup, (x, y) workgroup grid; entries
// off the grid or outside the box return at once):
//   input_map  over B*P*ROW:  dst0 = (1/C) sum_c X[a, c, p] X[b, c, q],  dst1 = 0 (T of the input)
//   conv_map   over B*P*ROW:  M[K](P, Q) = (1/k^2) sum_{oy, ox} K[P*s + o - pad, Q*s + o - pad] (zero
//                             outside the input, counted in 1/k^2); dst0 = Sigma = sw2 M[K] + sb2,
//                             dst1 = Theta = Sigma + sw2 M[T]   (src0 = K, src1 = T)
//   dense_map  over B:        the same with M the mean of the P same-position entries K[p, p]
//   pool_map   over B*P*ROW:  dst0, dst1 = means of src0, src1 over the q x q windows of P and Q
//   diagonal   over B*P:      dst0[a*P + p] = src0[b, p, p]   (the self pair (a, a)'s variances)
// Bindings: 0 pairs, 1 src0, 2 src1 (read), 3 dst0, 4 dst1 (read-write), 5 uniforms (count, C,
// h_in, k, stride, pad, q, sw2 = sigma_w^2, sb2 = sigma_b^2). Limits: each binding below
// maxStorageBufferBindingSize (the host chunks pairs accordingly).
//
// The stage shapes are compiled in (override constants; one pipeline per layer shape): the index
// arithmetic then divides by constants, which the compiler turns into multiplications (measured
// 1.9x on conv_map under lavapipe). Loop bounds (C, k, q) stay uniforms: as constants the loops
// are unrolled and lavapipe's compile time grows to seconds per pipeline.
override P_OUT: u32 = 1u;
override W_OUT: u32 = 1u;
override ROW_OUT: u32 = 1u;
override RY_OUT: u32 = 0u;
override RX_OUT: u32 = 0u;
override BANDED_OUT: bool = false;
override P_IN: u32 = 1u;
override W_IN: u32 = 1u;
override ROW_IN: u32 = 1u;
override RY_IN: u32 = 0u;
override RX_IN: u32 = 0u;
override BANDED_IN: bool = false;

struct Params { count: u32, C: u32, h_in: u32, k: u32, stride: u32, pad: u32, q: u32, sw2: f32, sb2: f32 }

@group(0) @binding(0) var<storage, read> pairs: array<u32>;
@group(0) @binding(1) var<storage, read> src0: array<f32>;
@group(0) @binding(2) var<storage, read> src1: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst0: array<f32>;
@group(0) @binding(4) var<storage, read_write> dst1: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

fn flat(wg: vec3u, nwg: vec3u, lid: vec3u) -> u32 {
  return (wg.y * nwg.x + wg.x) * 256u + lid.x;
}

// Position of partner j of output position pa, or -1 (off the grid, or outside the box).
fn out_partner(pa: u32, j: u32) -> i32 {
  let y = i32(pa / W_OUT);
  let x = i32(pa % W_OUT);
  if (BANDED_OUT) {
    let span = 2u * RX_OUT + 1u;
    let yq = y + i32(j / span) - i32(RY_OUT);
    let xq = x + i32(j % span) - i32(RX_OUT);
    if (yq < 0 || yq >= i32(P_OUT / W_OUT) || xq < 0 || xq >= i32(W_OUT)) { return -1; }
    return yq * i32(W_OUT) + xq;
  }
  if (u32(abs(i32(j / W_OUT) - y)) > RY_OUT || u32(abs(i32(j % W_OUT) - x)) > RX_OUT) { return -1; }
  return i32(j);
}

// Index, within a pair's input map, of the entry for input positions (pa, pb).
fn in_index(pa: u32, pb: u32) -> u32 {
  if (BANDED_IN) {
    let dy = i32(pb / W_IN) - i32(pa / W_IN) + i32(RY_IN);
    let dx = i32(pb % W_IN) - i32(pa % W_IN) + i32(RX_IN);
    return pa * ROW_IN + u32(dy) * (2u * RX_IN + 1u) + u32(dx);
  }
  return pa * ROW_IN + pb;
}

@compute @workgroup_size(256)
fn input_map(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = flat(wg, nwg, lid);
  if (i >= p.count) { return; }
  let b = i / (P_OUT * ROW_OUT);
  let r = i % (P_OUT * ROW_OUT);
  let pa = r / ROW_OUT;
  let q = out_partner(pa, r % ROW_OUT);
  if (q < 0) { return; }
  let pb = u32(q);
  let P = P_OUT;
  let xa = pairs[2u * b] * p.C * P;
  let xb = pairs[2u * b + 1u] * p.C * P;
  var s = 0.0;
  for (var c = 0u; c < p.C; c++) {
    s += src0[xa + c * P + pa] * src0[xb + c * P + pb];
  }
  dst0[i] = s / f32(p.C);
  dst1[i] = 0.0;
}

@compute @workgroup_size(256)
fn conv_map(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = flat(wg, nwg, lid);
  if (i >= p.count) { return; }
  let b = i / (P_OUT * ROW_OUT);
  let r = i % (P_OUT * ROW_OUT);
  let oa = r / ROW_OUT;
  let q = out_partner(oa, r % ROW_OUT);
  if (q < 0) { return; }
  let ob = u32(q);
  let ya = i32((oa / W_OUT) * p.stride) - i32(p.pad);
  let xa = i32((oa % W_OUT) * p.stride) - i32(p.pad);
  let yb = i32((ob / W_OUT) * p.stride) - i32(p.pad);
  let xb = i32((ob % W_OUT) * p.stride) - i32(p.pad);
  let h = i32(p.h_in);
  let w = i32(W_IN);
  let base = b * P_IN * ROW_IN;
  var mk = 0.0;
  var mt = 0.0;
  for (var oy = 0; oy < i32(p.k); oy++) {
    let y1 = ya + oy;
    let y2 = yb + oy;
    if (y1 < 0 || y1 >= h || y2 < 0 || y2 >= h) { continue; }
    for (var ox = 0; ox < i32(p.k); ox++) {
      let x1 = xa + ox;
      let x2 = xb + ox;
      if (x1 < 0 || x1 >= w || x2 < 0 || x2 >= w) { continue; }
      let idx = base + in_index(u32(y1 * w + x1), u32(y2 * w + x2));
      mk += src0[idx];
      mt += src1[idx];
    }
  }
  let inv = 1.0 / f32(p.k * p.k);
  let sigma = p.sw2 * (mk * inv) + p.sb2;
  dst0[i] = sigma;
  dst1[i] = sigma + p.sw2 * (mt * inv);
}

@compute @workgroup_size(256)
fn dense_map(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let b = flat(wg, nwg, lid);
  if (b >= p.count) { return; }
  let base = b * P_IN * ROW_IN;
  var mk = 0.0;
  var mt = 0.0;
  for (var q = 0u; q < P_IN; q++) {
    let idx = base + in_index(q, q);
    mk += src0[idx];
    mt += src1[idx];
  }
  let sigma = p.sw2 * (mk / f32(P_IN)) + p.sb2;
  dst0[b] = sigma;
  dst1[b] = sigma + p.sw2 * (mt / f32(P_IN));
}

@compute @workgroup_size(256)
fn pool_map(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = flat(wg, nwg, lid);
  if (i >= p.count) { return; }
  let b = i / (P_OUT * ROW_OUT);
  let r = i % (P_OUT * ROW_OUT);
  let oa = r / ROW_OUT;
  let q = out_partner(oa, r % ROW_OUT);
  if (q < 0) { return; }
  let ob = u32(q);
  let ya = (oa / W_OUT) * p.q;
  let xa = (oa % W_OUT) * p.q;
  let yb = (ob / W_OUT) * p.q;
  let xb = (ob % W_OUT) * p.q;
  let base = b * P_IN * ROW_IN;
  var sk = 0.0;
  var st = 0.0;
  for (var i1 = 0u; i1 < p.q; i1++) {
    for (var j1 = 0u; j1 < p.q; j1++) {
      let pa = (ya + i1) * W_IN + xa + j1;
      for (var i2 = 0u; i2 < p.q; i2++) {
        for (var j2 = 0u; j2 < p.q; j2++) {
          let idx = base + in_index(pa, (yb + i2) * W_IN + xb + j2);
          sk += src0[idx];
          st += src1[idx];
        }
      }
    }
  }
  let inv = 1.0 / f32(p.q * p.q * p.q * p.q);
  dst0[i] = sk * inv;
  dst1[i] = st * inv;
}

@compute @workgroup_size(256)
fn diagonal(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = flat(wg, nwg, lid);
  if (i >= p.count) { return; }
  let b = i / P_IN;
  let q = i % P_IN;
  dst0[pairs[2u * b] * P_IN + q] = src0[b * P_IN * ROW_IN + in_index(q, q)];
}
