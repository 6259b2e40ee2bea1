enable subgroups;
// Lane exchange, subgroup variant (see shaders/lane_exchange.wgsl for the contract): invocation x
// of a workgroup that is exactly one subgroup of SG invocations loaded the shared operand's values
// x, x + SG, x + 2 SG, ... (LOADS = XN / SG in the kernel); `spread` gives every invocation all
// XN by subgroupShuffle with constant lane indices after unrolling.
// Why: on CPU adapters (llvmpipe) a load whose address is the same in every lane still costs one
// scalar load per lane, while a shuffle with a constant index is one vector permute; measured on
// lavapipe, a 16 x 8 register block's k step costs 303 ns with 16 per-lane loads of the shared
// operand and 202 ns with 2 loads and 16 shuffles (the same as with no shared loads at all).
// Limits: XN <= 16, XN a multiple of SG; the dispatching code guarantees WG = SG and that the
// adapter's subgroup size is fixed at SG (subgroupMinSize == subgroupMaxSize).

override XN: u32 = 16u;
override SG: u32 = 8u;

fn spread(v: ptr<function, array<f32, 16>>, out: ptr<function, array<f32, 16>>) {
  for (var q = 0u; q < XN / SG; q++) {
    for (var i = 0u; i < SG; i++) { (*out)[q * SG + i] = subgroupShuffle((*v)[q], i); }
  }
}
