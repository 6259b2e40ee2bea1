/**
 * WebGPU in Node through Dawn (the `webgpu` npm package). Only Node entry points (the CLI,
 * tests, benchmarks) import this file, so the browser bundle never sees the native module.
 *
 * On Linux without a GPU, Dawn uses a Vulkan driver: Mesa's lavapipe when VK_ICD_FILENAMES
 * points at it (what .ci/run installs), SwiftShader as a slower fallback.
 */
import { existsSync } from 'node:fs';
import * as dawn from 'webgpu';

const ICD_CANDIDATES = ['/usr/share/vulkan/icd.d/lvp_icd.json', '/usr/lib/chromium/vk_swiftshader_icd.json'];

/**
 * Every GPU object created here, kept reachable for the life of the process: Dawn destroys its
 * native instance when the JS object is collected, even while a device made from it is in use.
 */
const keepAlive: GPU[] = [];

/** Create a `GPU` object (the Node counterpart of `navigator.gpu`). */
export async function createNodeGpu(dawnOptions: string[] = []): Promise<GPU> {
  if (!process.env.VK_ICD_FILENAMES && !process.env.VK_DRIVER_FILES) {
    const icd = ICD_CANDIDATES.find((p) => existsSync(p));
    if (icd) process.env.VK_ICD_FILENAMES = icd;
  }
  if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = '/tmp';
  // The environment must be set before Dawn enumerates Vulkan drivers, which happens in create().
  const mod = dawn as unknown as { create: (opts: string[]) => GPU; globals: object };
  Object.assign(globalThis, mod.globals);
  const gpu = mod.create(dawnOptions);
  keepAlive.push(gpu);
  return gpu;
}
