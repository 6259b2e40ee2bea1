// The lab end to end in Debian's Chromium (WebGPU through SwiftShader): load, edit with the
// keyboard, play, live plots with finite values and no long main-thread frames, PNG / JSON / CSV
// export, shared links, presets, bad input, device loss, themes and labels; screenshots go to
// test-results/.
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { PreviewServer } from 'vite';
import { OUT, TINY, buildAndServe, launch, linkTo, openPage, plotNumbers, pngSize, waitStatus } from './harness';
import { decodeHash } from '../../src/lab/url';
import { PRESETS } from '../../src/lab/presets';
import type { LabDoc } from '../../src/lab/doc/document';

let server: PreviewServer;
let url: string;
let browser: Browser;
let page: Page;
const errors: string[] = [];

type LabWindow = Window & { tangentLab: { store: { getState(): Record<string, any> }; worker: Worker } };

/** The document in the page's URL (after the throttled hash update has landed). */
const docOf = async (p: Page): Promise<LabDoc> => {
  await p.waitForTimeout(250);
  const hash = await p.evaluate(() => location.hash);
  const d = decodeHash(hash);
  if (d.kind !== 'doc') throw new Error(`the page's hash does not hold a document: ${JSON.stringify(d)}`);
  return d.doc;
};
/** Load a link as a fresh page (a goto that only changes the hash would not reload). */
const fresh = async (p: Page, link: string) => {
  await p.goto('about:blank');
  await p.goto(link);
  await p.waitForSelector('[data-testid=adapter]:has-text("WebGPU")', { timeout: 60_000 });
};
/** The document in the page's store. */
const storeDoc = (p: Page): Promise<LabDoc> => p.evaluate(() => (window as unknown as LabWindow).tangentLab.store.getState().doc as LabDoc);
const finalLoss = (p: Page) =>
  p.evaluate(() => {
    const s = (window as unknown as LabWindow).tangentLab.store.getState();
    const c = s.runs[0].series.cols;
    return { step: c.step.at(-1) as number, loss: c['loss.actual'].at(-1) as number, lin: c['loss.linearized'].at(-1) as number };
  });

