/**
 * Kernel descriptors: one per WGSL entry point, the single TypeScript statement of what the
 * shader's bindings and uniform block are. The dispatcher checks a call against its descriptor
 * (binding counts), `packUniforms` lays the uniform block out from the descriptor's field list
 * (by name, not by position), and `tests/kernel-descriptors.test.ts` parses every shader and
 * checks that its storage bindings and its uniform struct match the descriptor exactly (names,
 * order, types). A field added on one side only, or two fields swapped, fails that test instead
 * of silently reading the wrong value on the GPU.
 *
 * Uniform structs hold scalars only (u32, i32, f32: 4-byte aligned, so the WGSL layout is the
 * declaration order with no padding); the block is padded to 16 bytes as uniform buffers need.
 */

export type ScalarType = 'u32' | 'i32' | 'f32';
export type UniformFields = Readonly<Record<string, ScalarType>>;

/** The values of a uniform block: one number per field of the descriptor. */
export type UniformValues<U extends UniformFields> = { readonly [K in keyof U]: number };

export interface KernelDescriptor<U extends UniformFields | null = UniformFields | null> {
  /** File name in shaders/ without `.wgsl`. */
  readonly shader: string;
  /** Entry point. */
  readonly entry: string;
  /** Names of the read-only storage bindings, in binding order from 0. */
  readonly inputs: readonly string[];
  /** Names of the read-write storage bindings, after the inputs. */
  readonly outputs: readonly string[];
  /** The uniform struct's fields in declaration order (bound after the storage bindings), or null. */
  readonly uniforms: U;
}

/** Declare a kernel (a constant of the module that wraps it; the descriptor test finds it there). */
export function kernel<const U extends UniformFields | null>(d: {
  shader: string;
  entry?: string;
  inputs: readonly string[];
  outputs: readonly string[];
  uniforms: U;
}): KernelDescriptor<U> {
  return Object.freeze({ shader: d.shader, entry: d.entry ?? 'main', inputs: d.inputs, outputs: d.outputs, uniforms: d.uniforms });
}

/** A value is a kernel descriptor (used by the test that collects every module's descriptors). */
export function isKernelDescriptor(v: unknown): v is KernelDescriptor {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as KernelDescriptor).shader === 'string' &&
    typeof (v as KernelDescriptor).entry === 'string' &&
    Array.isArray((v as KernelDescriptor).inputs) &&
    Array.isArray((v as KernelDescriptor).outputs) &&
    'uniforms' in v
  );
}

/** Largest uniform block the dispatcher stages (one ring slot). */
export const MAX_UNIFORM_BYTES = 256;

/** Lay out a uniform block from named values (missing or extra names throw). */
export function packUniforms<U extends UniformFields>(k: KernelDescriptor<U>, values: UniformValues<U>): ArrayBuffer {
  const fields = Object.entries(k.uniforms) as [string, ScalarType][];
  const bytes = Math.max(16, Math.ceil((fields.length * 4) / 16) * 16);
  if (bytes > MAX_UNIFORM_BYTES) throw new Error(`uniforms of ${k.shader}.${k.entry}: ${bytes} bytes > ${MAX_UNIFORM_BYTES}`);
  const buf = new ArrayBuffer(bytes);
  const view = new DataView(buf);
  const given = values as Record<string, number>;
  fields.forEach(([name, type], i) => {
    const v = given[name];
    if (typeof v !== 'number' || (Number.isNaN(v) && type !== 'f32')) throw new Error(`uniforms of ${k.shader}.${k.entry}: no value for ${name}`);
    if (type === 'u32') view.setUint32(4 * i, v >>> 0, true);
    else if (type === 'i32') view.setInt32(4 * i, v | 0, true);
    else view.setFloat32(4 * i, v, true);
  });
  for (const name of Object.keys(given)) {
    if (!(name in k.uniforms)) throw new Error(`uniforms of ${k.shader}.${k.entry}: unknown field ${name}`);
  }
  return buf;
}
