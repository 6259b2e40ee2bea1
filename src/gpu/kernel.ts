/**
 * Kernel descriptors: one per WGSL entry point, the single TypeScript statement of what the
 * shader's bindings, uniform block, `override` constants and workgroup size are. The dispatcher
 * (`GpuContext.dispatch`) checks every call against its descriptor (binding counts, uniform
 * presence, constant names), the uniform block is laid out from the descriptor's field list by
 * name (`writeUniforms` / `packUniforms`, never by position), and
 * `tests/kernel-descriptors.test.ts` parses every shader and checks that its storage bindings,
 * its uniform struct, its overrides and its workgroup size match the descriptor exactly (names,
 * order, types), and that every `@compute` entry point has one. A field added on one side only,
 * or two fields swapped, fails that test instead of silently reading the wrong value on the GPU.
 *
 * Binding convention (every shader): the read-only storage buffers from binding 0, then the
 * read-write ones, then the uniform block, all in group 0. The bindings belong to the shader
 * file, not to one entry point, so the descriptors of the entry points of one file list the same
 * bindings; an entry point that leaves one unused is given a placeholder (`ctx.placeholder`).
 *
 * Uniform structs hold scalars (u32, i32, f32: 4-byte aligned) and fixed arrays of 4-vectors
 * (`array<vec4u, N>`, `array<vec4f, N>`, `array<vec4i, N>`: 16-byte aligned, 16 bytes per
 * element, for per-layer tables). The layout is WGSL's: declaration order, each field at the next
 * multiple of its alignment (the gap before an array is implicit, so no padding field is
 * declared); the block is padded to 16 bytes when staged, as uniform buffers need.
 */

export type ScalarType = 'u32' | 'i32' | 'f32';
/** A fixed array of 4-vectors, written exactly as in WGSL: `array<vec4u, 8>`. */
export type Vec4ArrayType = `array<vec4${'u' | 'i' | 'f'}, ${number}>`;
export type UniformType = ScalarType | Vec4ArrayType;
export type UniformFields = Readonly<Record<string, UniformType>>;

/** The values of a uniform block: a number per scalar field, 4 N numbers per array field. */
export type UniformValues<U extends UniformFields> = { readonly [K in keyof U]: U[K] extends ScalarType ? number : ArrayLike<number> };

/** Element kind and length of an array field (null for a scalar). */
function arrayOf(type: UniformType): { kind: 'u' | 'i' | 'f'; length: number } | null {
  const m = /^array<vec4([uif]), (\d+)>$/.exec(type);
  return m ? { kind: m[1] as 'u' | 'i' | 'f', length: Number(m[2]) } : null;
}

/** Byte offsets of the fields (WGSL uniform layout) and the struct size. */
function uniformLayout(fields: UniformFields): { offsets: number[]; size: number } {
  let at = 0;
  const offsets: number[] = [];
  for (const type of Object.values(fields)) {
    const arr = arrayOf(type);
    if (arr) at = Math.ceil(at / 16) * 16;
    offsets.push(at);
    at += arr ? 16 * arr.length : 4;
  }
  return { offsets, size: at };
}

/** Names of bindings in binding order. */
export type BindingNames = readonly string[];

/** One tensor per binding name (a tuple of the same length as the descriptor's list). */
export type Bindings<N extends BindingNames, T> = { readonly [K in keyof N]: T };

export interface KernelDescriptor<
  U extends UniformFields | null = UniformFields | null,
  I extends BindingNames = BindingNames,
  O extends BindingNames = BindingNames,
> {
  /** File name in shaders/ without `.wgsl` (the file that holds the entry point and the bindings). */
  readonly shader: string;
  /**
   * Shader files compiled in front of `shader`, in order (WGSL has no includes): code shared by
   * several files (activations.wgsl) or a swappable part of a kernel (the subgroup or the per-lane
   * implementation of the fused kernels' lane exchange). A prelude may carry `enable` directives,
   * helper functions and overrides, but no bindings or entry points.
   */
  readonly preludes: readonly string[];
  /** Entry point. */
  readonly entry: string;
  /** Names of the read-only storage bindings (`var<storage, read>`), in binding order from 0. */
  readonly inputs: I;
  /** Names of the read-write storage bindings (`var<storage, read_write>`), after the inputs. */
  readonly outputs: O;
  /** The uniform struct's fields in declaration order (bound after the storage bindings), or null. */
  readonly uniforms: U;
  /** The `override` constants a dispatch of this entry point may set (names). */
  readonly constants: readonly string[];
  /**
   * Invocations per workgroup of a 1-D entry point with a literal `@workgroup_size(n)` (what
   * `run1d` divides the work by), or null (an `override` size, or 2-D / 3-D workgroups).
   */
  readonly workgroupSize: number | null;
}

/** Largest uniform block the dispatcher stages (one ring slot). */
export const MAX_UNIFORM_BYTES = 256;

