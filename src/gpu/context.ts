/**
 * The GPU runtime: one device, its limits, a pipeline cache, tensors with explicit
 * lifetime, batched command encoding and readback. Works with any `GPU` object:
 * `navigator.gpu` in the browser, Dawn's in Node (src/gpu/node.ts).
 *
 * Dispatches are recorded into one open compute pass and submitted together on `flush()`
 * (or when a readback needs the results), so a training step costs one submit, not one per
 * kernel. Each dispatch's uniforms are staged into a slot of a host copy of a uniform ring and
 * written with one `queue.writeBuffer` per submit (ordered before that submit on the queue
 * timeline), and bound at a dynamic offset, so bind groups do not depend on the slot.
 *
 * Buffers are pooled by size: a destroyed tensor's buffer returns to the pool once the commands
 * that use it are submitted, and the next tensor of that size takes it. A training step then
 * allocates no GPU memory, and because the same buffers come back, its bind groups are cached
 * (keyed by layout and buffer identities) instead of created per dispatch.
 */
import { LimitError, TangentError } from '../experiment/errors';
import { cappedLimits, ENGINE_LIMIT_NAMES, resolveConfig, type ContextOptions, type EngineConfig, type EngineLimits } from './config';
import { kernelName, MAX_UNIFORM_BYTES, writeUniforms, type BindingNames, type Bindings, type KernelDescriptor, type UniformFields, type UniformValues } from './kernel';
import { shaderSource } from './shaders';
import { Tensor } from './tensor';

export type { ContextOptions, EngineConfig, EngineLimits };

export interface AdapterReport {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** One line for logs and the UI. */
  summary: string;
  /**
   * A software adapter (the browser's fallback adapter, SwiftShader, llvmpipe / lavapipe, WARP):
   * WebGPU then runs on the CPU cores, where per-dispatch costs can make it slower than the
   * float64 CPU engine (the lab times both, src/lab).
   */
  software: boolean;
}

const SOFTWARE_ADAPTER = /swiftshader|llvmpipe|lavapipe|software|basic render|warp/i;

/** True for adapters that run compute shaders on the CPU (Mesa llvmpipe/lavapipe, SwiftShader, WARP). */
export function isCpuAdapter(a: Pick<AdapterReport, 'vendor' | 'architecture' | 'device' | 'description'>): boolean {
  return SOFTWARE_ADAPTER.test([a.vendor, a.architecture, a.device, a.description].join(' '));
}

export class GpuError extends TangentError {
  constructor(message: string) {
    super('device', message);
  }
}

export { LimitError };

/** Pipeline-overridable constants (`override` declarations) of a dispatch. */
export type PipelineConstants = Readonly<Record<string, number | boolean>>;

/** One dispatch of a kernel: its tensors (one per binding of the descriptor), uniform values by name, grid. */
export type DispatchArgs<U extends UniformFields | null, I extends BindingNames, O extends BindingNames> = {
  /** Read-only storage bindings, one per `kernel.inputs` name, in that order. */
  inputs: Bindings<I, Tensor>;
  /** Read-write storage bindings, one per `kernel.outputs` name, in that order. */
  outputs: Bindings<O, Tensor>;
  /** Values of the `override` constants listed in `kernel.constants`. */
  constants?: PipelineConstants;
  workgroups: readonly [number, number?, number?];
} & UniformArgs<U>;

/** The uniform values, by field name, exactly when the kernel has a uniform block. */
export type UniformArgs<U extends UniformFields | null> = [U] extends [UniformFields] ? { uniforms: UniformValues<U> } : { uniforms?: undefined };

/** Bytes per uniform ring slot: the largest block, and a multiple of minUniformBufferOffsetAlignment (256 at most). */
const UNIFORM_SLOT = MAX_UNIFORM_BYTES;
const UNIFORM_SLOTS = 1024;
/** Bytes of idle buffers kept for reuse before the oldest are destroyed. */
const POOL_LIMIT_BYTES = 512 * 1024 * 1024;
/** Cached bind groups before the cache is cleared (a training loop needs a few hundred). */
const BIND_GROUP_CACHE_LIMIT = 8192;

