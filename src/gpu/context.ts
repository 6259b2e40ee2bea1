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
import { shaderSource } from './shaders';
import { Tensor } from './tensor';

export interface AdapterReport {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** One line for logs and the UI. */
  summary: string;
}

/** The device limits the engine plans its work around. */
export interface EngineLimits {
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  maxComputeWorkgroupStorageSize: number;
  maxComputeInvocationsPerWorkgroup: number;
  maxComputeWorkgroupsPerDimension: number;
  maxStorageBuffersPerShaderStage: number;
}

/** A request that exceeds a device limit; names the limit so the user knows what to change. */
export class LimitError extends Error {
  constructor(
    readonly limit: keyof EngineLimits | string,
    readonly requested: number,
    readonly available: number,
    what: string,
  ) {
    super(`${what} needs ${formatBytesOrCount(limit, requested)}, above the device limit ${limit} = ${formatBytesOrCount(limit, available)}`);
    this.name = 'LimitError';
  }
}

export class GpuError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GpuError';
  }
}

function formatBytesOrCount(limit: string, v: number): string {
  if (!/Size$/.test(limit)) return String(v);
  if (v >= 1 << 20) return `${(v / (1 << 20)).toFixed(1)} MiB`;
  if (v >= 1 << 10) return `${(v / (1 << 10)).toFixed(1)} KiB`;
  return `${v} B`;
}

export interface KernelRef {
  /** File name in shaders/ without `.wgsl`. */
  shader: string;
  /** Entry point (default `main`). */
  entry?: string;
  /** Pipeline-overridable constants (`override` declarations). */
  constants?: Record<string, number | boolean>;
}

export interface DispatchArgs {
  kernel: KernelRef;
  /** Read-only storage bindings, in binding order starting at 0. */
  inputs?: Tensor[];
  /** Read-write storage bindings, after the inputs. */
  outputs: Tensor[];
  /** Uniform block bound after the storage bindings (at most 256 bytes). */
  uniforms?: ArrayBuffer;
  workgroups: [number, number?, number?];
}

const UNIFORM_SLOT = 256;
const UNIFORM_SLOTS = 1024;
/** Bytes of idle buffers kept for reuse before the oldest are destroyed. */
const POOL_LIMIT_BYTES = 512 * 1024 * 1024;
/** Cached bind groups before the cache is cleared (a training loop needs a few hundred). */
const BIND_GROUP_CACHE_LIMIT = 8192;

/** Little builder for uniform blocks: u32 / i32 / f32 fields in declaration order. */
export class Uniforms {
  private readonly buf = new ArrayBuffer(UNIFORM_SLOT);
  private readonly u = new Uint32Array(this.buf);
  private readonly i = new Int32Array(this.buf);
  private readonly f = new Float32Array(this.buf);
  private n = 0;
  u32(...v: number[]): this {
    for (const x of v) this.u[this.n++] = x >>> 0;
    return this;
  }
  i32(...v: number[]): this {
    for (const x of v) this.i[this.n++] = x | 0;
    return this;
  }
  f32(...v: number[]): this {
    for (const x of v) this.f[this.n++] = x;
    return this;
  }
  /** The block padded to a multiple of 16 bytes. */
  bytes(): ArrayBuffer {
    return this.buf.slice(0, Math.max(16, Math.ceil((this.n * 4) / 16) * 16));
  }
}

/** Optional WebGPU features the engine uses when the adapter has them. */
export interface EngineFeatures {
  /** The `subgroups` feature (enabled on the device when the adapter offers it). */
  subgroups: boolean;
  /** The subgroup size when the adapter reports a fixed one (min = max), else null. */
  subgroupSize: number | null;
}

export interface ContextOptions {
  /** Label used in error messages. */
  label?: string;
}

export class GpuContext {
  readonly limits: EngineLimits;
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  /** Pipeline-key prefix per kernel reference object (references are not mutated after use). */
  private readonly kernelKeys = new WeakMap<KernelRef, string>();
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
  private readonly readbackPool = new Map<number, GPUBuffer[]>();
  private lostReason: string | null = null;
  /** See expectWork(). */
  private expected: { since: number; until: number; ms: number } | null = null;
  private observed: { expectedMs: number; elapsedMs: number } | null = null;
  /** Dispatches recorded since creation (for benchmarks and tests). */
  dispatchCount = 0;
  submitCount = 0;

