// Fused conv2d layer passes of the general path (src/nn/gpu-model.ts): each is one dispatch where
// the unfused form took three or four (im2col, a batched product, an activation or col2im kernel).
// Layouts as in shaders/patches.wgsl (README section 1): NCHW images, the augmented weight
// W~ = [W | b] (out x m, m = fanIn + 1, unfold order (c, ki, kj)) at theta[wOff], patches
// P[i, t, a] (n x T x m, t = ty Wout + tx), pre-activations and signals (n x out x T).
//
//   forward        P[i, t, a] = wMul x_pad[i, c, ty s + ki, tx s + kj] (a < fanIn), bMul (a = fanIn)
//                  s[i, o, t] = sum_a W~[o, a] P[i, t, a];   y[i, o, t] = act(s[i, o, t])
//                  (im2col + product + bias + activation; P is still written: the forward state
//                  keeps it for gradients, kernels, Fisher factors and the JVP)
//   backward_data  dX[r, c, y, x] = wMul sum_{(ki, kj): y = ty s + ki - pad, x = tx s + kj - pad}
//                                    sum_o S[r, o, t] W~[o, (c, ki, kj)]
//                  (the product with W and col2im, as a gather: deterministic, no atomics, and no
//                  rows x T x fanIn temporary, so no row chunking)
//   jvp            ds[i, o, t] = act'(pre[i, o, t]) (sum_a V~[o, a] P[i, t, a]
//                                  + sum_{a < fanIn} W~[o, a] wMul tan_pad[i, c, ty s + ki, tx s + kj])
//                  (forward-mode through the frozen layer: the parameters' term plus the input
//                  tangent's patches; without an input tangent (HAS_TANGENT false) only the first)
// forward and jvp: one invocation per (example, position), output channels in blocks of OB
// accumulators (a patch value is computed once per block, used OB times); backward_data: one
// invocation per input element. 64 invocations per workgroup, (x, y) grid.
// Bindings (one signature for the family; unused slots get placeholders): in0, in1, in2, in3
// (read), out0, out1, out2 (read-write), uniforms.
//   forward:       in0 = x, in1 = theta;               out0 = P, out1 = s, out2 = y (if ACT != 0)
//   backward_data: in0 = S, in1 = theta;               out0 = dX
//   jvp:           in0 = P, in1 = theta, in2 = v (the direction, P-sized like theta),
//                  in3 = tangent of the layer input;   out0 = ds, in: pre as out1 (read only here)
// Limits: filters any (blocks of OB); sizes < 2^32 elements.

override ACT: u32 = 0u;
override HAS_TANGENT: bool = false;
const OB: u32 = 16u;

struct Params {
  total: u32, C: u32, H: u32, W: u32,
  k: u32, stride: u32, pad: u32, Hout: u32,
  Wout: u32, fanIn: u32, out: u32, wOff: u32,
  wMul: f32, bMul: f32,
}

@group(0) @binding(0) var<storage, read> in0: array<f32>;
@group(0) @binding(1) var<storage, read> in1: array<f32>;
@group(0) @binding(2) var<storage, read> in2: array<f32>;
@group(0) @binding(3) var<storage, read> in3: array<f32>;
@group(0) @binding(4) var<storage, read_write> out0: array<f32>;
@group(0) @binding(5) var<storage, read_write> out1: array<f32>;
@group(0) @binding(6) var<storage, read_write> out2: array<f32>;
@group(0) @binding(7) var<uniform> p: Params;

fn flat(wg: vec3u, nwg: vec3u, lid: vec3u) -> u32 {
  return (wg.y * nwg.x + wg.x) * 64u + lid.x;
}

