// Lane exchange, per-lane variant: prepended to a kernel that register-blocks a product (the
// fused MLP kernels), it provides `spread`, which turns the values an invocation loaded into the
// XN values of the shared operand its block needs. Here every invocation loaded all XN itself
// (LOADS = XN in the kernel), so `spread` is a copy. shaders/lane_exchange_subgroup.wgsl is the
// variant in which each invocation loads XN / SG of them and the subgroup shares them by shuffles.
// Limits: XN <= 16.

override XN: u32 = 16u;

fn spread(v: ptr<function, array<f32, 16>>, out: ptr<function, array<f32, 16>>) {
  for (var i = 0u; i < XN; i++) { (*out)[i] = (*v)[i]; }
}
