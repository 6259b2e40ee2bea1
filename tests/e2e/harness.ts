/**
 * End-to-end harness: builds the lab once per test file (Vite, into test-results/), serves it
 * with Vite's preview server on a free port, and drives Debian's Chromium through
 * playwright-core (WebGPU through SwiftShader). Never downloads a browser; a missing Chromium or
 * WebGPU adapter fails the tests.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, preview, type PreviewServer } from 'vite';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { AddressInfo } from 'node:net';
import { encodeDoc } from '../../src/lab/url';
import type { LabDoc } from '../../src/lab/doc/document';

export const CHROMIUM = '/usr/bin/chromium';
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const OUT = resolve(ROOT, 'test-results');
const DIST = resolve(OUT, 'e2e-dist');

export const BASE_ARGS = ['--headless=new', '--no-sandbox', '--disable-gpu-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];
export const WEBGPU_ARGS = [...BASE_ARGS, '--enable-unsafe-webgpu'];

export async function buildAndServe(): Promise<{ server: PreviewServer; url: string }> {
  mkdirSync(OUT, { recursive: true });
  await build({ root: ROOT, logLevel: 'warn', build: { outDir: DIST, emptyOutDir: true } });
  const server = await preview({ root: ROOT, logLevel: 'warn', build: { outDir: DIST }, preview: { host: '127.0.0.1', port: 0, strictPort: false, open: false } });
  const addr = server.httpServer.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${addr.port}/` };
}

export async function launch(args = WEBGPU_ARGS): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`no ${CHROMIUM}: apt-get install chromium (the e2e tests use Debian's Chromium, never a downloaded one)`);
  return chromium.launch({ executablePath: CHROMIUM, args });
}

/** A page that fails the test on any uncaught error in the page. */
export async function openPage(browser: Browser, url: string, errors: string[]): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  await page.goto(url);
  return page;
}

export const linkTo = (url: string, doc: LabDoc, query = '') => `${url}${query}#${encodeDoc(doc)}`;

/** A model small enough for SwiftShader (~0.2 GFLOPS): trains 40 steps in seconds. */
export const TINY: LabDoc = {
  v: 1,
  spec: {
    name: 'e2e: tiny disk',
    model: {
      input: [2],
      layers: [
        { type: 'dense', units: 8, activation: 'relu' },
        { type: 'dense', units: 8, activation: 'relu' },
        { type: 'dense', units: 1, activation: 'linear' },
      ],
      parameterization: 'standard',
    },
    init: { seed: 0, scheme: 'standard', gain: 1 },
    loss: 'mse',
    data: { dataset: 'disk', n: 24, n_test: 24, seed: 0, noise: 0, label_noise: 0 },
    train: { optimizer: 'gd', lr: 0.2, steps: 40, alpha: 1, seed: 0 },
  },
  compare: null,
  view: { alignment: 'ntk_centered' },
};

/** Wait for the lab's run status (data-status of the status line). */
export async function waitStatus(page: Page, status: string | RegExp, timeout = 90_000): Promise<void> {
  await page.waitForFunction(
    ([s, isRe]) => {
      const v = document.querySelector('[data-testid=status]')?.getAttribute('data-status') ?? '';
      return isRe ? new RegExp(s).test(v) : v === s;
    },
    [status instanceof RegExp ? status.source : status, status instanceof RegExp] as const,
    { timeout },
  );
}

/** Width and height from a PNG's IHDR chunk (throws if the bytes are not a PNG). */
export function pngSize(bytes: Buffer): { width: number; height: number } {
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (bytes.length < 33 || sig.some((b, i) => bytes[i] !== b)) throw new Error('not a PNG file');
  if (bytes.toString('ascii', 12, 16) !== 'IHDR') throw new Error('PNG without IHDR first');
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

/** Finite numbers currently drawn in a plot (from plotly's own data on the graph div). */
export async function plotNumbers(page: Page, id: string): Promise<{ finite: number; nonFinite: number; traces: number }> {
  return page.evaluate((pid) => {
    const gd = document.querySelector(`[data-testid=plot-${pid}]`) as (HTMLElement & { data?: Record<string, unknown>[] }) | null;
    let finite = 0;
    let nonFinite = 0;
    const walk = (v: unknown) => {
      if (typeof v === 'number') (Number.isFinite(v) ? finite++ : nonFinite++);
      else if (Array.isArray(v) || ArrayBuffer.isView(v)) Array.prototype.forEach.call(v, walk);
    };
    for (const t of gd?.data ?? []) {
      walk(t.y);
      walk(t.z);
    }
    return { finite, nonFinite, traces: gd?.data?.length ?? 0 };
  }, id);
}