/** Declare a kernel (a constant of the module that wraps it; the descriptor test finds it there). */
export function kernel<const U extends UniformFields | null, const I extends BindingNames, const O extends BindingNames>(d: {
  shader: string;
  preludes?: readonly string[];
  entry?: string;
  inputs: I;
  outputs: O;
  uniforms: U;
  constants?: readonly string[];
  workgroupSize?: number | null;
}): KernelDescriptor<U, I, O> {
  const bytes = d.uniforms ? uniformLayout(d.uniforms).size : 0;
  if (bytes > MAX_UNIFORM_BYTES) throw new Error(`kernel ${d.shader}.${d.entry ?? 'main'}: its uniform block (${bytes} bytes) exceeds ${MAX_UNIFORM_BYTES} bytes`);
  return Object.freeze({
    shader: d.shader,
    preludes: Object.freeze([...(d.preludes ?? [])]),
    entry: d.entry ?? 'main',
    inputs: Object.freeze([...d.inputs]) as unknown as I,
    outputs: Object.freeze([...d.outputs]) as unknown as O,
    uniforms: (d.uniforms ? Object.freeze({ ...d.uniforms }) : null) as U,
    constants: Object.freeze([...(d.constants ?? [])]),
    workgroupSize: d.workgroupSize ?? null,
  });
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
    Array.isArray((v as KernelDescriptor).constants) &&
    'uniforms' in v &&
    'workgroupSize' in v
  );
}

/** `shader.entry` (after its preludes, `prelude+shader.entry`), for messages and caches. */
export function kernelName(k: KernelDescriptor): string {
  return `${moduleName(k)}.${k.entry}`;
}

/** The shader module a kernel is compiled from: its file after its preludes (`a+b+c`, src/gpu/shaders.ts). */
export function moduleName(k: Pick<KernelDescriptor, 'shader' | 'preludes'>): string {
  return [...k.preludes, k.shader].join('+');
}

/** Bytes of a descriptor's uniform block as staged (a multiple of 16, at least 16). */
export function uniformBytes(k: KernelDescriptor): number {
  const size = k.uniforms ? uniformLayout(k.uniforms).size : 0;
  return Math.max(16, Math.ceil(size / 16) * 16);
}

const U32_MAX = 0xffffffff;

/**
 * Write a uniform block from named values into `view` at `byteOffset` (the dispatcher writes
 * straight into its staging ring). Every field needs a value of its type: a u32 / i32 that is
 * not an integer in range, a missing field or an unknown name throws, naming the field.
 */
export function writeUniforms<U extends UniformFields>(k: KernelDescriptor<U>, values: UniformValues<U>, view: DataView, byteOffset = 0): void {
  const fields = k.uniforms;
  const given = values as Readonly<Record<string, unknown>>;
  const { offsets } = uniformLayout(fields);
  const write = (name: string, kind: 'u' | 'i' | 'f', v: unknown, at: number) => {
    if (typeof v !== 'number') throw new Error(`uniforms of ${kernelName(k)}: no value for ${name}`);
    if (kind === 'f') view.setFloat32(at, v, true);
    else if (kind === 'u') {
      if (!Number.isInteger(v) || v < 0 || v > U32_MAX) throw new Error(`uniforms of ${kernelName(k)}: ${name} = ${v} is not a u32`);
      view.setUint32(at, v, true);
    } else {
      if (!Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31) throw new Error(`uniforms of ${kernelName(k)}: ${name} = ${v} is not an i32`);
      view.setInt32(at, v, true);
    }
  };
  Object.entries(fields).forEach(([name, type], i) => {
    const at = byteOffset + offsets[i];
    const arr = arrayOf(type);
    const v = given[name];
    if (!arr) return write(name, type[0] as 'u' | 'i' | 'f', v, at);
    const a = v as ArrayLike<number> | undefined;
    if (!a || typeof a !== 'object' || a.length !== 4 * arr.length) {
      throw new Error(`uniforms of ${kernelName(k)}: ${name} needs ${4 * arr.length} values (${type}), got ${a && typeof a === 'object' ? a.length : String(a)}`);
    }
    for (let j = 0; j < a.length; j++) write(`${name}[${j}]`, arr.kind, a[j], at + 4 * j);
  });
  for (const name in given) {
    if (!(name in fields)) throw new Error(`uniforms of ${kernelName(k)}: unknown field ${name} (fields: ${Object.keys(fields).join(', ')})`);
  }
}

/** Lay out a uniform block from named values (a fresh buffer; see `writeUniforms`). */
export function packUniforms<U extends UniformFields>(k: KernelDescriptor<U>, values: UniformValues<U>): ArrayBuffer {
  const bytes = uniformBytes(k);
  if (bytes > MAX_UNIFORM_BYTES) throw new Error(`uniforms of ${kernelName(k)}: ${bytes} bytes > ${MAX_UNIFORM_BYTES}`);
  const buf = new ArrayBuffer(bytes);
  writeUniforms(k, values, new DataView(buf));
  return buf;
}