/*
 * WebGPU's usage and stage flags. Their values are fixed by the specification; they are spelled
 * out here instead of read from the globals (GPUBufferUsage, ...) that browsers define, because
 * in Node those globals exist only if someone copies Dawn's into globalThis, and the engine does
 * not reach into process-wide state to run.
 */
const BUFFER_MAP_READ = 0x0001;
const BUFFER_COPY_SRC = 0x0004;
const BUFFER_COPY_DST = 0x0008;
const BUFFER_UNIFORM = 0x0040;
const BUFFER_STORAGE = 0x0080;
const STAGE_COMPUTE = 0x4;
const MAP_READ = 0x0001;

export class GpuContext {
  private readonly pipelines = new Map<KernelDescriptor, Map<string, GPUComputePipeline>>();
  private readonly layouts = new Map<string, GPUBindGroupLayout>();
  private readonly modules = new Map<string, GPUShaderModule>();
  private readonly live = new Set<Tensor>();
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private readonly uniformRing: GPUBuffer;
  private uniformSlot = 0;
  private readonly errors: string[] = [];
  /** Buffers of destroyed tensors waiting for the submit of the commands that use them. */
  private pendingRelease: GPUBuffer[] = [];
  /** Idle buffers by byte size. */
  private readonly pool = new Map<number, GPUBuffer[]>();
  private pooledBytes = 0;
  private readonly bufferIds = new WeakMap<GPUBuffer, number>();
  private nextBufferId = 1;
  private readonly bindGroups = new Map<string, GPUBindGroup>();
  private readonly uniformStaging = new Uint8Array(UNIFORM_SLOT * UNIFORM_SLOTS);
  private readonly uniformView = new DataView(this.uniformStaging.buffer);
  private readonly readbackPool = new Map<number, GPUBuffer[]>();
  private lostReason: string | null = null;
  /** Dispatches recorded since creation (for benchmarks and tests). */
  dispatchCount = 0;
  submitCount = 0;

  private constructor(
    readonly device: GPUDevice,
    readonly adapter: AdapterReport,
    /** The limits the engine plans around: the device's, lowered by `ContextOptions.limits`. */
    readonly limits: EngineLimits,
    /** This context's configuration (src/gpu/config.ts). */
    readonly config: EngineConfig,
    // Held only to keep them alive: with Dawn in Node, a garbage-collected GPU object tears down
    // the native instance under a live device, and the process then crashes at random
    // (seen here as segfaults and futex aborts during a dispatch).
    private readonly gpuObject: GPU,
    private readonly adapterObject: GPUAdapter,
  ) {
    this.uniformRing = device.createBuffer({
      label: 'uniform ring',
      size: UNIFORM_SLOT * UNIFORM_SLOTS,
      usage: BUFFER_UNIFORM | BUFFER_COPY_DST,
    });
    device.onuncapturederror = (ev: GPUUncapturedErrorEvent) => {
      this.errors.push(ev.error.message);
    };
    void device.lost.then((info) => {
      this.lostReason = info.message || info.reason || 'device lost';
    });
  }

