// Infinite-width kernels (fixture README section 13): the linear steps of the NNGP / NTK
// recursion on per-(example, position)-pair maps, for a chunk of B example pairs at once.
// The float64 twin is src/reference/infinite.ts (same functions, same summation order).
//
// Layouts (f32 unless noted; row-major):
//   pairs  u32 [B][2]           the chunk's example pairs (a, b): indices into X and the variances
//   X      [N][C][P]            every example's input (NCHW; a vector [d] is C = d, P = 1)
//   maps   [B][P][P]            K[b, p, p'] for example a at position p, example b at position p'
//   vars   [N][P]               Sigma(x, p; x, p) of every example (written from self pairs)
//
// Only the entries later layers read are written: position offsets |dy| <= ry, |dx| <= rx of the
// output stage (src/model/infinite-plan.ts neededBoxes); the rest of a map is never read.
//
// Entry points (1-D over `count` invocations, 256 per workgroup, (x, y) workgroup grid):
//   input_map  over B*P*P:    dst0 = (1/C) sum_c X[a, c, p] X[b, c, p'],  dst1 = 0 (T of the input)
//   conv_map   over B*Po*Po:  M[K](P, P') = (1/k^2) sum_{oy, ox} K[P*s + o - q, P'*s + o - q] (zero
//                             outside the input, counted in 1/k^2); dst0 = Sigma = sw2 M[K] + sb2,
//                             dst1 = Theta = Sigma + sw2 M[T]   (src0 = K, src1 = T)
//   dense_map  over B:        the same with M the mean of the P same-position entries K[p, p]
//   pool_map   over B*Po*Po:  dst0, dst1 = means of src0, src1 over the q x q windows of P and P'
//   diagonal   over B*P:      dst0[a*P + p] = src0[b, p, p]   (the self pair (a, a)'s variances)
// Bindings: 0 pairs, 1 src0, 2 src1 (read), 3 dst0, 4 dst1 (read-write), 5 uniforms (count, C,
// h_in, k, stride, pad, q, sw2 = sigma_w^2, sb2 = sigma_b^2, ry, rx). Limits: each binding below
// maxStorageBufferBindingSize (the host chunks pairs accordingly).

// The map sizes are compiled in (override constants P_IN, P_OUT, W_IN, W_OUT; one pipeline per
// layer shape): the index arithmetic then divides by constants, which the compiler turns into
// multiplications (measured 1.9x on conv_map under lavapipe). Loop bounds (C, k, q) stay uniforms:
// as constants the loops are unrolled and lavapipe's compile time grows to seconds per pipeline.
override P_IN: u32 = 1u;
override P_OUT: u32 = 1u;
override W_IN: u32 = 1u;
override W_OUT: u32 = 1u;

struct Params { count: u32, C: u32, h_in: u32, k: u32, stride: u32, pad: u32, q: u32, _p0: u32, sw2: f32, sb2: f32, ry: u32, rx: u32 }

// Whether output entry (pa, pb) is one that later layers read: offsets within the stage's box
// (src/model/infinite-plan.ts neededBoxes). Others are not written (nothing reads them).
fn needed(pa: u32, pb: u32) -> bool {
  let dy = abs(i32(pa / W_OUT) - i32(pb / W_OUT));
  let dx = abs(i32(pa % W_OUT) - i32(pb % W_OUT));
  return u32(dy) <= p.ry && u32(dx) <= p.rx;
}

@group(0) @binding(0) var<storage, read> pairs: array<u32>;
@group(0) @binding(1) var<storage, read> src0: array<f32>;
@group(0) @binding(2) var<storage, read> src1: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst0: array<f32>;
@group(0) @binding(4) var<storage, read_write> dst1: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

fn flat(wg: vec3u, nwg: vec3u, lid: vec3u) -> u32 {
  return (wg.y * nwg.x + wg.x) * 256u + lid.x;
}

@compute @workgroup_size(256)
fn input_map(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = flat(wg, nwg, lid);
  if (i >= p.count) { return; }
  let P = P_OUT;
  let b = i / (P * P);
  let r = i % (P * P);
  let pa = r / P;
  let pb = r % P;
  if (!needed(pa, pb)) { return; }
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
  let Po = P_OUT;
  let Pi = P_IN;
  let b = i / (Po * Po);
  let r = i % (Po * Po);
  let oa = r / Po;
  let ob = r % Po;
  if (!needed(oa, ob)) { return; }
  let ya = i32((oa / W_OUT) * p.stride) - i32(p.pad);
  let xa = i32((oa % W_OUT) * p.stride) - i32(p.pad);
  let yb = i32((ob / W_OUT) * p.stride) - i32(p.pad);
  let xb = i32((ob % W_OUT) * p.stride) - i32(p.pad);
  let h = i32(p.h_in);
  let w = i32(W_IN);
  let base = b * Pi * Pi;
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
      let idx = base + u32(y1 * w + x1) * Pi + u32(y2 * w + x2);
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
  let P = P_IN;
  let base = b * P * P;
  var mk = 0.0;
  var mt = 0.0;
  for (var q = 0u; q < P; q++) {
    mk += src0[base + q * P + q];
    mt += src1[base + q * P + q];
  }
  let sigma = p.sw2 * (mk / f32(P)) + p.sb2;
  dst0[b] = sigma;
  dst1[b] = sigma + p.sw2 * (mt / f32(P));
}

@compute @workgroup_size(256)
fn pool_map(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = flat(wg, nwg, lid);
  if (i >= p.count) { return; }
  let Po = P_OUT;
  let Pi = P_IN;
  let b = i / (Po * Po);
  let r = i % (Po * Po);
  let oa = r / Po;
  let ob = r % Po;
  if (!needed(oa, ob)) { return; }
  let ya = (oa / W_OUT) * p.q;
  let xa = (oa % W_OUT) * p.q;
  let yb = (ob / W_OUT) * p.q;
  let xb = (ob % W_OUT) * p.q;
  let base = b * Pi * Pi;
  var sk = 0.0;
  var st = 0.0;
  for (var i1 = 0u; i1 < p.q; i1++) {
    for (var j1 = 0u; j1 < p.q; j1++) {
      let row = base + ((ya + i1) * W_IN + xa + j1) * Pi;
      for (var i2 = 0u; i2 < p.q; i2++) {
        for (var j2 = 0u; j2 < p.q; j2++) {
          let idx = row + (yb + i2) * W_IN + xb + j2;
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
  let P = P_IN;
  let b = i / P;
  let q = i % P;
  dst0[pairs[2u * b] * P + q] = src0[(b * P + q) * P + q];
}
