// Infinite-width kernels (fixture README section 13): the activation step of the recursion,
// in place on a chunk's maps. For every entry (pair b = (xa, xb), positions p, p'):
//
//   (u, v) ~ N(0, [[S11, S12], [S12, S22]]),  S11 = vars[xa, p], S22 = vars[xb, p'], S12 = K[b, p, p']
//   K[b, p, p'] <- E[phi(u) phi(v)],   T[b, p, p'] <- T[b, p, p'] * E[phi'(u) phi'(v)]
//
// The float64 twin is src/reference/infinite.ts (reluExpectations) and
// src/math/infinite-quadrature.ts (gaussianExpectations): the same rules, node for node (the
// identity map when w = 1, as there, which also saves three transcendentals per node).
//
// Entry points (1-D over `count` entries starting at entry `offset`, 256 per workgroup):
//   relu    the arc-cosine kernels: with rho = S12 / den, t = arccos(rho),
//           d = (pi - t)/(2 pi) = 1/2 - t/(2 pi), K = den (sin t/(2 pi) + d rho).
//           den = S11 when S11 == S22 (else sqrt(S11) sqrt(S22)), and rho = 1 (t = 0 exactly)
//           when S12 >= den or the entry is a diagonal one (same example, same position): the
//           angle near rho = 1 is ~ sqrt(2 (1 - rho)), so one float32 rounding below 1 would move
//           it by 3.5e-4 (README section 13). arccos, sin and cos are computed here (Cephes'
//           asinf polynomial, sin t = sqrt((1 - rho)(1 + rho)), cos t = rho) rather than taken
//           from the WGSL builtins, whose specified accuracy (absolute 2^-11 for sin/cos) is
//           too loose for the README's 1e-4.
//   quadrature tanh (ACT = 1) or sigmoid (ACT = 3) by the nested mapped trapezoidal rule of
//           infinite-quadrature.ts: whitening u = a z1, v = b z1 + c z2; in each variable
//           z = z0 + asinh(w sinh s), s uniform with step <= h over the image of [-L, L];
//           outer z0 = 0, w1 = min(1, 1/a, sqrt(1 + c^2)/|b|); inner z0 = clamp(-b z1 / c, -L, L)
//           and w2 = 1/c when c > 1, else z0 = 0, w2 = 1. About 50 to 100 nodes per dimension.
// Bindings: 0 pairs (u32 [B][2]), 1 vars ([N][P]) read; 2 K, 3 T ([B][P][ROW]) read-write;
// 4 uniforms (count, offset, h, L). The stage layout (P, W, ROW, RY, RX, BANDED, as in
// infinite_maps.wgsl) and ACT are override constants; unused entries are skipped.
// Long quadrature dispatches are split by the host (`offset`), so that no single dispatch runs
// for seconds on a hardware GPU.

override ACT: u32 = 1u;

const PI: f32 = 3.14159265358979;
const INV_SQRT_2PI: f32 = 0.398942280401433;
const INV_2PI: f32 = 0.159154943091895;

// The stage's shape and layout, compiled in (see infinite_maps.wgsl): P positions on a grid of
// width W, ROW partners per position, banded (partner j = p + (j / (2 RX + 1) - RY,
// j % (2 RX + 1) - RX)) or full rows (partner j = position j, offsets beyond RY, RX unused).
override P: u32 = 1u;
override W: u32 = 1u;
override ROW: u32 = 1u;
override RY: u32 = 0u;
override RX: u32 = 0u;
override BANDED: bool = false;

struct Params { count: u32, offset: u32, h: f32, L: f32 }

@group(0) @binding(0) var<storage, read> pairs: array<u32>;
@group(0) @binding(1) var<storage, read> vars: array<f32>;
@group(0) @binding(2) var<storage, read_write> K: array<f32>;
@group(0) @binding(3) var<storage, read_write> T: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

fn flat(wg: vec3u, nwg: vec3u, lid: vec3u) -> u32 {
  return (wg.y * nwg.x + wg.x) * 256u + lid.x;
}

// asin on [-0.5, 0.5] (Cephes asinf: relative error ~2.5e-7).
fn asin_small(x: f32) -> f32 {
  let z = x * x;
  return x + x * z * ((((4.2163199048e-2 * z + 2.4181311049e-2) * z + 4.5470025998e-2) * z + 7.4953002686e-2) * z + 1.6666752422e-1);
}

// arccos on [-1, 1], exact 0 at 1 and accurate near +-1 (1 - x is exact there).
fn acos_accurate(x: f32) -> f32 {
  if (x > 0.5) { return 2.0 * asin_small(sqrt(0.5 * (1.0 - x))); }
  if (x < -0.5) { return PI - 2.0 * asin_small(sqrt(0.5 * (1.0 + x))); }
  return 0.5 * PI - asin_small(x);
}

struct Entry { s11: f32, s12: f32, s22: f32, diag: bool, needed: bool }

fn entry(i: u32) -> Entry {
  let b = i / (P * ROW);
  let r = i % (P * ROW);
  let pa = r / ROW;
  let j = r % ROW;
  let y = i32(pa / W);
  let x = i32(pa % W);
  var q = i32(j);
  var needed = true;
  if (BANDED) {
    let span = 2u * RX + 1u;
    let yq = y + i32(j / span) - i32(RY);
    let xq = x + i32(j % span) - i32(RX);
    needed = yq >= 0 && yq < i32(P / W) && xq >= 0 && xq < i32(W);
    q = yq * i32(W) + xq;
  } else {
    needed = u32(abs(i32(j / W) - y)) <= RY && u32(abs(i32(j % W) - x)) <= RX;
  }
  let pb = u32(select(0, q, needed));
  let xa = pairs[2u * b];
  let xb = pairs[2u * b + 1u];
  return Entry(vars[xa * P + pa], K[i], vars[xb * P + pb], xa == xb && pa == pb, needed);
}