  /**
   * Request an adapter and a device with the adapter's largest storage and workgroup limits, and
   * resolve the engine configuration (`options`, see src/gpu/config.ts; bad options throw).
   */
  static async create(gpu: GPU, options: ContextOptions = {}): Promise<GpuContext> {
    if (!gpu) throw new GpuError('WebGPU is not available (no navigator.gpu)');
    const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) throw new GpuError('WebGPU is available but no adapter was found');
    const info = adapter.info ?? ({} as GPUAdapterInfo);
    const vendor = info.vendor ?? '';
    const architecture = info.architecture ?? '';
    const dev = info.device ?? '';
    const description = info.description ?? '';
    const summary = [description || [vendor, architecture, dev].filter(Boolean).join(' ') || 'unknown adapter']
      .concat(vendor && description && !description.includes(vendor) ? [`(${vendor})`] : [])
      .join(' ');
    const fallback = (info as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter ?? (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter ?? false;
    const report: AdapterReport = { vendor, architecture, device: dev, description, summary, software: false };
    report.software = fallback || isCpuAdapter(report);
    // Options are checked before the device exists, so a bad one leaves nothing behind.
    const config = resolveConfig(options, report.software);
    const requiredLimits: Record<string, number> = {};
    for (const k of ENGINE_LIMIT_NAMES) requiredLimits[k] = adapter.limits[k];
    const limits = cappedLimits(requiredLimits as unknown as EngineLimits, options.limits);
    requiredLimits.maxComputeWorkgroupSizeX = adapter.limits.maxComputeWorkgroupSizeX;
    requiredLimits.maxComputeWorkgroupSizeY = adapter.limits.maxComputeWorkgroupSizeY;
    const device = await adapter.requestDevice({ label: config.label, requiredLimits });
    for (const k of ENGINE_LIMIT_NAMES) limits[k] = Math.min(limits[k], device.limits[k]);
    return new GpuContext(device, report, limits, config, gpu, adapter);
  }

  get lost(): string | null {
    return this.lostReason;
  }

  get liveTensors(): number {
    return this.live.size;
  }

  /** Throws the first WebGPU validation error recorded since the last check. */
  checkErrors(): void {
    if (this.lostReason) throw new GpuError(`GPU device lost: ${this.lostReason}`);
    if (this.errors.length) {
      const msg = this.errors.splice(0).join('\n');
      throw new GpuError(`WebGPU error: ${msg}`);
    }
  }

  /** Fail with a LimitError if a buffer of `bytes` cannot be bound as storage. */
  checkStorageBytes(bytes: number, what: string): void {
    if (bytes > this.limits.maxStorageBufferBindingSize) {
      throw new LimitError('maxStorageBufferBindingSize', bytes, this.limits.maxStorageBufferBindingSize, what);
    }
    if (bytes > this.limits.maxBufferSize) throw new LimitError('maxBufferSize', bytes, this.limits.maxBufferSize, what);
  }

  private readonly placeholders: Tensor[] = [];

  /**
   * Small tensors to bind where a kernel family's binding signature has a slot the entry point
   * does not use (not counted in `liveTensors`). `placeholder` fills read-only slots and
   * `placeholderOut` writable ones: one buffer may not be bound both ways in a dispatch.
   */
  get placeholder(): Tensor {
    return this.placeholderAt(0);
  }

  get placeholderOut(): Tensor {
    return this.placeholderAt(1);
  }

  private placeholderAt(i: number): Tensor {
    if (!this.placeholders[i]) {
      const t = this.tensor([4], `placeholder ${i}`);
      this.live.delete(t);
      this.placeholders[i] = t;
    }
    return this.placeholders[i];
  }

  /**
   * An f32 tensor, zero-filled unless `zero` is false (for temporaries that a kernel overwrites
   * entirely: a reused buffer then keeps whatever it held).
   */
  tensor(shape: readonly number[], label = '', zero = true): Tensor {
    const size = shape.reduce((a, b) => a * b, 1);
    if (!Number.isInteger(size) || size < 0) throw new Error(`invalid tensor shape [${shape.join(', ')}]`);
    const bytes = Math.max(16, Math.ceil((size * 4) / 16) * 16);
    this.checkStorageBytes(bytes, `tensor ${label || ''} [${shape.join(', ')}]`.replace('  ', ' '));
    let buffer = this.pool.get(bytes)?.pop();
    if (buffer) {
      this.pooledBytes -= bytes;
      // Fresh WebGPU buffers are zeroed; a reused one is cleared in command order.
      if (zero) this.endPass().clearBuffer(buffer);
    } else {
      buffer = this.device.createBuffer({ label, size: bytes, usage: BUFFER_STORAGE | BUFFER_COPY_SRC | BUFFER_COPY_DST });
      this.bufferIds.set(buffer, this.nextBufferId++);
    }
    const t = new Tensor(buffer, shape.slice(), (x) => {
      this.live.delete(x);
      // Commands recorded but not yet submitted may still use the buffer: it returns to the
      // pool (or is destroyed) after the next submit. Submitted work keeps it valid until done.
      if (this.encoder) this.pendingRelease.push(x.buffer);
      else this.release(x.buffer);
    }, label);
    this.live.add(t);
    return t;
  }

  private release(buffer: GPUBuffer): void {
    const bytes = buffer.size;
    if (this.pooledBytes + bytes > POOL_LIMIT_BYTES) {
      buffer.destroy();
      // Bind groups may reference it.
      this.bindGroups.clear();
      return;
    }
    let list = this.pool.get(bytes);
    if (!list) this.pool.set(bytes, (list = []));
    list.push(buffer);
    this.pooledBytes += bytes;
  }

  /** A tensor holding `data` (converted to f32). */
  upload(data: ArrayLike<number>, shape: readonly number[], label = ''): Tensor {
    const t = this.tensor(shape, label);
    this.write(t, data);
    return t;
  }

  /** Overwrite a tensor's elements starting at `offset` (elements). Ordered with dispatches. */
  write(t: Tensor, data: ArrayLike<number>, offset = 0): void {
    const f = data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>);
    if (offset + f.length > t.size) throw new Error(`write of ${f.length} values at ${offset} overflows ${t.label} [${t.shape}]`);
    // queue.writeBuffer runs before the next submit; commands already recorded in the open
    // encoder would see the new data, so submit them first to keep program order.
    this.flush();
    this.device.queue.writeBuffer(t.buffer, offset * 4, f.buffer, f.byteOffset, f.byteLength);
  }