  private constructor(
    readonly device: GPUDevice,
    readonly adapter: AdapterReport,
    readonly features: EngineFeatures,
    // Held only to keep them alive: with Dawn in Node, a garbage-collected GPU object tears down
    // the native instance under a live device, and the process then crashes at random
    // (seen here as segfaults and futex aborts during a dispatch).
    private readonly gpuObject: GPU,
    private readonly adapterObject: GPUAdapter,
  ) {
    const l = device.limits;
    this.limits = {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
    };
    this.uniformRing = device.createBuffer({
      label: 'uniform ring',
      size: UNIFORM_SLOT * UNIFORM_SLOTS,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    device.onuncapturederror = (ev: GPUUncapturedErrorEvent) => {
      this.errors.push(ev.error.message);
    };
    void device.lost.then((info) => {
      this.lostReason = info.message || info.reason || 'device lost';
    });
  }

  /** Request an adapter and a device with the adapter's largest storage limits. */
  static async create(gpu: GPU, _opts: ContextOptions = {}): Promise<GpuContext> {
    if (!gpu) throw new GpuError('WebGPU is not available (no navigator.gpu)');
    const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) throw new GpuError('WebGPU is available but no adapter was found');
    const want: (keyof EngineLimits)[] = [
      'maxStorageBufferBindingSize',
      'maxBufferSize',
      'maxComputeWorkgroupStorageSize',
      'maxComputeInvocationsPerWorkgroup',
      'maxComputeWorkgroupsPerDimension',
      'maxStorageBuffersPerShaderStage',
    ];
    const requiredLimits: Record<string, number> = {};
    for (const k of want) requiredLimits[k] = adapter.limits[k];
    requiredLimits.maxComputeWorkgroupSizeX = adapter.limits.maxComputeWorkgroupSizeX;
    requiredLimits.maxComputeWorkgroupSizeY = adapter.limits.maxComputeWorkgroupSizeY;
    const subgroups = adapter.features.has('subgroups');
    const device = await adapter.requestDevice({ requiredLimits, requiredFeatures: subgroups ? ['subgroups' as GPUFeatureName] : [] });
    const info = adapter.info ?? ({} as GPUAdapterInfo);
    const sg = info as { subgroupMinSize?: number; subgroupMaxSize?: number };
    const features: EngineFeatures = {
      subgroups,
      subgroupSize: subgroups && sg.subgroupMinSize && sg.subgroupMinSize === sg.subgroupMaxSize ? sg.subgroupMinSize : null,
    };
    const vendor = info.vendor ?? '';
    const architecture = info.architecture ?? '';
    const dev = info.device ?? '';
    const description = info.description ?? '';
    const summary = [description || [vendor, architecture, dev].filter(Boolean).join(' ') || 'unknown adapter']
      .concat(vendor && description && !description.includes(vendor) ? [`(${vendor})`] : [])
      .join(' ');
    return new GpuContext(device, { vendor, architecture, device: dev, description, summary }, features, gpu, adapter);
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

  /** A second writable placeholder: two read-write slots of one dispatch may not alias. */
  get placeholderOut2(): Tensor {
    return this.placeholderAt(2);
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
      buffer = this.device.createBuffer({ label, size: bytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
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
      for (let i = 0; i < nIn; i++) entries.push({ binding: i, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' } });
      for (let i = 0; i < nOut; i++) entries.push({ binding: nIn + i, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } });
      if (uniform) entries.push({ binding: nIn + nOut, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform', hasDynamicOffset: true } });
      l = this.device.createBindGroupLayout({ label: key, entries });
      this.layouts.set(key, l);
    }
    return l;
  }

  /** The compiled pipeline for a kernel and binding signature (cached). */
  pipeline(kernel: KernelRef, nIn: number, nOut: number, uniform: boolean): GPUComputePipeline {
    const entry = kernel.entry ?? 'main';
    const constants = kernel.constants ?? {};
    const ckeys = Object.keys(constants).sort();
    // A kernel reference reused across dispatches (the fused trainer records thousands per
    // second) keeps its key: sorting and joining the constants per dispatch was measurable.
    let base = this.kernelKeys.get(kernel);
    if (base === undefined) {
      base = `${kernel.shader}:${entry}:${ckeys.map((k) => `${k}=${Number(constants[k])}`).join(',')}`;
      this.kernelKeys.set(kernel, base);
    }
    const key = `${base}:${nIn}/${nOut}/${uniform}`;
    let p = this.pipelines.get(key);
    if (!p) {
      const c: Record<string, number> = {};
      for (const k of ckeys) c[k] = Number(constants[k]);
      p = this.device.createComputePipeline({
        label: key,
        layout: this.device.createPipelineLayout({ bindGroupLayouts: [this.layout(nIn, nOut, uniform)] }),
        compute: { module: this.module(kernel.shader), entryPoint: entry, constants: c },
      });
      this.pipelines.set(key, p);
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

  /** Record one dispatch. */
  dispatch(args: DispatchArgs): void {
    const inputs = args.inputs ?? [];
    const outputs = args.outputs;
    const [x, y = 1, z = 1] = args.workgroups;
    const maxWg = this.limits.maxComputeWorkgroupsPerDimension;
    if (x > maxWg || y > maxWg || z > maxWg) {
      throw new LimitError('maxComputeWorkgroupsPerDimension', Math.max(x, y, z), maxWg, `dispatch of ${args.kernel.shader}`);
    }
    if (x === 0 || y === 0 || z === 0) return;
    for (const t of [...inputs, ...outputs]) {
      if (t.isDestroyed) throw new Error(`dispatch of ${args.kernel.shader} uses destroyed tensor ${t.label}`);
    }
    const hasUniform = args.uniforms !== undefined;
    const pipeline = this.pipeline(args.kernel, inputs.length, outputs.length, hasUniform);
    const bindGroup = this.bindGroup(inputs, outputs, hasUniform);
    let dynamicOffset = 0;
    if (hasUniform) {
      if (this.uniformSlot >= UNIFORM_SLOTS) this.flush();
      dynamicOffset = this.uniformSlot++ * UNIFORM_SLOT;
      const u = args.uniforms!;
      if (u.byteLength > UNIFORM_SLOT) throw new Error(`uniforms of ${args.kernel.shader}: ${u.byteLength} bytes > ${UNIFORM_SLOT}`);
      this.uniformStaging.set(new Uint8Array(u), dynamicOffset);
    }
    const pass = this.openPass();
    pass.setPipeline(pipeline);
    if (hasUniform) pass.setBindGroup(0, bindGroup, [dynamicOffset]);
    else pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    this.dispatchCount++;
  }

  /** The bind group of a binding signature and buffers (cached: pooled buffers come back). */
  private bindGroup(inputs: Tensor[], outputs: Tensor[], uniform: boolean): GPUBindGroup {
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

  /**
   * Hint that the work submitted so far keeps the device busy for about `ms`: the next readback
   * or sync first sleeps until then (submitting first). Why: in Node, dawn.node drives a pending
   * map or onSubmittedWorkDone by re-queuing itself with setImmediate, a busy loop for as long as
   * the device works; on a CPU adapter (lavapipe) that loop takes a core from the driver's own
   * threads (measured: the main thread burned more CPU than the fused training kernels). Sleeping
   * through most of the expected time leaves the cores to the device. A no-op outside Node.
   */
  expectWork(ms: number): void {
    this.flush();
    const nodeLike = typeof process !== 'undefined' && !!process.versions?.node;
    if (!nodeLike || !(ms > 0)) return;
    const now = performance.now();
    this.expected = { since: now, until: now + ms, ms };
  }

  /** How long the work announced by the last expectWork() really took (until its readback), once. */
  takeObservedWork(): { expectedMs: number; elapsedMs: number } | null {
    const o = this.observed;
    this.observed = null;
    return o;
  }

  private async sleepThroughExpectedWork(): Promise<void> {
    if (!this.expected) return;
    const wait = this.expected.until - performance.now();
    if (wait >= 1) await new Promise((r) => setTimeout(r, wait));
  }

  private finishExpectedWork(): void {
    if (!this.expected) return;
    this.observed = { expectedMs: this.expected.ms, elapsedMs: performance.now() - this.expected.since };
    this.expected = null;
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
      const buf = this.readbackPool.get(bytes)?.pop() ?? this.device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      if (count > 0) enc.copyBufferToBuffer(r.tensor.buffer, offset * 4, buf, 0, count * 4);
      staging.push({ buf, count });
    }
    this.flush();
    await this.sleepThroughExpectedWork();
    try {
      await Promise.all(staging.map((s) => s.buf.mapAsync(GPUMapMode.READ)));
    } catch (e) {
      this.checkErrors();
      throw e;
    }
    this.finishExpectedWork();
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
    await this.sleepThroughExpectedWork();
    await this.device.queue.onSubmittedWorkDone();
    this.finishExpectedWork();
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
