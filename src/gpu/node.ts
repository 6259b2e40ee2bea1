/**
 * WebGPU in Node through Dawn (the `webgpu` npm package). Only Node entry points (the CLI,
 * tests, benchmarks) import this file, so the browser bundle never sees the native module.
 *
 * Nothing here touches process-wide state. Earlier versions set VK_ICD_FILENAMES and
 * XDG_RUNTIME_DIR in `process.env` and copied Dawn's globals (GPUBufferUsage, ...) into
 * `globalThis`; neither is needed:
 * - the engine spells out WebGPU's flag values itself (src/gpu/context.ts), so it needs no globals;
 * - the Vulkan loader finds drivers installed in the standard places (/usr/share/vulkan/icd.d,
 *   where Mesa's lavapipe lives) without any variable. To pick a driver elsewhere, or one among
 *   several, set VK_ICD_FILENAMES before Node starts (what .ci/run does); the loader reads it
 *   when Dawn enumerates adapters, and a library changing it mid-process would change it for
 *   everything else in the process too.
 * Code that needs the globals for another WebGPU client (TF.js in bench/util.ts) installs them
 * itself, as an application decision.
 */
import * as dawn from 'webgpu';

/**
 * Create a `GPU` object (the Node counterpart of `navigator.gpu`); `dawnOptions` as Dawn's
 * `create`. Dawn destroys its native instance when this object is garbage-collected, even under
 * a live device: the caller keeps it reachable while it is in use (a GpuContext holds the one it
 * was created from for its whole life).
 */
export async function createNodeGpu(dawnOptions: string[] = []): Promise<GPU> {
  return (dawn as unknown as { create: (opts: string[]) => GPU }).create(dawnOptions);
}