@compute @workgroup_size(256)
fn relu(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let j = flat(wg, nwg, lid);
  if (j >= p.count) { return; }
  let i = p.offset + j;
  let e = entry(i);
  if (!e.needed) { return; }
  var den = sqrt(e.s11) * sqrt(e.s22);
  if (e.s11 == e.s22) { den = e.s11; }
  if (!(den > 0.0)) {
    K[i] = 0.0;
    T[i] = 0.0;
    return;
  }
  var rho = clamp(e.s12 / den, -1.0, 1.0);
  if (e.s12 >= den || e.diag) { rho = 1.0; }
  let t = acos_accurate(rho);
  let sin_t = sqrt((1.0 - rho) * (1.0 + rho));
  // (pi - t)/(2 pi) as 1/2 - t/(2 pi): exactly 1/2 at t = 0 (no division rounding), so an
  // identical pair gets K = den/2 and T = Theta/2 exactly.
  let d = 0.5 - t * INV_2PI;
  K[i] = den * (sin_t * INV_2PI + d * rho);
  T[i] = T[i] * d;
}

// phi(s) and phi'(s) (ACT 1 tanh or 3 sigmoid), by the activations.wgsl prelude's formulas.
fn act_and_slope(s: f32) -> vec2f {
  return vec2f(activation(ACT, s), activation_grad(ACT, s));
}

fn sinh_f(x: f32) -> f32 {
  let e = exp(x);
  return 0.5 * (e - 1.0 / e);
}

// asinh with a small relative error near 0 (odd Taylor series below 0.125), where the map's
// node offsets are tiny multiples of the width w and divided by it again.
fn asinh_f(y: f32) -> f32 {
  let a = abs(y);
  if (a < 0.125) {
    let z = y * y;
    return y * (1.0 + z * (-1.0 / 6.0 + z * (3.0 / 40.0 + z * (-15.0 / 336.0 + z * (105.0 / 3456.0 + z * (-945.0 / 42240.0))))));
  }
  return sign(y) * log(a + sqrt(a * a + 1.0));
}

struct Nodes { s0: f32, ds: f32, count: u32 }

// The rule's nodes over [-L, L] for the map z = z0 + asinh(w sinh s).
fn mapped_nodes(z0: f32, w: f32) -> Nodes {
  // w = 1: s(z) = z - z0 exactly (the map is the identity shift; no rounding of asinh(sinh)).
  var s0 = -p.L - z0;
  var s1 = p.L - z0;
  if (w != 1.0) {
    s0 = asinh_f(sinh_f(s0) / w);
    s1 = asinh_f(sinh_f(s1) / w);
  }
  let count = max(2u, u32(ceil((s1 - s0) / p.h)));
  return Nodes(s0, (s1 - s0) / f32(count), count);
}

// (z - z0, dz/ds) at s.
fn map_point(s: f32, w: f32) -> vec2f {
  if (w == 1.0) { return vec2f(s, 1.0); }
  let e = exp(s);
  let sh = 0.5 * (e - 1.0 / e);
  let ch = 0.5 * (e + 1.0 / e);
  let y = w * sh;
  return vec2f(asinh_f(y), w * ch / sqrt(1.0 + y * y));
}

@compute @workgroup_size(256)
fn quadrature(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let j = flat(wg, nwg, lid);
  if (j >= p.count) { return; }
  let i = p.offset + j;
  let e = entry(i);
  if (!e.needed) { return; }
  let a = sqrt(max(e.s11, 0.0));
  let b = select(0.0, e.s12 / a, a > 0.0);
  let c = sqrt(max(e.s22 - b * b, 0.0));
  var w1 = 1.0;
  if (a > 1.0) { w1 = 1.0 / a; }
  if (abs(b) > 0.0) { w1 = min(w1, sqrt(1.0 + c * c) / abs(b)); }
  let sharp = c > 1.0;
  let w2 = select(1.0, 1.0 / c, sharp);
  let outer = mapped_nodes(0.0, w1);
  var k = 0.0;
  var d = 0.0;
  for (var io = 0u; io <= outer.count; io++) {
    let m1 = map_point(outer.s0 + f32(io) * outer.ds, w1);
    let z1 = m1.x;
    let half1 = select(1.0, 0.5, io == 0u || io == outer.count);
    let wt1 = half1 * outer.ds * m1.y * INV_SQRT_2PI * exp(-0.5 * z1 * z1);
    let f1 = act_and_slope(a * z1);
    let m = b * z1;
    var z0 = 0.0;
    if (sharp) { z0 = clamp(-m / c, -p.L, p.L); }
    let r = m + c * z0;
    let inner = mapped_nodes(z0, w2);
    var ik = 0.0;
    var id = 0.0;
    for (var jn = 0u; jn <= inner.count; jn++) {
      let m2 = map_point(inner.s0 + f32(jn) * inner.ds, w2);
      let z2 = z0 + m2.x;
      let half2 = select(1.0, 0.5, jn == 0u || jn == inner.count);
      let wt2 = half2 * inner.ds * m2.y * INV_SQRT_2PI * exp(-0.5 * z2 * z2);
      let f2 = act_and_slope(r + c * m2.x);
      ik += wt2 * f2.x;
      id += wt2 * f2.y;
    }
    k += wt1 * f1.x * ik;
    d += wt1 * f1.y * id;
  }
  K[i] = k;
  T[i] = T[i] * d;
}
