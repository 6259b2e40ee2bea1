// Activations and their derivatives: a prelude (compiled in front of the files that use it,
// src/gpu/kernel.ts `preludes`), so that the unfused kernels (elementwise.wgsl), the fused conv
// (conv_fused.wgsl) and fused MLP (fused_mlp_step.wgsl) paths and the infinite-width recursion
// (infinite_act.wgsl) evaluate one set of formulas and round alike. No bindings, no entry points.
//
// kind: 0 linear, 1 tanh, 2 relu, 3 sigmoid (the engine's activation codes). Derivatives are
// evaluated at the pre-activation s: tanh' = 1 - tanh(s)^2, sigmoid' = sig(s)(1 - sig(s)),
// relu' = [s > 0]. tanh and sigmoid are written out rather than taken from the WGSL builtins,
// whose precision is not specified: tanh uses the Cephes single-precision polynomial below
// |s| = 0.625 (no cancellation near 0) and 1 - 2/(e^{2|s|} + 1) above; the derivatives use
// e = exp(-k|s|), which never overflows and avoids the cancellation of 1 - t^2 for saturated
// units. A kind passed as an override constant folds to one branch when the module is compiled.

fn stable_tanh(s: f32) -> f32 {
  let z = abs(s);
  if (z < 0.625) {
    let q = s * s;
    return ((((-5.70498872745e-3 * q + 2.06390887954e-2) * q - 5.37397155531e-2) * q
      + 1.33314422036e-1) * q - 3.33332819422e-1) * q * s + s;
  }
  if (z > 10.0) { return sign(s); }
  return sign(s) * (1.0 - 2.0 / (exp(2.0 * z) + 1.0));
}

fn sigmoid(s: f32) -> f32 {
  let e = exp(-abs(s));
  return select(e / (1.0 + e), 1.0 / (1.0 + e), s >= 0.0);
}

fn activation(kind: u32, s: f32) -> f32 {
  switch (kind) {
    case 1u: { return stable_tanh(s); }
    case 2u: { return max(s, 0.0); }
    case 3u: { return sigmoid(s); }
    default: { return s; }
  }
}

fn activation_grad(kind: u32, s: f32) -> f32 {
  switch (kind) {
    case 1u: { let e = exp(-2.0 * abs(s)); return 4.0 * e / ((1.0 + e) * (1.0 + e)); }
    case 2u: { return select(0.0, 1.0, s > 0.0); }
    case 3u: { let e = exp(-abs(s)); return e / ((1.0 + e) * (1.0 + e)); }
    default: { return 1.0; }
  }
}
