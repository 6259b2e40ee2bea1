/**
 * One GPU context per test worker, through Dawn. There is no skip path: if no adapter is
 * found the test fails with the reason (a skipped GPU test is not a pass).
 */
import { afterAll } from 'vitest';
import { GpuContext } from '../../src/gpu/context';
import { createNodeGpu } from '../../src/gpu/node';

let ctxPromise: Promise<GpuContext> | null = null;

export function gpuContext(): Promise<GpuContext> {
  if (!ctxPromise) {
    ctxPromise = (async () => {
      const gpu = await createNodeGpu();
      return GpuContext.create(gpu);
    })();
  }
  return ctxPromise;
}

afterAll(async () => {
  if (ctxPromise) {
    const ctx = await ctxPromise.catch(() => null);
    ctx?.destroy();
    ctxPromise = null;
  }
});