beforeAll(async () => {
  ({ server, url } = await buildAndServe());
  browser = await launch();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('the lab in Chromium with WebGPU', () => {
  it('loads with a WebGPU adapter and draws the kernel at θ₀', async () => {
    page = await openPage(browser, linkTo(url, TINY), errors);
    await expect(page.title()).resolves.toMatch(/Tangent Lab/);
    await page.waitForSelector('[data-testid=adapter]:has-text("WebGPU")', { timeout: 60_000 });
    expect(await page.textContent('[data-testid=adapter]')).toMatch(/WebGPU · .+/);
    await page.waitForSelector('[data-testid=analysis-status]:has-text("computed in")', { timeout: 60_000 });
    await page.waitForFunction(() => Number(document.querySelector('[data-testid=plot-alignment]')?.getAttribute('data-points') ?? 0) > 0, null, { timeout: 30_000 });
    expect(await page.textContent('[data-testid=lr-bound]')).toMatch(/Stable below 2n\/λ_max ≈ \d/);
    expect(errors).toEqual([]);
  }, 120_000);

  it('changes sliders and selects with the keyboard; the URL follows', async () => {
    const before = await docOf(page);
    await page.focus('#param-width');
    for (let i = 0; i < 4; i++) await page.keyboard.press('ArrowRight');
    await page.waitForFunction(() => /dense 1[0-9]/.test(document.querySelector('[data-testid=model-summary]')?.textContent ?? ''));
    await page.selectOption('#param-activation', 'tanh');
    await page.focus('#param-n');
    await page.keyboard.press('ArrowLeft');
    const after = await docOf(page);
    expect(after).toEqual(await storeDoc(page));
    expect(after).not.toEqual(before);
    const hidden = after.spec.model.layers.filter((l) => l.type === 'dense').slice(0, -1) as { units: number; activation: string }[];
    expect(hidden.every((l) => l.units > 8 && l.activation === 'tanh')).toBe(true);
    expect((after.spec.data as { n: number }).n).toBe(23);
    // the exact-value box of a log slider
    await page.fill('[aria-label="Learning rate η (exact value)"]', '0.3');
    await page.press('[aria-label="Learning rate η (exact value)"]', 'Enter');
    await page.waitForTimeout(300);
    expect((await docOf(page)).spec.train!.lr).toBe(0.3);
    // back to the tiny spec for the rest
    await fresh(page, linkTo(url, TINY));
  }, 120_000);

  it('plays: live plots update with finite values; the main thread stays responsive', async () => {
    await page.evaluate(() => {
      const w = window as unknown as { __frames: { duration: number; blocking: number; script: number }[]; __count: number; __counting: boolean };
      w.__frames = [];
      w.__count = 0;
      w.__counting = true;
      const tick = () => {
        w.__count++;
        if (w.__counting) requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
      // Long animation frames (> 50 ms), with how much of it the main thread was blocked
      // (blockingDuration: the excess of tasks and rendering over 50 ms) and its script time.
      new PerformanceObserver((list) => {
        for (const e of list.getEntries() as (PerformanceEntry & { blockingDuration?: number; scripts?: { duration: number }[] })[]) {
          const script = (e.scripts ?? []).reduce((a, x) => a + x.duration, 0);
          w.__frames.push({ duration: e.duration, blocking: e.blockingDuration ?? e.duration - 50, script });
        }
      }).observe({ type: PerformanceObserver.supportedEntryTypes.includes('long-animation-frame') ? 'long-animation-frame' : 'longtask', buffered: false });
    });
    await page.selectOption('#speed', '2');
    await page.click('[data-testid=play]');
    await waitStatus(page, 'running', 60_000);
    // plots update while training
    await page.waitForFunction(() => Number(document.querySelector('[data-testid=plot-loss]')?.getAttribute('data-renders') ?? 0) >= 2, null, { timeout: 60_000 });
    // the UI answers a click at once while training: pause, then resume
    const t0 = Date.now();
    await page.click('[data-testid=pause]');
    await waitStatus(page, 'paused', 10_000);
    const pauseMs = Date.now() - t0;
    await page.click('[data-testid=play]');
    await waitStatus(page, 'done', 120_000);
    const stats = await page.evaluate(() => {
      const w = window as unknown as { __frames: { duration: number; blocking: number; script: number }[]; __count: number; __counting: boolean };
      w.__counting = false;
      const costs = [...document.querySelectorAll('.plot')].map((e) => Number((e as HTMLElement).dataset.cost)).filter((c) => Number.isFinite(c));
      return { frames: w.__count, long: w.__frames, drawCosts: costs };
    });
    writeFileSync(resolve(OUT, 'frames.json'), JSON.stringify({ pauseMs, ...stats }, null, 1));
    // Frames in which the main thread is blocked beyond 50 ms must be rare and short. On a
    // software adapter the device computes on the same CPU cores as the page (and the
    // compositor), which stretches frames; a plot draw alone costs ~10-30 ms (data-cost).
    const blocked = stats.long.filter((f) => f.blocking > 0);
    const summary = `${blocked.length} blocked frames of ${stats.frames}: ${blocked.map((f) => Math.round(f.duration)).join(', ')}`;
    expect(pauseMs).toBeLessThan(3000);
    expect(blocked.length / Math.max(1, stats.frames), summary).toBeLessThan(0.1);
    expect(Math.max(0, ...stats.long.map((f) => f.blocking)), summary).toBeLessThan(500);
    const { step, loss, lin } = await finalLoss(page);
    expect(step).toBe(40);
    expect(Number.isFinite(loss) && Number.isFinite(lin)).toBe(true);
    expect(await page.textContent('[data-testid=step-count]')).toBe('40');
    for (const id of ['loss', 'gap', 'alignment', 'decision']) {
      const n = await plotNumbers(page, id);
      expect(n.finite, id).toBeGreaterThan(10);
      expect(n.nonFinite, id).toBe(0);
    }
    // every plot draws once scrolled into view
    for (const id of ['alignment_layers', 'spectrum', 'rank', 'movement', 'distance', 'ntk_heatmap', 'groups', 'race']) {
      await page.locator(`[data-testid=plot-${id}]`).scrollIntoViewIfNeeded();
      await page.waitForFunction((pid) => Number(document.querySelector(`[data-testid=plot-${pid}]`)?.getAttribute('data-points') ?? 0) > 0, id, { timeout: 20_000 });
      const n = await plotNumbers(page, id);
      expect(n.finite, id).toBeGreaterThan(0);
      expect(n.nonFinite, id).toBe(0);
    }
    // curvature: KFAC / EKFAC vs the exact Fisher
    await page.click('[data-testid=measure-curvature]');
    await page.locator('[data-testid=plot-curvature_err]').scrollIntoViewIfNeeded();
    await page.waitForFunction(() => Number(document.querySelector('[data-testid=plot-curvature_err]')?.getAttribute('data-points') ?? 0) > 0, null, { timeout: 60_000 });
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: resolve(OUT, 'lab-trained.png'), fullPage: true });
    expect(errors).toEqual([]);
  }, 240_000);

  it('exports a plot as a PNG of the chosen scale, the run as JSON and CSV', async () => {
    await page.click('[data-testid=card-loss] button:has-text("PNG")');
    await page.selectOption('#scale-loss', '2');
    const box = await page.evaluate(() => {
      const el = document.querySelector('[data-testid=plot-loss]') as HTMLElement;
      return { w: Math.round(el.clientWidth), h: Math.round(el.clientHeight) };
    });
    const [png] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=export-loss]')]);
    expect(png.suggestedFilename()).toBe('tangent-lab-loss.png');
    const bytes = readFileSync((await png.path())!);
    expect(pngSize(bytes)).toEqual({ width: 2 * box.w, height: 2 * box.h });
    expect(bytes.length).toBeGreaterThan(5000);

    const [json] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=export-json]')]);
    const run = JSON.parse(readFileSync((await json.path())!, 'utf8'));
    expect(run.format).toBe('tangent-lab-run');
    expect(run.doc).toEqual(TINY);
    expect(run.runs[0].series.step.at(-1)).toBe(40);
    expect(run.runs[0].series['loss.actual'].every((v: unknown) => typeof v === 'number' && Number.isFinite(v))).toBe(true);

    const [csv] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=export-csv]')]);
    const lines = readFileSync((await csv.path())!, 'utf8').trim().split('\n');
    expect(lines[0]).toMatch(/^run,step,wallTime,loss\.actual/);
    expect(lines.length).toBeGreaterThan(5);

    const [py] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=export-pytorch]')]);
    expect(py.suggestedFilename()).toMatch(/_pytorch\.py$/);
    const script = readFileSync((await py.path())!, 'utf8');
    expect(script.startsWith('#!/usr/bin/env python3\n')).toBe(true);
    expect(script).toMatch(/^KEYS = \[$/m);
  }, 60_000);

  it('round-trips a shared link: same spec, same run', async () => {
    const link = await page.inputValue('[data-testid=share-link]');
    const original = await finalLoss(page);
    const other = await openPage(browser, link, errors);
    await other.waitForSelector('[data-testid=adapter]:has-text("WebGPU")', { timeout: 60_000 });
    expect(await docOf(other)).toEqual(await docOf(page));
    await other.selectOption('#speed', '20');
    await other.click('[data-testid=play]');
    await waitStatus(other, 'done', 120_000);
    const replay = await finalLoss(other);
    expect(replay.step).toBe(40);
    expect(replay.loss).toBeCloseTo(original.loss, 6);
    expect(replay.lin).toBeCloseTo(original.lin, 6);
    await other.context().close();
  }, 180_000);

  it('loads each preset with one click', async () => {
    for (const [i, p] of PRESETS.entries()) {
      await page.click(`[data-testid=preset-${p.id}]`);
      await page.waitForFunction((name) => (window as unknown as LabWindow).tangentLab.store.getState().doc.spec.name === name, p.doc.spec.name);
      expect(await storeDoc(page)).toEqual(p.doc);
      expect(await docOf(page)).toEqual(p.doc);
      await expect(page.textContent('.banner.info')).resolves.toContain(p.title);
      // one click also starts it: the runs are created in the worker (waited for on the last,
      // the cheapest on a software adapter; the others are replaced by the next click)
      await waitStatus(page, /loading|running/, 30_000);
      if (i === PRESETS.length - 1) {
        await page.waitForFunction(
          (n) => {
            const s = (window as unknown as LabWindow).tangentLab.store.getState();
            return s.runs.length === n && s.runs.every((r: { info: unknown }) => r.info !== null);
          },
          p.doc.compare!.values.length,
          { timeout: 120_000 },
        );
      }
      const banners = await page.$$eval('[data-testid=banner-error]', (b) => b.map((x) => x.textContent));
      expect(banners, p.id).toEqual([]);
    }
    await page.click('[data-testid=pause]').catch(() => {});
    await page.screenshot({ path: resolve(OUT, 'lab-preset.png') });
  }, 300_000);

  it('keeps the previous state on bad input, with clear messages', async () => {
    await fresh(page, linkTo(url, TINY));
    const good = await docOf(page);
    // corrupted and hostile links
    for (const hash of ['#run=%%%garbage', `#run=${Buffer.from('{"v":1,"spec":"alert(1)"}').toString('base64url')}`]) {
      await page.evaluate((h) => (location.hash = h), hash);
      await page.waitForSelector('[data-testid=banner-error]:has-text("link")');
      expect(await docOf(page)).toEqual(good);
      await page.click('[data-testid=banner-error] button');
    }
    // malformed CSV
    await page.setInputFiles('[data-testid=csv-file]', { name: 'bad.csv', mimeType: 'text/csv', buffer: Buffer.from('x,y,label\n1,2,0\n3,oops,1\n') });
    await page.waitForSelector('[data-testid=csv-message]:has-text("bad.csv")');
    expect(await page.textContent('[data-testid=csv-message]')).toMatch(/line 3: column "y": "oops" is not a finite number/);
    await page.setInputFiles('[data-testid=csv-file]', { name: 'ragged.csv', mimeType: 'text/csv', buffer: Buffer.from('x,y,label\n1,2,0\n3,1\n') });
    await page.waitForSelector('[data-testid=csv-message]:has-text("ragged.csv")');
    expect(await page.textContent('[data-testid=csv-message]')).toMatch(/line 3: 2 cells, but the header has 3 columns \(ragged row\)/);
    expect(await docOf(page)).toEqual(good);
    // a spec file of the wrong shape, and one beyond the lab's limits
    await page.setInputFiles('[data-testid=import-file]', { name: 'wrong.json', mimeType: 'application/json', buffer: Buffer.from('{"model": [1, 2], "loss": "mse"}') });
    await page.waitForSelector('[data-testid=banner-error]:has-text("Could not import wrong.json")');
    const big = { ...TINY, spec: { ...TINY.spec, data: { dataset: 'disk', n: 100000 } } };
    await page.setInputFiles('[data-testid=import-file]', { name: 'big.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(big)) });
    await page.waitForSelector('[data-testid=banner-error]:has-text("big.json")');
    expect(await page.textContent('[data-testid=banner-error]:has-text("big.json")')).toMatch(/data\.n/);
    expect(await docOf(page)).toEqual(good);
    // a valid CSV upload trains
    const rows = Array.from({ length: 40 }, (_, i) => `${Math.cos(i)},${Math.sin(i)},${i % 2}`).join('\n');
    await page.setInputFiles('[data-testid=csv-file]', { name: 'ok.csv', mimeType: 'text/csv', buffer: Buffer.from(`a,b,label\n${rows}\n`) });
    await page.waitForSelector('[data-testid=csv-message]:has-text("ok.csv")');
    expect(await page.textContent('[data-testid=csv-message]')).toMatch(/32 training and 8 test rows/);
    expect((await storeDoc(page)).spec.loss).toBe('cross_entropy');
    expect((await docOf(page)).spec.loss).toBe('cross_entropy');
    // a diverging learning rate
    await fresh(page, linkTo(url, { ...TINY, spec: { ...TINY.spec, train: { ...TINY.spec.train!, lr: 500 } } }));
    await page.selectOption('#speed', '20');
    await page.click('[data-testid=play]');
    await page.waitForSelector('[data-testid=banner-error]:has-text("diverged")', { timeout: 120_000 });
    expect(await page.textContent('[data-testid=banner-error]:has-text("diverged")')).toMatch(/learning rate 500 diverged at step \d+.*below/);
    expect(await page.textContent('[data-testid=lr-bound]')).toMatch(/above it/);
  }, 240_000);

  it('recovers automatically from a device loss', async () => {
    await fresh(page, linkTo(url, { ...TINY, spec: { ...TINY.spec, train: { ...TINY.spec.train!, steps: 60 } } }));
    await page.selectOption('#speed', '2');
    await page.click('[data-testid=play]');
    await page.waitForFunction(() => Number(document.querySelector('[data-testid=step-count]')?.textContent) >= 10, null, { timeout: 60_000 });
    await page.evaluate(() => (window as unknown as LabWindow).tangentLab.worker.postMessage({ type: 'simulateDeviceLoss' }));
    await page.waitForSelector('[data-testid=banner-error]:has-text("device was lost")', { timeout: 30_000 });
    await page.waitForSelector('.banner:has-text("Recovered after the device loss")', { timeout: 60_000 });
    await waitStatus(page, 'done', 120_000);
    const { step, loss } = await finalLoss(page);
    expect(step).toBe(60);
    expect(Number.isFinite(loss)).toBe(true);
  }, 240_000);

  it('has labelled, keyboard-operable controls, tooltips, and a dark theme', async () => {
    const unlabelled = await page.evaluate(() =>
      [...document.querySelectorAll('input, select, button')]
        .filter((el) => (el as HTMLElement).offsetParent !== null)
        .filter((el) => {
          const e = el as HTMLInputElement;
          const name = (e.labels && e.labels.length > 0) || e.getAttribute('aria-label') || (el.tagName === 'BUTTON' && el.textContent!.trim() !== '');
          return !name;
        })
        .map((el) => el.outerHTML.slice(0, 80)),
    );
    expect(unlabelled).toEqual([]);
    const tips = await page.$$eval('[role=tooltip]', (t) => t.map((x) => x.textContent ?? ''));
    expect(tips.length).toBeGreaterThan(20);
    expect(tips.every((t) => t.length > 20)).toBe(true);
    // keyboard: Tab reaches the play button and Enter starts training
    await page.focus('[data-testid=reset]');
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Shift+Tab');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe('play');
    await page.click('button[aria-label="Dark theme"]');
    expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe('dark');
    await page.setViewportSize({ width: 420, height: 900 });
    await page.waitForTimeout(500);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(1);
    await page.screenshot({ path: resolve(OUT, 'lab-dark-narrow.png'), fullPage: false });
    await page.setViewportSize({ width: 1360, height: 900 });
    await page.screenshot({ path: resolve(OUT, 'lab-dark.png'), fullPage: true });
    expect(errors.filter((e) => !/device|destroyed|lost/i.test(e))).toEqual([]);
  }, 60_000);
});

describe('the lab without WebGPU', () => {
  it('explains what is missing and trains on the CPU fallback', async () => {
    const plain = await launch(['--headless=new', '--no-sandbox', '--disable-gpu-sandbox', '--no-first-run', '--disable-background-networking']);
    try {
      const errs: string[] = [];
      const p = await openPage(plain, linkTo(url, TINY), errs);
      await p.waitForSelector('[data-testid=banner-warning]:has-text("WebGPU is not available")', { timeout: 60_000 });
      expect(await p.textContent('[data-testid=banner-warning]')).toMatch(/enable-unsafe-webgpu/);
      expect(await p.textContent('[data-testid=adapter]')).toMatch(/CPU fallback/);
      await p.selectOption('#speed', '20');
      await p.click('[data-testid=play]');
      await waitStatus(p, 'done', 120_000);
      const { step, loss } = await finalLoss(p);
      expect(step).toBe(40);
      expect(Number.isFinite(loss)).toBe(true);
      await p.screenshot({ path: resolve(OUT, 'lab-cpu-fallback.png'), fullPage: true });
      expect(errs).toEqual([]);
    } finally {
      await plain.close();
    }
  }, 180_000);
});
