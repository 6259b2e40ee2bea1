/**
 * End-to-end harness: builds the lab once per test file (Vite, into test-results/), serves it
 * with Vite's preview server on a free port, and drives Debian's Chromium through
 * playwright-core (WebGPU through SwiftShader). Never downloads a browser; a missing Chromium or
 * WebGPU adapter fails the tests.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createHash } from 'node:crypto';
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

/** A fingerprint of everything the lab's build reads (paths, sizes, modification times). */
function sourceStamp(): string {
  const h = createHash('sha256');
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else h.update(`${p}:${st.size}:${st.mtimeMs}\n`);
    }
  };
  for (const d of ['src', 'shaders', 'public']) if (existsSync(resolve(ROOT, d))) walk(resolve(ROOT, d));
  for (const f of ['index.html', 'vite.config.ts', 'package.json']) {
    const st = statSync(resolve(ROOT, f));
    h.update(`${f}:${st.size}:${st.mtimeMs}\n`);
  }
  return h.digest('hex');
}

/**
 * Build the lab (once for every e2e test file: a build of the same sources is reused) and serve
 * it with Vite's preview server on a free port.
 */
export async function buildAndServe(): Promise<{ server: PreviewServer; url: string }> {
  mkdirSync(OUT, { recursive: true });
  const stamp = sourceStamp();
  const stampFile = resolve(DIST, '.source-stamp');
  if (!existsSync(stampFile) || readFileSync(stampFile, 'utf8') !== stamp) {
    await build({ root: ROOT, logLevel: 'warn', build: { outDir: DIST, emptyOutDir: true } });
    writeFileSync(stampFile, stamp);
  }
  const server = await preview({ root: ROOT, logLevel: 'warn', build: { outDir: DIST }, preview: { host: '127.0.0.1', port: 0, strictPort: false, open: false } });
  const addr = server.httpServer.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${addr.port}/` };
}

export async function launch(args = WEBGPU_ARGS): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`no ${CHROMIUM}: apt-get install chromium (the e2e tests use Debian's Chromium, never a downloaded one)`);
  return chromium.launch({ executablePath: CHROMIUM, args });
}

/** A page that fails the test on any uncaught error in the page. */
export async function openPage(browser: Browser, url: string, errors: string[], viewport = { width: 1360, height: 900 }): Promise<Page> {
  const context = await browser.newContext({ viewport, acceptDownloads: true });
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

export type LabWindow = Window & { tangentLab: { store: { getState(): Record<string, any> }; worker: Worker } };

/** Wait until the engine is ready and the current document's runs exist in the worker. */
export async function waitReady(page: Page, timeout = 90_000): Promise<void> {
  await page.waitForFunction(
    () => {
      const s = (window as unknown as LabWindow).tangentLab?.store.getState();
      return !!s && s.backend.status === 'ready' && !s.backend.choosing && s.runs.length > 0 && s.runs.every((r: { info: unknown }) => r.info !== null) && s.status !== 'loading';
    },
    null,
    { timeout },
  );
}

/** Click an export button and return the downloaded file's text. */
export async function download(page: Page, testId: string): Promise<{ name: string; text: string }> {
  const [d] = await Promise.all([page.waitForEvent('download'), page.click(`[data-testid=${testId}]`)]);
  return { name: d.suggestedFilename(), text: readFileSync((await d.path())!, 'utf8') };
}

/** The Metrics CSV as the user exports it (the settings panels hold the button). */
export async function exportCsv(page: Page): Promise<string> {
  await openSettings(page);
  return (await download(page, 'export-csv')).text;
}

/** On narrow screens the settings are folded into one group: open it. */
export async function openSettings(page: Page): Promise<void> {
  const group = page.locator('[data-testid=settings-group]');
  if ((await group.count()) && !(await group.evaluate((e) => (e as HTMLDetailsElement).open))) await group.locator('summary').click();
}

/** Wait until no plot has been redrawn for `quietMs` (every dirty plot drawn; for screenshots). */
export async function plotsSettled(page: Page, quietMs = 1500, timeout = 30_000): Promise<void> {
  const t0 = Date.now();
  let last = '';
  let since = Date.now();
  while (Date.now() - t0 < timeout) {
    const now = await page.evaluate(() => [...document.querySelectorAll('.plot')].map((e) => (e as HTMLElement).dataset.renders ?? '-').join(','));
    if (now !== last) {
      last = now;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) return;
    await page.waitForTimeout(250);
  }
}
