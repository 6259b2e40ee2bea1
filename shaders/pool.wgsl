// Non-overlapping q x q average pooling (stride q, no padding, floor output size) and its adjoint.
//
//   avgpool_forward   Y[i, c, oy, ox] = (1/q^2) sum_{dy, dx < q} X[i, c, oy*q + dy, ox*q + dx]
//   avgpool_backward  dX[r, c, y, x] = dY[r, c, y/q, x/q] / q^2 inside the pooled region, else 0
//                     (rows past floor(H/q)*q are dropped by the forward pass, so they get 0)
// 1-D over output elements, 256 invocations per workgroup, (x, y) grid.

struct Params { total: u32, C: u32, H: u32, W: u32, q: u32, Hout: u32, Wout: u32 }

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

fn flat(wg: vec3u, nwg: vec3u, lid: vec3u) -> u32 {
  return (wg.y * nwg.x + wg.x) * 256u + lid.x;
}

@compute @workgroup_size(256)
fn avgpool_forward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let e = flat(wg, nwg, lid);
  if (e >= p.total) { return; }
  let ox = e % p.Wout;
  let oy = (e / p.Wout) % p.Hout;
  let ic = e / (p.Wout * p.Hout);
  var acc = 0.0;
  for (var dy = 0u; dy < p.q; dy++) {
    for (var dx = 0u; dx < p.q; dx++) {
      acc += src[(ic * p.H + oy * p.q + dy) * p.W + ox * p.q + dx];
    }
  }
  dst[e] = acc / f32(p.q * p.q);
}

@compute @workgroup_size(256)
fn avgpool_backward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let e = flat(wg, nwg, lid);
  if (e >= p.total) { return; }
  let x = e % p.W;
  let y = (e / p.W) % p.H;
  let rc = e / (p.W * p.H);
  let oy = y / p.q;
  let ox = x / p.q;
  if (oy >= p.Hout || ox >= p.Wout) { dst[e] = 0.0; return; }
  dst[e] = src[(rc * p.Hout + oy) * p.Wout + ox] / f32(p.q * p.q);
}
