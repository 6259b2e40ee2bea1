// The lab end to end in Debian's Chromium (WebGPU through SwiftShader, so the lab times both
// engines and usually trains on the CPU): backend choice, the state before Play, keyboard edits
// and the URL, live plots and responsiveness, exports, shared links, clean transitions (a preset
// switch mid-run, a setting changed while playing), divergence, bad input, the new-user findings
// of issue 9, device loss, themes, labels and a 420 px screen, and a Chromium without WebGPU.
// Screenshots go to test-results/.
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { PreviewServer } from 'vite';
import { OUT, TINY, buildAndServe, download, exportCsv, launch, linkTo, openPage, openSettings, plotNumbers, pngSize, waitReady, waitStatus, type LabWindow } from './harness';
import { decodeHash } from '../../src/lab/url';
import { PRESETS } from '../../src/lab/presets';
import type { LabDoc } from '../../src/lab/doc/document';
import { parseMetricsCsv } from './claims';

let server: PreviewServer;
let url: string;
let browser: Browser;
let page: Page;
const errors: string[] = [];

const state = <T = Record<string, any>>(p: Page, f: string): Promise<T> => p.evaluate(`(() => { const s = window.tangentLab.store.getState(); return ${f}; })()`) as Promise<T>;

/** The document in the page's URL (after the throttled hash update has landed). */
const docOf = async (p: Page): Promise<LabDoc> => {
  await p.waitForTimeout(250);
  const hash = await p.evaluate(() => location.hash);
  const d = decodeHash(hash);
  if (d.kind !== 'doc') throw new Error(`the page's hash does not hold a document: ${JSON.stringify(d)}`);
  return d.doc;
};
/** Load a link as a fresh page (a goto that only changes the hash would not reload) and wait for its runs. */
const fresh = async (p: Page, link: string) => {
  await p.goto('about:blank');
  await p.goto(link);
  await waitReady(p);
};
const storeDoc = (p: Page): Promise<LabDoc> => state(p, 's.doc');
const finalLoss = (p: Page) =>
  state<{ step: number; loss: number; lin: number }>(p, `(() => { const c = s.runs[0].series.cols; return { step: c.step.at(-1), loss: c['loss.actual'].at(-1), lin: c['loss.linearized'].at(-1) }; })()`);
const tiny = (train: Partial<NonNullable<LabDoc['spec']['train']>>, extra: Partial<LabDoc> = {}): LabDoc => ({ ...TINY, ...extra, spec: { ...TINY.spec, train: { ...TINY.spec.train!, ...train } } });
const setLr = async (p: Page, lr: number) => {
  await openSettings(p);
  await p.fill('[aria-label="Learning rate η (exact value)"]', String(lr));
  await p.press('[aria-label="Learning rate η (exact value)"]', 'Enter');
};
/** Every tick label and title drawn in the plots' SVGs. */
const plotTexts = (p: Page): Promise<string[]> => p.$$eval('.plot svg text', (ts) => ts.map((t) => t.textContent ?? ''));

