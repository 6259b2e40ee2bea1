/// <reference lib="webworker" />
/**
 * The lab's engine worker: owns the engines (WebGPU and the CPU) and the sessions, so the main
 * thread only renders. All logic is in worker-host.ts; this file plugs in the browser's
 * navigator.gpu, fetch for the image subsets, and postMessage.
 */
import { WorkerHost } from './worker-host';
import { openCpuBackend, openGpuBackend } from './backends';
import { decodeImageSet, IMAGE_SETS } from '../data/images';
import type { FromWorker, ToWorker } from './protocol';

declare const self: DedicatedWorkerGlobalScope;

let baseUrl = '/';

const host = new WorkerHost({
  post: (m: FromWorker) => self.postMessage(m),
  openGpu: () => openGpuBackend(self.navigator.gpu),
  openCpu: () => openCpuBackend(),
  async loadImages(name) {
    const meta = IMAGE_SETS[name];
    const url = new URL(`datasets/${meta.file}`, new URL(baseUrl, self.location.href)).href;
    const res = await fetch(url);
    if (!res.ok) throw new Error(`could not load the ${name} images from ${url}: HTTP ${res.status}`);
    return decodeImageSet(name, new Uint8Array(await res.arrayBuffer()));
  },
});

self.onmessage = (e: MessageEvent<ToWorker>) => {
  if (e.data.type === 'init') baseUrl = e.data.baseUrl;
  host.handle(e.data);
};
