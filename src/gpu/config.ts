/**
 * Engine configuration, scoped to one GPU context: `GpuContext.create(gpu, options)` resolves
 * `ContextOptions` once into `ctx.config` (frozen) and `ctx.limits`. Everything that is a
 * setting rather than a fact of the device lives here, so two contexts in one process (a test
 * that needs small chunks next to one that does not, a benchmark forcing a kernel variant) never
 * see each other's settings, and no module keeps a mutable default.
 */

/** The device limits the engine plans its work around. */
export interface EngineLimits {
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  maxComputeWorkgroupStorageSize: number;
  maxComputeInvocationsPerWorkgroup: number;
  maxComputeWorkgroupsPerDimension: number;
  maxStorageBuffersPerShaderStage: number;
}

export const ENGINE_LIMIT_NAMES: readonly (keyof EngineLimits)[] = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
];

/** The two kernels of the matmul family (src/ops/matmul.ts). */
export type MatmulVariant = 'tiled' | 'blocked';

/** Budgets of the curvature computations (src/curvature), which choose routes and chunk sizes by them. */
export interface CurvatureBudget {
  /**
   * Largest per-chunk temporary of the chunked routines (conv EKFAC diagonals, exact blocks,
   * conv Gram terms), in bytes; the device's storage binding limit caps it too.
   */
  chunkBytes: number;
  /** Largest layer size P_l whose Frobenius errors use explicit P_l x P_l blocks (a 16 MiB block at 2048). */
  explicitMaxParams: number;
  /** Largest projected-gradient matrix (n c x P_l floats, in bytes) of the eigenbasis Frobenius route (capped by the device). */
  eigenbasisMaxBytes: number;
  /** Largest work n c P_l^2 (multiply-adds) of the eigenbasis route (1e11: tens of seconds on a software adapter). */
  eigenbasisMaxWork: number;
}

export const DEFAULT_CURVATURE_BUDGET: Readonly<CurvatureBudget> = Object.freeze({
  chunkBytes: 64 << 20,
  explicitMaxParams: 2048,
  eigenbasisMaxBytes: 128 << 20,
  eigenbasisMaxWork: 1e11,
});

export interface ContextOptions {
  /** Label of the device (WebGPU error messages name it). */
  label?: string;
  /**
   * Caps on the limits the engine plans around (default: the adapter's). The engine sizes and
   * checks its work against `ctx.limits`, so a cap makes it take the paths a smaller device
   * would (tests use it for the 2-D workgroup grid, matmul batch chunks and the eigensolver's
   * blocked path). A cap above the adapter's limit is ignored.
   */
  limits?: Partial<EngineLimits>;
  /** Matmul kernel: `auto` (default) takes `blocked` on CPU adapters and `tiled` on GPUs. */
  matmul?: 'auto' | MatmulVariant;
  /** Curvature budgets (defaults: DEFAULT_CURVATURE_BUDGET). */
  curvature?: Partial<CurvatureBudget>;
}

/** The resolved configuration of a context. */
export interface EngineConfig {
  readonly label: string;
  readonly matmul: MatmulVariant;
  readonly curvature: Readonly<CurvatureBudget>;
}

/** `value` if it is a positive integer (or, with `zero`, a non-negative one); else a one-line error naming the option. */
function count(value: number, what: string, zero = false): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < (zero ? 0 : 1)) {
    throw new Error(`context option ${what} must be a ${zero ? 'non-negative' : 'positive'} integer, got ${value}`);
  }
  return value;
}

/** Resolve and validate options (bad values throw, naming the option). */
export function resolveConfig(opts: ContextOptions, cpuAdapter: boolean): EngineConfig {
  const want = opts.matmul ?? 'auto';
  if (want !== 'auto' && want !== 'tiled' && want !== 'blocked') throw new Error(`context option matmul must be auto, tiled or blocked, got ${want}`);
  const c = { ...DEFAULT_CURVATURE_BUDGET, ...opts.curvature };
  for (const k of Object.keys(c) as (keyof CurvatureBudget)[]) {
    if (!(k in DEFAULT_CURVATURE_BUDGET)) throw new Error(`unknown context option curvature.${k}`);
    // 0 is allowed for the route thresholds (never take that route), not for the chunk size.
    count(c[k], `curvature.${k}`, k !== 'chunkBytes');
  }
  return Object.freeze({
    label: opts.label ?? 'tangent-lab',
    matmul: want === 'auto' ? (cpuAdapter ? 'blocked' : 'tiled') : want,
    curvature: Object.freeze(c),
  });
}

/** The limits to plan around: the adapter's, lowered by the caps (each cap must be a positive integer). */
export function cappedLimits(adapter: EngineLimits, caps: Partial<EngineLimits> = {}): EngineLimits {
  const out = {} as EngineLimits;
  for (const k of ENGINE_LIMIT_NAMES) {
    const cap = caps[k];
    out[k] = cap === undefined ? adapter[k] : Math.min(adapter[k], count(cap, `limits.${k}`));
  }
  for (const k of Object.keys(caps)) {
    if (!ENGINE_LIMIT_NAMES.includes(k as keyof EngineLimits)) throw new Error(`unknown context option limits.${k}`);
  }
  return out;
}