beforeAll(async () => {
  ({ server, url } = await buildAndServe());
  browser = await launch();
  page = await openPage(browser, 'about:blank', errors);
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('the lab in Chromium with WebGPU on a software adapter', () => {
  it('times both engines on the experiment, runs on the faster and says why; ?backend= and the control override it', async () => {
    await fresh(page, linkTo(url, TINY));
    await expect(page.title()).resolves.toMatch(/Tangent Lab/);
    const d = await state<Record<string, any>>(page, 's.backend.decision');
    expect(d.gpuSoftware).toBe(true);
    expect(d.mode).toBe('auto');
    expect(d.rates.cpu).toBeGreaterThan(0);
    const faster = d.rates.webgpu !== null && d.rates.webgpu > d.rates.cpu ? 'webgpu' : 'cpu';
    expect(d.kind).toBe(faster);
    const why = await page.textContent('[data-testid=backend-why]');
    expect(why).toMatch(/is faster here: CPU [\d.]+ vs WebGPU ([\d.]+|n\/a) steps\/s on this experiment.*software adapter/);
    expect(await page.textContent('[data-testid=adapter]')).toBe(faster === 'cpu' ? 'CPU · float64' : `WebGPU · ${d.adapter}`);
    expect(await page.$$('[data-testid=banner-warning]')).toEqual([]);
    writeFileSync(resolve(OUT, 'backend-choice.json'), JSON.stringify(d, null, 1));
    // the control: WebGPU on request (the URL keeps the choice), the runs are recreated on it
    await page.selectOption('[data-testid=backend-mode]', 'webgpu');
    await page.waitForFunction(() => (window as unknown as LabWindow).tangentLab.store.getState().backend.decision.kind === 'webgpu');
    await waitReady(page, 120_000);
    expect(new URL(page.url()).searchParams.get('backend')).toBe('webgpu');
    expect(await page.textContent('[data-testid=adapter]')).toMatch(/^WebGPU · .+/);
    expect(await page.textContent('[data-testid=backend-why]')).toBe('WebGPU was requested');
    // ?backend=cpu: the CPU, said in one line of the header, no warning banner
    const cpu = await openPage(browser, linkTo(url, TINY, '?backend=cpu'), errors);
    await waitReady(cpu);
    expect(await cpu.textContent('[data-testid=adapter]')).toBe('CPU · float64');
    expect(await cpu.textContent('[data-testid=backend-why]')).toBe('The CPU engine was requested');
    expect(await cpu.inputValue('[data-testid=backend-mode]')).toBe('cpu');
    expect(await cpu.$$('.banner')).toEqual([]);
    await cpu.context().close();
  }, 240_000);

  it('shows the data, the initial output map and the step-0 numbers before Play', async () => {
    await fresh(page, linkTo(url, TINY));
    expect(await state(page, 's.status')).toBe('paused');
    await page.waitForFunction(() => Number(document.querySelector('[data-testid=plot-decision]')?.getAttribute('data-points') ?? 0) > 0, null, { timeout: 30_000 });
    const n = await plotNumbers(page, 'decision');
    expect(n.finite).toBeGreaterThan(32 * 32);
    const points = await page.evaluate(() => (document.querySelector('[data-testid=plot-decision]') as unknown as { data: { mode?: string; x: number[] }[] }).data.filter((t) => t.mode === 'markers').map((t) => t.x.length));
    expect(points).toEqual([24, 24]);
    expect(await page.textContent('[data-testid=headline]')).toMatch(/actual.*linearized/s);
    expect(await page.textContent('[data-testid=headline-run0]')).toMatch(/^0\s*\d\.\d+ \(\d\.\d+\) · \d+\.\d %/);
    expect(await page.textContent('[data-testid=step-count]')).toBe('0');
    // image data: sample images with their class names
    const digits: LabDoc = { ...TINY, spec: { ...TINY.spec, model: { input: [1, 8, 8], layers: [{ type: 'flatten' }, { type: 'dense', units: 8, activation: 'relu' }, { type: 'dense', units: 10, activation: 'linear' }] }, loss: 'cross_entropy', data: { dataset: 'digits', n: 40, n_test: 20, seed: 0, label_noise: 0 } } };
    await fresh(page, linkTo(url, digits));
    expect((await page.$$('[data-testid=samples] canvas')).length).toBeGreaterThan(10);
    expect(await page.textContent('[data-testid=samples]')).toMatch(/0.*1.*2/s);
    expect(await page.textContent('[data-testid=empty-decision]')).toMatch(/need 2-D inputs; this data has 1×8×8 inputs/);
    expect(errors).toEqual([]);
  }, 180_000);

  it('changes sliders and selects with the keyboard; the URL follows', async () => {
    await fresh(page, linkTo(url, TINY));
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
    await setLr(page, 0.3);
    await page.waitForTimeout(300);
    expect((await docOf(page)).spec.train!.lr).toBe(0.3);
    // the edited experiment's runs are re-created, paused at step 0
    await waitReady(page);
    expect(await state(page, 's.runs[0].spec.train.lr')).toBe(0.3);
    expect(await state(page, 's.status')).toBe('paused');
  }, 120_000);

  it('plays: live plots update with finite values; the main thread stays responsive', async () => {
    // Responsiveness in the steady state of a longer run (the first draws of every plot, at
    // Play, are behind us): frames in which the main thread is blocked beyond 50 ms must be rare
    // and short. Plot draws take at most a quarter of the main thread while training
    // (plots/scheduler.ts); on this shared 2-core machine one draw costs 30-150 ms.
    await fresh(page, linkTo(url, tiny({ steps: 200000 })));
    await page.click('[data-testid=play]');
    await page.waitForFunction(() => Number(document.querySelector('[data-testid=step-count]')?.textContent) >= 200, null, { timeout: 60_000 });
    await page.evaluate(() => {
      const w = window as unknown as { __frames: { duration: number; blocking: number; script: number }[]; __count: number; __counting: boolean; __t0: number };
      w.__frames = [];
      w.__count = 0;
      w.__counting = true;
      w.__t0 = performance.now();
      // draw costs are counted from here (the first draws, at Play, are behind us)
      for (const e of document.querySelectorAll('.plot')) (e as HTMLElement).dataset.costMax = '0';
      const tick = () => {
        w.__count++;
        if (w.__counting) requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
      // Long animation frames (> 50 ms), with how much of it the main thread was blocked
      // (blockingDuration: the excess of tasks and rendering over 50 ms) and its script time.
      new PerformanceObserver((list) => {
        if (!w.__counting) return;
        for (const e of list.getEntries() as (PerformanceEntry & { blockingDuration?: number; scripts?: { duration: number }[] })[]) {
          const script = (e.scripts ?? []).reduce((a, x) => a + x.duration, 0);
          w.__frames.push({ duration: e.duration, blocking: e.blockingDuration ?? e.duration - 50, script });
        }
      }).observe({ type: PerformanceObserver.supportedEntryTypes.includes('long-animation-frame') ? 'long-animation-frame' : 'longtask', buffered: false });
    });
    await page.waitForTimeout(8000);
    const stats = await page.evaluate(() => {
      const w = window as unknown as { __frames: { duration: number; blocking: number; script: number }[]; __count: number; __counting: boolean; __t0: number };
      w.__counting = false;
      const costs = [...document.querySelectorAll('.plot')].map((e) => Number((e as HTMLElement).dataset.costMax)).filter((c) => Number.isFinite(c));
      return { frames: w.__count, seconds: (performance.now() - w.__t0) / 1000, long: w.__frames, drawCosts: costs };
    });
    const steady = await state<number>(page, 's.step');
    // the UI answers a click at once while training: pause, then resume, then pause
    const t0 = Date.now();
    await page.click('[data-testid=pause]');
    await waitStatus(page, 'paused', 10_000);
    const pauseMs = Date.now() - t0;
    await page.click('[data-testid=play]');
    await waitStatus(page, 'running', 10_000);
    await page.click('[data-testid=pause]');
    writeFileSync(resolve(OUT, 'frames.json'), JSON.stringify({ pauseMs, steadyStep: steady, ...stats }, null, 1));
    expect(pauseMs).toBeLessThan(3000);
    const blocked = stats.long.filter((f) => f.blocking > 0);
    const summary = `${blocked.length} blocked frames of ${stats.frames} in ${stats.seconds.toFixed(1)} s: ${blocked.map((f) => Math.round(f.duration)).join(', ')}`;
    expect(blocked.length / Math.max(1, stats.frames), summary).toBeLessThan(0.1);
    // A blocked frame holds at most one plot draw (the scheduler's promise; training runs in the
    // worker). The bound is relative to the costliest draw measured in this same window, so a
    // loaded machine, on which every draw is slower, does not fail it; draws themselves must stay
    // well under 2 s, and 500 ms is always allowed.
    const costliestDraw = Math.max(0, ...stats.drawCosts);
    expect(costliestDraw, summary).toBeLessThan(2000);
    expect(Math.max(0, ...stats.long.map((f) => f.blocking)), `${summary}; costliest draw ${costliestDraw} ms`).toBeLessThan(Math.max(500, 1.5 * costliestDraw + 100));
    await fresh(page, linkTo(url, tiny({ steps: 600 })));
    await page.click('[data-testid=play]');
    await waitStatus(page, 'done', 120_000);
    const { step, loss, lin } = await finalLoss(page);
    expect(step).toBe(600);
    expect(Number.isFinite(loss) && Number.isFinite(lin)).toBe(true);
    expect(await page.textContent('[data-testid=step-count]')).toBe('600');
    expect(await page.textContent('[data-testid=headline-run0]')).toMatch(/^600/);
    for (const id of ['loss', 'alignment', 'decision']) {
      await page.waitForFunction((pid) => Number(document.querySelector(`[data-testid=plot-${pid}]`)?.getAttribute('data-points') ?? 0) > 10, id, { timeout: 20_000 });
      const n = await plotNumbers(page, id);
      expect(n.finite, id).toBeGreaterThan(10);
      expect(n.nonFinite, id).toBe(0);
    }
    // every plot draws once scrolled into view (the optimizer race applies to optimizer comparisons only)
    for (const id of ['gap', 'alignment_layers', 'spectrum', 'rank', 'movement', 'distance', 'ntk_heatmap', 'groups']) {
      await page.locator(`[data-testid=plot-${id}]`).scrollIntoViewIfNeeded();
      await page.waitForFunction((pid) => Number(document.querySelector(`[data-testid=plot-${pid}]`)?.getAttribute('data-points') ?? 0) > 0, id, { timeout: 20_000 });
      const n = await plotNumbers(page, id);
      expect(n.finite, id).toBeGreaterThan(0);
      expect(n.nonFinite, id).toBe(0);
    }
    // curvature: measured automatically at the end of a small run (and on request)
    await page.locator('[data-testid=plot-curvature_err]').scrollIntoViewIfNeeded();
    await page.waitForFunction(() => Number(document.querySelector('[data-testid=plot-curvature_err]')?.getAttribute('data-points') ?? 0) > 0, null, { timeout: 60_000 });
    await page.click('[data-testid=measure-curvature]');
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: resolve(OUT, 'lab-trained.png'), fullPage: true });
    expect(errors).toEqual([]);
  }, 240_000);

  it('exports a plot as a titled PNG of the chosen scale or SVG; the run as JSON, CSV and a PyTorch script', async () => {
    await page.click('[data-testid=card-loss] button:has-text("Export")');
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
    // the same figure as SVG: its title is in the image (PNG and SVG share the export layout)
    await page.selectOption('#format-loss', 'svg');
    const svg = await download(page, 'export-loss');
    expect(svg.name).toBe('tangent-lab-loss.svg');
    expect(svg.text).toContain('Loss: actual, linearized, closed form');
    expect(svg.text).toContain(TINY.spec.name);

    await openSettings(page);
    const json = JSON.parse((await download(page, 'export-json')).text);
    expect(json.format).toBe('tangent-lab-run');
    expect(json.doc).toEqual(tiny({ steps: 600 }));
    expect(json.runs[0].series.step.at(-1)).toBe(600);
    expect(json.runs[0].series['loss.actual'].every((v: unknown) => typeof v === 'number' && Number.isFinite(v))).toBe(true);
    writeFileSync(resolve(OUT, 'tiny-run.json'), JSON.stringify(json));

    const lines = (await download(page, 'export-csv')).text.trim().split('\n');
    expect(lines[0]).toMatch(/^run,step,wallTime,loss\.actual/);
    expect(lines[0]).toMatch(/reldist\.actual/);
    expect(lines.length).toBeGreaterThan(5);

    const py = await download(page, 'export-pytorch');
    expect(py.name).toMatch(/_pytorch\.py$/);
    expect(py.text.startsWith('#!/usr/bin/env python3\n')).toBe(true);
    expect(py.text).toMatch(/^KEYS = \[$/m);
  }, 60_000);

  it('round-trips a shared link: same spec, same run', async () => {
    const link = await page.inputValue('[data-testid=share-link]');
    const original = await finalLoss(page);
    const other = await openPage(browser, link, errors);
    await waitReady(other);
    expect(await docOf(other)).toEqual(await docOf(page));
    await other.click('[data-testid=play]');
    await waitStatus(other, 'done', 120_000);
    const replay = await finalLoss(other);
    expect(replay.step).toBe(600);
    expect(replay.loss).toBeCloseTo(original.loss, 6);
    expect(replay.lin).toBeCloseTo(original.lin, 6);
    await other.context().close();
  }, 180_000);

  it('a preset switch mid-run leaves every run starting at step 0, with no row of the old runs', async () => {
    /** Each run's rows are its own from step 0: 0, e, 2e, ... (the last may be where a pause stopped it). */
    const rowsOk = (csv: string, labels: string[], every: number) => {
      const runs = parseMetricsCsv(csv);
      expect([...runs.keys()]).toEqual(labels);
      for (const l of labels) {
        const steps = runs.get(l)!.map((r) => r.step);
        expect(steps.length, l).toBeGreaterThan(2);
        expect(steps.slice(0, -1), l).toEqual(steps.slice(0, -1).map((_, k) => k * every));
        expect(steps.at(-1)!, l).toBeGreaterThan(steps.at(-2)!);
      }
      return runs;
    };
    await fresh(page, linkTo(url, TINY));
    await page.click('[data-testid=preset-lazy-vs-hasty]');
    await page.waitForFunction(() => Number(document.querySelector('[data-testid=step-count]')?.textContent) >= 20, null, { timeout: 120_000 });
    await page.click('[data-testid=preset-ntk-alignment]');
    await page.waitForFunction(() => (window as unknown as LabWindow).tangentLab.store.getState().runs.every((r: { series: { length: number } }) => r.series.length >= 4), null, { timeout: 120_000 });
    await page.click('[data-testid=pause]');
    await waitStatus(page, 'paused');
    const ntk = PRESETS[1];
    // the preset's note shows its own blurb (the previous preset's is gone)
    expect(await page.textContent('[data-testid=preset-note] p')).toBe(ntk.blurb);
    const csv = await exportCsv(page);
    const runs = rowsOk(csv, ['0 % random labels', '50 % random labels'], Math.ceil(ntk.doc.spec.train!.steps / ntk.doc.metrics!.events!));
    expect(runs.get('0 % random labels')![0]['align.ntk_centered']).not.toBeNull();
    expect(Object.keys(runs.get('0 % random labels')![0])).toContain('align.ntk_centered.layer0');
    const json = JSON.parse((await download(page, 'export-json')).text);
    expect(json.doc).toEqual(ntk.doc);
    for (const r of json.runs) expect(r.series.step[0]).toBe(0);
    // the per-layer alignment of the new runs is drawn
    await page.locator('[data-testid=plot-alignment_layers]').scrollIntoViewIfNeeded();
    await page.waitForFunction(() => Number(document.querySelector('[data-testid=plot-alignment_layers]')?.getAttribute('data-points') ?? 0) > 0, null, { timeout: 30_000 });
    // and on to Wider is lazier while NTK alignment plays: its first steps are all there
    await page.click('[data-testid=play]');
    await waitStatus(page, 'running');
    await page.click('[data-testid=preset-wider-is-lazier]');
    await page.waitForFunction(() => (window as unknown as LabWindow).tangentLab.store.getState().runs.every((r: { series: { length: number } }) => r.series.length >= 3), null, { timeout: 120_000 });
    await page.click('[data-testid=pause]');
    const wider = PRESETS[3];
    const e = Math.ceil(wider.doc.spec.train!.steps / (wider.doc.metrics?.events ?? 150));
    rowsOk(await exportCsv(page), wider.doc.compare!.values.map((v) => `width ${v}`), e);
    expect(errors).toEqual([]);
  }, 420_000);

  it('a setting changed while playing restarts the runs (debounced) and keeps playing', async () => {
    // long enough to be running still when checked: the CPU engine trains TINY at thousands of steps/s
    await fresh(page, linkTo(url, tiny({ steps: 100000 })));
    await page.click('[data-testid=play]');
    await page.waitForFunction(() => Number(document.querySelector('[data-testid=step-count]')?.textContent) >= 20, null, { timeout: 60_000 });
    const before = await state<number>(page, 's.loadId');
    await setLr(page, 0.15);
    await page.waitForFunction((id) => (window as unknown as LabWindow).tangentLab.store.getState().loadId > id, before);
    await waitStatus(page, 'running', 60_000);
    await page.waitForFunction(() => Number(document.querySelector('[data-testid=step-count]')?.textContent) >= 10, null, { timeout: 60_000 });
    expect(await state(page, 's.runs[0].spec.train.lr')).toBe(0.15);
    const steps = await state<number[]>(page, 's.runs[0].series.cols.step');
    expect(steps[0]).toBe(0);
    // the plots follow the new run (no row of the old one)
    expect(await page.textContent('[data-testid=status]')).toMatch(/running/);
    await page.click('[data-testid=pause]');
  }, 180_000);

  it('catches a divergence within one metric event; the banner clears on the next good run; no axis prints NaN or Infinity', async () => {
    await fresh(page, linkTo(url, tiny({ lr: 500, steps: 400 })));
    expect(await page.textContent('[data-testid=lr-bound]')).toMatch(/above it/);
    await page.click('[data-testid=play]');
    await page.waitForSelector('[data-testid=banner-error]:has-text("diverged")', { timeout: 120_000 });
    const text = (await page.textContent('[data-testid=banner-error]:has-text("diverged")'))!;
    expect(text).toMatch(/learning rate 500 diverged at step \d+.*below/);
    const at = Number(/at step (\d+)/.exec(text)![1]);
    await waitStatus(page, /error|done/);
    const rows = parseMetricsCsv(await exportCsv(page)).get('run')!;
    const every = Math.ceil(400 / 150);
    const losses = rows.map((r) => r['loss.actual']!);
    expect(losses.every((v) => Number.isFinite(v))).toBe(true);
    expect(Math.max(...losses)).toBeLessThanOrEqual(1e6 * losses[0]);
    // the blow-up was caught at the first metric event after the last good one
    expect(at).toBeLessThanOrEqual(rows.at(-1)!.step + every);
    for (const t of await plotTexts(page)) expect(t).not.toMatch(/NaN|Infinity|nity/);
    await page.screenshot({ path: resolve(OUT, 'lab-divergence.png') });
    // a good learning rate: the runs restart, the banner goes
    await setLr(page, 0.2);
    await page.waitForFunction(() => !document.querySelector('[data-testid=banner-error]'), null, { timeout: 10_000 });
    await page.click('[data-testid=play]');
    await waitStatus(page, 'done', 120_000);
    expect(await page.$$('[data-testid=banner-error]')).toEqual([]);
  }, 240_000);

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
    await openSettings(page);
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
    // comparison values with a word in them: named, never "found null"
    await page.selectOption('#compare-param', 'alpha');
    await page.fill('#compare-values', '1, abc');
    await page.click('[data-testid=compare-apply]');
    expect(await page.textContent('[data-testid=compare-error]')).toMatch(/"abc" is not a number/);
    expect(await docOf(page)).toEqual(good);
    // a valid CSV upload trains
    const rows = Array.from({ length: 40 }, (_, i) => `${Math.cos(i)},${Math.sin(i)},${i % 2}`).join('\n');
    await page.setInputFiles('[data-testid=csv-file]', { name: 'ok.csv', mimeType: 'text/csv', buffer: Buffer.from(`a,b,label\n${rows}\n`) });
    await page.waitForSelector('[data-testid=csv-message]:has-text("ok.csv")');
    expect(await page.textContent('[data-testid=csv-message]')).toMatch(/32 training and 8 test rows/);
    expect((await storeDoc(page)).spec.loss).toBe('cross_entropy');
    expect((await docOf(page)).spec.loss).toBe('cross_entropy');
    // a garbage link at load: a plain message, the link stays in the address bar
    const g = await openPage(browser, `${url}#run=garbage`, errors);
    await g.waitForSelector('[data-testid=banner-error]');
    const msg = await g.textContent('[data-testid=banner-error]');
    expect(msg).toMatch(/The link is corrupted: its base64url text does not decode to a document \(was it cut or edited\?\)\. The default experiment is shown instead; the address bar keeps the link until you change a setting\./);
    expect(msg).not.toMatch(/encoded data|utf-8/i);
    await waitReady(g);
    expect(new URL(g.url()).hash).toBe('#run=garbage');
    await g.context().close();
  }, 240_000);

  it('fixes what a new user hit (issue 9, finding 9)', async () => {
    // the class count does not carry over from spirals (3) to digits (10)
    await fresh(page, linkTo(url, TINY));
    await openSettings(page);
    await page.selectOption('#param-dataset', 'spirals');
    await page.waitForFunction(() => (window as unknown as LabWindow).tangentLab.store.getState().doc.spec.data.dataset === 'spirals');
    await page.selectOption('#param-dataset', 'digits');
    await page.waitForFunction(() => (window as unknown as LabWindow).tangentLab.store.getState().doc.spec.data.dataset === 'digits');
    expect(await page.textContent('[data-param=classes] output')).toBe('10');
    expect(await page.textContent('[data-testid=model-summary]')).toMatch(/dense 10$|dense 10 ·/);
    // empty states say what is going on: the disk is 2-D; curvature needs a pause
    await fresh(page, linkTo(url, tiny({ steps: 100000 })));
    expect(await page.textContent('[data-testid=card-decision]')).not.toMatch(/2-D datasets only/);
    await page.click('[data-testid=play]');
    await waitStatus(page, 'running');
    expect(await page.isDisabled('[data-testid=measure-curvature]')).toBe(true);
    expect(await page.textContent('[data-testid=empty-curvature_err]')).toMatch(/Pause/);
    await page.click('[data-testid=pause]');
    await waitStatus(page, 'paused');
    expect(await page.textContent('[data-testid=empty-curvature_err]')).toMatch(/Press “Measure curvature”/);
    // a run that failed does not hold the status at step 0
    const mixed = tiny({}, { compare: { param: 'lr', values: [500, 0.2] } });
    await fresh(page, linkTo(url, mixed));
    await page.click('[data-testid=play]');
    await waitStatus(page, 'done', 120_000);
    expect(await page.textContent('[data-testid=step-count]')).toBe('40');
    expect(await page.textContent('[data-testid=banner-error]')).toMatch(/^lr = 500: learning rate 500 diverged/);
    // the optimizer race applies to optimizer comparisons only
    expect(await page.textContent('[data-testid=card-race]')).toMatch(/Compare optimizers/);
    // no raw underscores or NaN in any plot; the heatmap's colour bar has a title; bars carry their values
    for (const id of ['ntk_heatmap', 'alignment_layers', 'spectrum', 'groups', 'curvature_err', 'curvature_spectra']) await page.locator(`[data-testid=card-${id}]`).scrollIntoViewIfNeeded();
    await page.waitForTimeout(1500);
    const texts = await plotTexts(page);
    expect(texts.filter((t) => /_/.test(t))).toEqual([]);
    expect(texts).toContain('K(xᵢ, xⱼ)');
    // log axes label decades, not the 2s and 5s between them
    const ticks = await page.$$eval('[data-testid=plot-loss] .ytick text', (ts) => ts.map((t) => t.textContent ?? ''));
    expect(ticks.length).toBeGreaterThan(1);
    expect(ticks.filter((t) => /^[2-9]$/.test(t))).toEqual([]);
    // an imported run JSON brings its curves back
    await fresh(page, url);
    await openSettings(page);
    await page.setInputFiles('[data-testid=import-file]', resolve(OUT, 'tiny-run.json'));
    await page.waitForSelector('.banner.info:has-text("with their curves")');
    await page.waitForFunction(() => Number(document.querySelector('[data-testid=plot-loss]')?.getAttribute('data-points') ?? 0) > 10, null, { timeout: 20_000 });
    expect(await page.textContent('[data-testid=status]')).toMatch(/step 600 \/ 600 · imported/);
    expect(await page.textContent('[data-testid=headline-run0]')).toMatch(/^600/);
    expect(errors).toEqual([]);
  }, 300_000);

  it('recovers automatically from a device loss (WebGPU)', async () => {
    await fresh(page, linkTo(url, tiny({ steps: 60 }), '?backend=webgpu'));
    await page.selectOption('#speed', '2');
    await page.click('[data-testid=play]');
    await page.waitForFunction(() => Number(document.querySelector('[data-testid=step-count]')?.textContent) >= 10, null, { timeout: 90_000 });
    await page.evaluate(() => (window as unknown as LabWindow).tangentLab.worker.postMessage({ type: 'simulateDeviceLoss' }));
    await page.waitForSelector('[data-testid=banner-error]:has-text("device was lost")', { timeout: 30_000 });
    await page.waitForSelector('.banner:has-text("Recovered after the device loss")', { timeout: 60_000 });
    await waitStatus(page, 'done', 180_000);
    const { step, loss } = await finalLoss(page);
    expect(step).toBe(60);
    expect(Number.isFinite(loss)).toBe(true);
  }, 300_000);

  it('has labelled, keyboard-operable controls, tooltips, a dark theme, and a 420 px layout with Play and a plot on one screen', async () => {
    await fresh(page, linkTo(url, PRESETS[0].doc));
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
    await page.screenshot({ path: resolve(OUT, 'lab-dark.png'), fullPage: true });
    // a phone: the settings fold into one line, Play and the first plot share the first screen,
    // the three decision maps stack
    const phone = await openPage(browser, linkTo(url, PRESETS[0].doc), errors, { width: 420, height: 860 });
    await waitReady(phone);
    await phone.waitForFunction(() => Number(document.querySelector('[data-testid=plot-decision]')?.getAttribute('data-points') ?? 0) > 0, null, { timeout: 30_000 });
    const box = async (sel: string) => (await phone.locator(sel).boundingBox())!;
    const play = await box('[data-testid=play]');
    const plot = await box('[data-testid=plot-decision]');
    const vh = 860;
    expect(play.y).toBeGreaterThanOrEqual(0);
    expect(play.y + play.height).toBeLessThanOrEqual(vh);
    // the first panel of the first plot (its top 240 px: the actual model's map) is on screen
    expect(plot.y + 240).toBeLessThanOrEqual(vh);
    expect(await phone.evaluate(() => (document.querySelector('[data-testid=settings-group]') as HTMLDetailsElement).open)).toBe(false);
    const domains = await phone.evaluate(() => {
      const l = (document.querySelector('[data-testid=plot-decision]') as unknown as { layout: Record<string, { domain: number[] }> }).layout;
      return [l.yaxis.domain, l.yaxis2.domain, l.xaxis.domain, l.xaxis2.domain];
    });
    expect(domains[0][0]).toBeGreaterThan(domains[1][1]);
    expect(domains[2]).toEqual([0, 1]);
    expect(domains[3]).toEqual([0, 1]);
    expect(await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)).toBeLessThanOrEqual(1);
    await phone.screenshot({ path: resolve(OUT, 'lab-420px.png') });
    await phone.click('[data-testid=play]');
    await waitStatus(phone, 'running', 60_000);
    await phone.waitForTimeout(3000);
    await phone.screenshot({ path: resolve(OUT, 'lab-420px-running.png') });
    await phone.click('[data-testid=pause]');
    await phone.context().close();
    expect(errors.filter((e) => !/device|destroyed|lost/i.test(e))).toEqual([]);
  }, 180_000);
});

describe('the lab without WebGPU', () => {
  it('says in one line what is missing and trains on the CPU engine', async () => {
    const plain = await launch(['--headless=new', '--no-sandbox', '--disable-gpu-sandbox', '--no-first-run', '--disable-background-networking']);
    try {
      const errs: string[] = [];
      const p = await openPage(plain, linkTo(url, TINY), errs);
      await p.waitForSelector('[data-testid=banner-warning]:has-text("WebGPU is not available")', { timeout: 60_000 });
      const banner = (await p.textContent('[data-testid=banner-warning]'))!;
      expect(banner).toMatch(/enable-unsafe-webgpu/);
      expect(banner.length).toBeLessThan(260);
      expect(await p.textContent('[data-testid=adapter]')).toBe('CPU · float64');
      expect(await p.textContent('[data-testid=backend-why]')).toMatch(/^WebGPU is not available/);
      await waitReady(p);
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