  private module(shader: string): GPUShaderModule {
    let m = this.modules.get(shader);
    if (!m) {
      m = this.device.createShaderModule({ label: shader, code: shaderSource(shader) });
      this.modules.set(shader, m);
    }
    return m;
  }

  private layout(nIn: number, nOut: number, uniform: boolean): GPUBindGroupLayout {
    const key = `${nIn}/${nOut}/${uniform}`;
    let l = this.layouts.get(key);
    if (!l) {
      const entries: GPUBindGroupLayoutEntry[] = [];
      for (let i = 0; i < nIn; i++) entries.push({ binding: i, visibility: STAGE_COMPUTE, buffer: { type: 'read-only-storage' } });
      for (let i = 0; i < nOut; i++) entries.push({ binding: nIn + i, visibility: STAGE_COMPUTE, buffer: { type: 'storage' } });
      if (uniform) entries.push({ binding: nIn + nOut, visibility: STAGE_COMPUTE, buffer: { type: 'uniform', hasDynamicOffset: true } });
      l = this.device.createBindGroupLayout({ label: key, entries });
      this.layouts.set(key, l);
    }
    return l;
  }

  /** The compiled pipeline of a kernel for some values of its constants (cached per descriptor). */
  private pipeline(kernel: KernelDescriptor, constants: PipelineConstants | undefined): GPUComputePipeline {
    let byConstants = this.pipelines.get(kernel);
    if (!byConstants) this.pipelines.set(kernel, (byConstants = new Map()));
    let key = '';
    const c: Record<string, number> = {};
    if (constants) {
      for (const name of Object.keys(constants).sort()) {
        if (!kernel.constants.includes(name)) {
          throw new Error(`dispatch of ${kernelName(kernel)}: unknown constant ${name} (declared: ${kernel.constants.join(', ') || 'none'})`);
        }
        c[name] = Number(constants[name]);
        key += `${name}=${c[name]},`;
      }
    }
    let p = byConstants.get(key);
    if (!p) {
      const nIn = kernel.inputs.length;
      const nOut = kernel.outputs.length;
      p = this.device.createComputePipeline({
        label: `${kernelName(kernel)}(${key})`,
        layout: this.device.createPipelineLayout({ bindGroupLayouts: [this.layout(nIn, nOut, kernel.uniforms !== null)] }),
        compute: { module: this.module(kernel.shader), entryPoint: kernel.entry, constants: c },
      });
      byConstants.set(key, p);
    }
    return p;
  }

  private openPass(): GPUComputePassEncoder {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    if (!this.pass) this.pass = this.encoder.beginComputePass();
    return this.pass;
  }

  private endPass(): GPUCommandEncoder {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    return this.encoder;
  }

