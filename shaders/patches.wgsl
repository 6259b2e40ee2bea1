// Augmented layer inputs ("patches") and their adjoint: what turns dense and conv2d layers into
// matrix products over the augmented weight W~ = [W | b] (fixture README sections 1 and 5).
//
//   dense_augment  A~[i, a] = wMul * x[i, a] for a < fanIn, bMul for a = fanIn        (n x m)
//   im2col         P[i, t, a] = wMul * x_pad[i, c, ty*s + ki, tx*s + kj] for a = (c, ki, kj) in
//                  C-order, bMul for a = fanIn; t = ty * Wout + tx (row-major positions)  (n x T x m)
//                  This is torch.nn.functional.unfold plus the appended bias entry.
//   col2im         dX[r, c, y, x] = wMul * sum over (ki, kj) with y = ty*s + ki - pad and
//                  x = tx*s + kj - pad of dP[r, t, (c, ki, kj)]                     (R x C x H x W)
//                  The adjoint of im2col's weight part (a gather: deterministic, no atomics).
//                  Written at dst[dstOffset + e], so large batches can be processed in row chunks.
// m = fanIn + 1. wMul / bMul are 1 for the standard parameterization (see src/model/layout.ts).
// All entries are 1-D over the output elements, 256 invocations per workgroup, (x, y) grid.

struct Params {
  total: u32, C: u32, H: u32, W: u32,
  k: u32, stride: u32, pad: u32, Hout: u32,
  Wout: u32, fanIn: u32, dstOffset: u32,
  wMul: f32, bMul: f32,
}

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

fn flat(wg: vec3u, nwg: vec3u, lid: vec3u) -> u32 {
  return (wg.y * nwg.x + wg.x) * 256u + lid.x;
}

@compute @workgroup_size(256)
fn dense_augment(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let e = flat(wg, nwg, lid);
  if (e >= p.total) { return; }
  let m = p.fanIn + 1u;
  let i = e / m;
  let a = e % m;
  if (a == p.fanIn) { dst[e] = p.bMul; } else { dst[e] = p.wMul * src[i * p.fanIn + a]; }
}

@compute @workgroup_size(256)
fn im2col(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let e = flat(wg, nwg, lid);
  if (e >= p.total) { return; }
  let m = p.fanIn + 1u;
  let T = p.Hout * p.Wout;
  let a = e % m;
  let t = (e / m) % T;
  let i = e / (m * T);
  if (a == p.fanIn) { dst[e] = p.bMul; return; }
  let kk = p.k * p.k;
  let c = a / kk;
  let ki = (a % kk) / p.k;
  let kj = a % p.k;
  let ty = t / p.Wout;
  let tx = t % p.Wout;
  // Signed arithmetic: the padded coordinate may fall left of / above the input.
  let y = i32(ty * p.stride + ki) - i32(p.pad);
  let x = i32(tx * p.stride + kj) - i32(p.pad);
  if (y < 0 || x < 0 || y >= i32(p.H) || x >= i32(p.W)) { dst[e] = 0.0; return; }
  dst[e] = p.wMul * src[((i * p.C + c) * p.H + u32(y)) * p.W + u32(x)];
}

@compute @workgroup_size(256)
fn col2im(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let e = flat(wg, nwg, lid);
  if (e >= p.total) { return; }
  let x = e % p.W;
  let y = (e / p.W) % p.H;
  let c = (e / (p.W * p.H)) % p.C;
  let r = e / (p.W * p.H * p.C);
  let T = p.Hout * p.Wout;
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
      acc += src[(r * T + t) * p.fanIn + (c * p.k + ki) * p.k + kj];
    }
  }
  dst[p.dstOffset + e] = p.wMul * acc;
}
