/**
 * The lab's default experiment in Chromium (Debian's /usr/bin/chromium, WebGPU through
 * SwiftShader, driven by playwright-core as in tests/e2e): steps per second from Play until the
 * run is done (or `--seconds` have passed), read from the step counter. This is the browser
 * target of issue 10 (the default experiment 5x faster than before the fused path).
 *
 *   npm run bench -- lab [--seconds 120] [--root DIR] [--runs 2] [--backend auto|webgpu|cpu]
 *
 * `--backend` opens the lab with `?backend=` (default `auto`: the lab's own choice, which on a
 * software adapter times both engines on the experiment and keeps the faster; `webgpu` forces the
 * WGSL engine, as every run did before the choice existed).
 * `--root` builds and serves another checkout of the lab (e.g. the commit before the fused path,
 * extracted with `git archive`), so before and after are measured by the same script on the same
 * machine. Not part of the default suite list's timing-sensitive runs: Chromium shares the CPU
 * with its own GPU process, so figures move with the machine's load.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { build, preview } from 'vite';
import { chromium } from 'playwright-core';
import type { GpuContext } from '../src/gpu/context';
import { argNumber, argValue, median } from './util';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless=new', '--no-sandbox', '--disable-gpu-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic', '--enable-unsafe-webgpu'];

export async function benchLab(_ctx: GpuContext, args: string[]): Promise<string[]> {
  if (!existsSync(CHROMIUM)) throw new Error(`no ${CHROMIUM}: apt-get install chromium (no browser is downloaded)`);
  const root = resolve(argValue(args, '--root') ?? fileURLToPath(new URL('..', import.meta.url)));
  const seconds = argNumber(args, '--seconds', 120);
  const runs = argNumber(args, '--runs', 2);
  const backend = argValue(args, '--backend') ?? 'auto';
  if (!['auto', 'webgpu', 'cpu'].includes(backend)) throw new Error(`--backend: expected auto, webgpu or cpu, found ${backend}`);
  const out = resolve(fileURLToPath(new URL('..', import.meta.url)), 'test-results', 'bench-lab-dist');
  mkdirSync(out, { recursive: true });
  await build({ root, configFile: resolve(root, 'vite.config.ts'), logLevel: 'warn', build: { outDir: out, emptyOutDir: true } });
  const server = await preview({ root, configFile: resolve(root, 'vite.config.ts'), logLevel: 'warn', build: { outDir: out }, preview: { host: '127.0.0.1', port: 0, strictPort: false, open: false } });
  const url = `http://127.0.0.1:${(server.httpServer.address() as AddressInfo).port}/${backend === 'auto' ? '' : `?backend=${backend}`}`;
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  const lines: string[] = [`root: ${root}; backend: ${backend}`];
  const rates: number[] = [];
  try {
    for (let r = 0; r < runs; r++) {
      const page = await (await browser.newContext({ viewport: { width: 1360, height: 900 } })).newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(url);
      const adapter = page.getByTestId('adapter');
      await page.waitForFunction(() => !!document.querySelector('[data-testid=play]:not([disabled])'), undefined, { timeout: 300_000 });
      const badge = (await adapter.textContent())?.trim();
      const total = await page.evaluate(() => Number(/\/\s*(\d+)/.exec(document.querySelector('[data-testid=status]')?.textContent ?? '')?.[1] ?? NaN));
      await page.getByTestId('play').click();
      const t0 = Date.now();
      // The first events include the pipelines' compilation: time from the first step on.
      await page.waitForFunction(() => Number(document.querySelector('[data-testid=step-count]')?.textContent ?? 0) > 0, undefined, { timeout: 600_000 });
      const t1 = Date.now();
      const s1 = Number(await page.getByTestId('step-count').textContent());
      await page.waitForFunction(
        ([end]) => document.querySelector('[data-testid=status]')?.getAttribute('data-status') === 'done' || Date.now() > end,
        [t1 + seconds * 1000] as const,
        { timeout: (seconds + 60) * 1000, polling: 250 },
      );
      const t2 = Date.now();
      const s2 = Number(await page.getByTestId('step-count').textContent());
      const rate = (s2 - s1) / ((t2 - t1) / 1000);
      rates.push(rate);
      lines.push(
        `run ${r + 1}: ${badge}; ${s2} of ${total} steps; first step after ${((t1 - t0) / 1000).toFixed(1)} s; ${rate.toFixed(1)} steps/s from then on` +
          (errors.length ? `; page errors: ${errors.join(' | ')}` : ''),
      );
      await page.context().close();
    }
  } finally {
    await browser.close();
    await new Promise<void>((res) => server.httpServer.close(() => res()));
  }
  lines.push(`summary: default experiment in Chromium (SwiftShader), backend ${backend}: ${median(rates).toFixed(1)} steps/s (median of ${runs})`);
  return lines;
}