  /**
   * Record one dispatch of `kernel`. The call is checked against the descriptor before anything
   * is recorded: one tensor per input and output binding, uniform values exactly when the kernel
   * has a uniform block (every field by name, see `writeUniforms`), only declared constants, and
   * a grid within `limits.maxComputeWorkgroupsPerDimension`.
   */
  dispatch<U extends UniformFields | null, I extends BindingNames, O extends BindingNames>(kernel: KernelDescriptor<U, I, O>, args: DispatchArgs<U, I, O>): void {
    const inputs = args.inputs as readonly Tensor[];
    const outputs = args.outputs as readonly Tensor[];
    const name = kernelName(kernel);
    if (inputs.length !== kernel.inputs.length || outputs.length !== kernel.outputs.length) {
      throw new Error(
        `dispatch of ${name}: ${inputs.length} inputs and ${outputs.length} outputs given, the kernel binds ${kernel.inputs.length} (${kernel.inputs.join(', ')}) and ${kernel.outputs.length} (${kernel.outputs.join(', ')})`,
      );
    }
    const uniforms = args.uniforms as UniformValues<UniformFields> | undefined;
    if ((kernel.uniforms === null) !== (uniforms === undefined)) {
      throw new Error(`dispatch of ${name}: ${kernel.uniforms === null ? 'the kernel has no uniform block, but uniforms were given' : 'no uniform values given'}`);
    }
    const [x, y = 1, z = 1] = args.workgroups;
    const maxWg = this.limits.maxComputeWorkgroupsPerDimension;
    if (x > maxWg || y > maxWg || z > maxWg) {
      throw new LimitError('maxComputeWorkgroupsPerDimension', Math.max(x, y, z), maxWg, `dispatch of ${name}`);
    }
    for (const t of inputs) if (t.isDestroyed) throw new Error(`dispatch of ${name} uses destroyed tensor ${t.label}`);
    for (const t of outputs) if (t.isDestroyed) throw new Error(`dispatch of ${name} uses destroyed tensor ${t.label}`);
    const pipeline = this.pipeline(kernel, args.constants);
    if (x === 0 || y === 0 || z === 0) return;
    const hasUniform = uniforms !== undefined;
    const bindGroup = this.bindGroup(inputs, outputs, hasUniform);
    let dynamicOffset = 0;
    if (hasUniform) {
      if (this.uniformSlot >= UNIFORM_SLOTS) this.flush();
      dynamicOffset = this.uniformSlot * UNIFORM_SLOT;
      writeUniforms(kernel as KernelDescriptor<UniformFields>, uniforms, this.uniformView, dynamicOffset);
      this.uniformSlot++;
    }
    const pass = this.openPass();
    pass.setPipeline(pipeline);
    if (hasUniform) pass.setBindGroup(0, bindGroup, [dynamicOffset]);
    else pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    this.dispatchCount++;
  }

  /** The bind group of a binding signature and buffers (cached: pooled buffers come back). */
  private bindGroup(inputs: readonly Tensor[], outputs: readonly Tensor[], uniform: boolean): GPUBindGroup {
    let key = `${inputs.length}/${outputs.length}/${uniform}:`;
    for (const t of inputs) key += `${this.bufferIds.get(t.buffer)},`;
    for (const t of outputs) key += `${this.bufferIds.get(t.buffer)},`;
    let bg = this.bindGroups.get(key);
    if (!bg) {
      const entries: GPUBindGroupEntry[] = [];
      inputs.forEach((t, i) => entries.push({ binding: i, resource: { buffer: t.buffer } }));
      outputs.forEach((t, i) => entries.push({ binding: inputs.length + i, resource: { buffer: t.buffer } }));
      if (uniform) entries.push({ binding: inputs.length + outputs.length, resource: { buffer: this.uniformRing, offset: 0, size: UNIFORM_SLOT } });
      bg = this.device.createBindGroup({ layout: this.layout(inputs.length, outputs.length, uniform), entries });
      if (this.bindGroups.size >= BIND_GROUP_CACHE_LIMIT) this.bindGroups.clear();
      this.bindGroups.set(key, bg);
    }
    return bg;
  }

