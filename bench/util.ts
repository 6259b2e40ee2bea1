/**
 * Shared pieces of the benchmark suites: argument parsing, robust timing, formatting, and
 * TensorFlow.js's WebGPU backend on the same Dawn `GPU` object (hence the same adapter) as the
 * engine, in the same process.
 */
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's Node bundle registers no gradients (the `@tensorflow/tfjs` union package does, from
// ES modules with extensionless imports that Node cannot load). Imported by path, Vite's module
// runner transforms them; they register into tfjs's global registry, which the bundle shares.
import '../node_modules/@tensorflow/tfjs-core/dist/register_all_gradients.js';
import { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { createNodeGpu } from '../src/gpu/node';
import * as dawn from 'webgpu';

/** Value of `--name v` or `--name=v`. */
export function argValue(args: readonly string[], name: string): string | undefined {
  const i = args.findIndex((a) => a === name || a.startsWith(`${name}=`));
  if (i < 0) return undefined;
  return args[i].includes('=') ? args[i].slice(args[i].indexOf('=') + 1) : args[i + 1];
}

export function argNumber(args: readonly string[], name: string, fallback: number): number {
  const v = argValue(args, name);
  if (v === undefined) return fallback;
  const x = Number(v);
  if (!Number.isFinite(x) || x <= 0) throw new Error(`${name} expects a positive number, got "${v}"`);
  return x;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function fmtMs(ms: number): string {
  if (ms >= 60_000) return `${(ms / 60_000).toFixed(1)} min`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  return `${ms.toFixed(ms < 10 ? 2 : 1)} ms`;
}

export function fmtRatio(r: number): string {
  return r >= 100 ? `${r.toFixed(0)}x` : `${r.toFixed(r >= 10 ? 1 : 2)}x`;
}

/**
 * Run `fns` (each returns when its work has finished on the device) `reps` times, interleaved
 * (a, b, a, b, ...) so that load from other processes on a shared machine hits every contender
 * alike. Returns each contender's times in ms.
 */
export async function interleaved(reps: number, fns: (() => Promise<void>)[]): Promise<number[][]> {
  const times = fns.map(() => [] as number[]);
  for (let r = 0; r < reps; r++) {
    for (let i = 0; i < fns.length; i++) {
      const t0 = performance.now();
      await fns[i]();
      times[i].push(performance.now() - t0);
    }
  }
  return times;
}

let gpuObject: Promise<GPU> | null = null;

/** The one Dawn `GPU` object of a benchmark run (the engine's context and TF.js both use it). */
export function benchGpu(): Promise<GPU> {
  gpuObject ??= createNodeGpu();
  return gpuObject;
}

export interface Tfjs {
  tf: typeof tf;
  backend: WebGPUBackend;
  /** TF.js's adapter, in the engine's words. */
  adapter: string;
  /** Submit TF.js's recorded commands and wait until the device has finished them. */
  sync(): Promise<void>;
}

let tfjs: Promise<Tfjs> | null = null;

/**
 * TensorFlow.js (tfjs-core + tfjs-backend-webgpu) on its own device from the same `GPU` object
 * as the engine, requested the way its own registration does in a browser (high-performance
 * adapter, the adapter's storage and workgroup limits).
 */
export function tfjsWebGpu(): Promise<Tfjs> {
  tfjs ??= (async () => {
    const gpu = await benchGpu();
    // tfjs-backend-webgpu reads WebGPU's flag globals (GPUBufferUsage, ...), which only browsers
    // define: install Dawn's (the engine itself needs none, see src/gpu/node.ts).
    Object.assign(globalThis, (dawn as unknown as { globals: object }).globals);
    // tfjs-backend-webgpu checks navigator.gpu (Node 20 has no navigator; later versions have
    // one without `gpu`).
    const nav = (globalThis as { navigator?: object }).navigator;
    if (!nav) Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
    else if (!('gpu' in nav)) Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true });
    const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) throw new Error('TF.js: no WebGPU adapter');
    const l = adapter.limits;
    const device = await adapter.requestDevice({
      requiredLimits: {
        maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
        maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
        maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
        maxBufferSize: l.maxBufferSize,
        maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
        maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      },
    });
    const info = adapter.info;
    const backend = new WebGPUBackend(device, info);
    tf.registerBackend('webgpu', () => backend, 3);
    if (!(await tf.setBackend('webgpu'))) throw new Error('TF.js: could not set the webgpu backend');
    await tf.ready();
    const summary = info.description || [info.vendor, info.architecture, info.device].filter(Boolean).join(' ');
    return {
      tf,
      backend,
      adapter: summary,
      async sync() {
        backend.ensureCommandEncoderReady();
        backend.endComputePassEncoder();
        backend.submitQueue();
        await device.queue.onSubmittedWorkDone();
      },
    };
  })();
  return tfjs;
}
