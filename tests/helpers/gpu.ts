/**
 * One GPU context per test worker, through Dawn. There is no skip path: if no adapter is
 * found the test fails with the reason (a skipped GPU test is not a pass).
 * Tests that need another engine configuration (small curvature chunks, capped limits) get a
 * context of their own on the same adapter from `gpuContextWith`, one per distinct set of options.
 */
import { afterAll } from 'vitest';
import { GpuContext, type ContextOptions } from '../../src/gpu/context';
import { createNodeGpu } from '../../src/gpu/node';

let gpuPromise: Promise<GPU> | null = null;
const contexts = new Map<string, Promise<GpuContext>>();

function contextWith(options: ContextOptions): Promise<GpuContext> {
  const key = JSON.stringify(options);
  let ctx = contexts.get(key);
  if (!ctx) {
    gpuPromise ??= createNodeGpu();
    ctx = gpuPromise.then((gpu) => GpuContext.create(gpu, options));
    contexts.set(key, ctx);
  }
  return ctx;
}

/** The default context of this worker. */
export function gpuContext(): Promise<GpuContext> {
  return contextWith({});
}

/** A context with its own configuration (src/gpu/config.ts), on the same adapter. */
export function gpuContextWith(options: ContextOptions): Promise<GpuContext> {
  return contextWith(options);
}

afterAll(async () => {
  for (const p of contexts.values()) {
    const ctx = await p.catch(() => null);
    ctx?.destroy();
  }
  contexts.clear();
});