  /** Copy `count` elements between tensors (recorded in order with dispatches). */
  copy(src: Tensor, dst: Tensor, count = src.size, srcOffset = 0, dstOffset = 0): void {
    if (srcOffset + count > src.size || dstOffset + count > dst.size) throw new Error('copy out of range');
    if (count === 0) return;
    this.endPass().copyBufferToBuffer(src.buffer, srcOffset * 4, dst.buffer, dstOffset * 4, count * 4);
  }

  /** Submit everything recorded so far. */
  flush(): void {
    if (!this.encoder) return;
    const enc = this.endPass();
    this.encoder = null;
    // The staged uniforms of this command buffer, written just before it on the queue.
    if (this.uniformSlot > 0) this.device.queue.writeBuffer(this.uniformRing, 0, this.uniformStaging, 0, this.uniformSlot * UNIFORM_SLOT);
    this.device.queue.submit([enc.finish()]);
    this.submitCount++;
    this.uniformSlot = 0;
    // Submitted work keeps its buffers alive until it completes, so they can be reused now.
    for (const b of this.pendingRelease) this.release(b);
    this.pendingRelease = [];
  }

  /** Read back `count` elements of a tensor from `offset`. */
  async read(t: Tensor, offset = 0, count = t.size - offset): Promise<Float32Array> {
    const [r] = await this.readMany([{ tensor: t, offset, count }]);
    return r;
  }

  /** Read several tensors with one submit. */
  async readMany(reqs: { tensor: Tensor; offset?: number; count?: number }[]): Promise<Float32Array[]> {
    const enc = this.endPass();
    const staging: { buf: GPUBuffer; count: number }[] = [];
    for (const r of reqs) {
      const offset = r.offset ?? 0;
      const count = r.count ?? r.tensor.size - offset;
      if (offset < 0 || offset + count > r.tensor.size) throw new Error(`read out of range of ${r.tensor.label}`);
      const bytes = Math.max(16, Math.ceil((count * 4) / 16) * 16);
      const buf = this.readbackPool.get(bytes)?.pop() ?? this.device.createBuffer({ size: bytes, usage: BUFFER_MAP_READ | BUFFER_COPY_DST });
      if (count > 0) enc.copyBufferToBuffer(r.tensor.buffer, offset * 4, buf, 0, count * 4);
      staging.push({ buf, count });
    }
    this.flush();
    try {
      await Promise.all(staging.map((s) => s.buf.mapAsync(MAP_READ)));
    } catch (e) {
      this.checkErrors();
      throw e;
    }
    const out = staging.map((s) => {
      const copy = new Float32Array(s.count);
      if (s.count > 0) copy.set(new Float32Array(s.buf.getMappedRange(0, s.count * 4)));
      s.buf.unmap();
      this.releaseReadback(s.buf);
      return copy;
    });
    this.checkErrors();
    return out;
  }

  /** Keep a few readback buffers per size (metric events read the same sizes every time). */
  private releaseReadback(buf: GPUBuffer): void {
    let list = this.readbackPool.get(buf.size);
    if (!list) this.readbackPool.set(buf.size, (list = []));
    if (list.length < 8 && buf.size <= 16 * 1024 * 1024) list.push(buf);
    else buf.destroy();
  }

  /** Wait until all submitted work has finished (for timing). */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    this.checkErrors();
  }

  /** Free every tensor still alive and the device. */
  destroy(): void {
    for (const t of [...this.live]) t.destroy();
    this.flush();
    for (const t of this.placeholders) t?.buffer.destroy();
    for (const list of [...this.pool.values(), ...this.readbackPool.values()]) for (const b of list) b.destroy();
    this.pool.clear();
    this.readbackPool.clear();
    this.bindGroups.clear();
    this.uniformRing.destroy();
    this.device.destroy();
  }
}

/** Split a 1-D workload of `groups` workgroups into an (x, y) grid within the per-dimension limit. */
export function grid(groups: number, maxPerDim = 65535): [number, number, number] {
  if (groups <= maxPerDim) return [Math.max(groups, 0), 1, 1];
  const y = Math.ceil(groups / maxPerDim);
  return [Math.ceil(groups / y), y, 1];
}