@compute @workgroup_size(64)
fn forward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let e = flat(wg, nwg, lid);
  if (e >= p.total) { return; }
  let T = p.Hout * p.Wout;
  let m = p.fanIn + 1u;
  let i = e / T;
  let t = e % T;
  let ty = t / p.Wout;
  let tx = t % p.Wout;
  let pRow = e * m;
  for (var ob = 0u; ob < p.out; ob += OB) {
    // Zeroed explicitly: a declaration in a loop is not re-zeroed per iteration by every driver.
    var acc: array<f32, OB>;
    for (var j = 0u; j < OB; j++) { acc[j] = 0.0; }
    var wRow: array<u32, OB>;
    for (var j = 0u; j < OB; j++) { wRow[j] = p.wOff + min(ob + j, p.out - 1u) * m; }
    // The weight part, patch values gathered in unfold order (c, ki, kj) without divisions.
    var a = 0u;
    for (var c = 0u; c < p.C; c++) {
      for (var ki = 0u; ki < p.k; ki++) {
        let y = i32(ty * p.stride + ki) - i32(p.pad);
        for (var kj = 0u; kj < p.k; kj++) {
          let x = i32(tx * p.stride + kj) - i32(p.pad);
          var v = 0.0;
          if (y >= 0 && x >= 0 && y < i32(p.H) && x < i32(p.W)) {
            v = p.wMul * in0[((i * p.C + c) * p.H + u32(y)) * p.W + u32(x)];
          }
          if (ob == 0u) { out0[pRow + a] = v; }
          for (var j = 0u; j < OB; j++) { acc[j] = fma(in1[wRow[j] + a], v, acc[j]); }
          a++;
        }
      }
    }
    // The bias entry, last as in the product with the augmented weight.
    if (ob == 0u) { out0[pRow + p.fanIn] = p.bMul; }
    for (var j = 0u; j < OB; j++) { acc[j] = fma(in1[wRow[j] + p.fanIn], p.bMul, acc[j]); }
    for (var j = 0u; j < OB; j++) {
      let o = ob + j;
      if (o < p.out) {
        let q = (i * p.out + o) * T + t;
        out1[q] = acc[j];
        if (ACT != 0u) { out2[q] = activation(ACT, acc[j]); }
      }
    }
  }
}

@compute @workgroup_size(64)
fn backward_data(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let e = flat(wg, nwg, lid);
  if (e >= p.total) { return; }
  let x = e % p.W;
  let y = (e / p.W) % p.H;
  let c = (e / (p.W * p.H)) % p.C;
  let r = e / (p.W * p.H * p.C);
  let T = p.Hout * p.Wout;
  let m = p.fanIn + 1u;
  var acc = 0.0;
  for (var ki = 0u; ki < p.k; ki++) {
    // y + pad = ty * stride + ki  =>  ty = (y + pad - ki) / stride when divisible and in range.
    let yy = i32(y + p.pad) - i32(ki);
    if (yy < 0 || yy % i32(p.stride) != 0) { continue; }
    let ty = u32(yy) / p.stride;
    if (ty >= p.Hout) { continue; }
    for (var kj = 0u; kj < p.k; kj++) {
      let xx = i32(x + p.pad) - i32(kj);
      if (xx < 0 || xx % i32(p.stride) != 0) { continue; }
      let tx = u32(xx) / p.stride;
      if (tx >= p.Wout) { continue; }
      let t = ty * p.Wout + tx;
      let a = (c * p.k + ki) * p.k + kj;
      for (var o = 0u; o < p.out; o++) {
        acc = fma(in0[(r * p.out + o) * T + t], in1[p.wOff + o * m + a], acc);
      }
    }
  }
  out0[e] = p.wMul * acc;
}

@compute @workgroup_size(64)
fn jvp(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let e = flat(wg, nwg, lid);
  if (e >= p.total) { return; }
  let T = p.Hout * p.Wout;
  let m = p.fanIn + 1u;
  let i = e / T;
  let t = e % T;
  let ty = t / p.Wout;
  let tx = t % p.Wout;
  let pRow = e * m;
  for (var ob = 0u; ob < p.out; ob += OB) {
    // Zeroed explicitly: a declaration in a loop is not re-zeroed per iteration by every driver.
    var acc: array<f32, OB>;
    for (var j = 0u; j < OB; j++) { acc[j] = 0.0; }
    var wRow: array<u32, OB>;
    for (var j = 0u; j < OB; j++) { wRow[j] = p.wOff + min(ob + j, p.out - 1u) * m; }
    // The parameters' term: V~ against the stored patches.
    for (var a = 0u; a < m; a++) {
      let v = in0[pRow + a];
      for (var j = 0u; j < OB; j++) { acc[j] = fma(in2[wRow[j] + a], v, acc[j]); }
    }
    // The input tangent's patches against W (the bias entry is constant: no tangent).
    if (HAS_TANGENT) {
      var a = 0u;
      for (var c = 0u; c < p.C; c++) {
        for (var ki = 0u; ki < p.k; ki++) {
          let y = i32(ty * p.stride + ki) - i32(p.pad);
          for (var kj = 0u; kj < p.k; kj++) {
            let x = i32(tx * p.stride + kj) - i32(p.pad);
            if (y >= 0 && x >= 0 && y < i32(p.H) && x < i32(p.W)) {
              let v = p.wMul * in3[((i * p.C + c) * p.H + u32(y)) * p.W + u32(x)];
              for (var j = 0u; j < OB; j++) { acc[j] = fma(in1[wRow[j] + a], v, acc[j]); }
            }
            a++;
          }
        }
      }
    }
    for (var j = 0u; j < OB; j++) {
      let o = ob + j;
      if (o < p.out) {
        let q = (i * p.out + o) * T + t;
        out0[q] = acc[j] * activation_grad(ACT, out1[q]);
      }
    }
  }
}
