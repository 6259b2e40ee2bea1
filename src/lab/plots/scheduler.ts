/**
 * Frame-budgeted plot rendering. Plots never draw when the store changes; they are marked dirty
 * and this scheduler redraws at most one visible plot per animation frame (the one waiting
 * longest), and while training each plot at most every `minInterval` ms (longer for plots that
 * are slow to draw). The main thread therefore never spends a long frame on plotting however
 * fast the worker sends metrics.
 */
export interface PlotJob {
  /** Draw the plot; returns after the synchronous part of the work. */
  render(): Promise<void> | void;
  dirty: boolean;
  visible: boolean;
  last: number;
  /** Exponential average of the synchronous draw time (ms). */
  cost: number;
}

export class RenderScheduler {
  private readonly jobs = new Set<PlotJob>();
  private raf = 0;
  private busy = false;
  /** While training: minimum ms between two draws of the same plot. */
  minInterval = 600;
  /**
   * While training: the largest share of the main thread's time that plot draws may take. After
   * a draw of c ms the next one waits c (1/share − 1) ms, so a slow machine (or a slow plot) gets
   * fewer redraws, never fewer frames: the page keeps answering clicks and scrolls.
   */
  drawShare = 0.2;
  training = false;
  /** Earliest time of the next draw (the draw budget above). */
  private nextDraw = 0;
  /** Set once plotly is loaded: nothing is drawn before (its load is not a plot's cost). */
  plotly: unknown = null;

  add(job: PlotJob): void {
    this.jobs.add(job);
    this.kick();
  }

  remove(job: PlotJob): void {
    this.jobs.delete(job);
  }

  markDirty(job: PlotJob): void {
    job.dirty = true;
    this.kick();
  }

  /** The pending timer of `waitForBudget` (null: none). */
  private budgetTimer: ReturnType<typeof setTimeout> | null = null;

  /** Come back when the draw budget allows the next draw (one timer at a time). */
  private waitForBudget(now: number): void {
    if (this.budgetTimer !== null) return;
    this.budgetTimer = setTimeout(() => {
      this.budgetTimer = null;
      this.kick();
    }, Math.max(1, Math.min(1000, this.nextDraw - now)));
  }

  /** Ask for a frame if there is work. */
  kick(): void {
    // Not training (paused, done): no budget, draw what is waiting now.
    if (!this.training && this.budgetTimer !== null) {
      clearTimeout(this.budgetTimer);
      this.budgetTimer = null;
    }
    if (this.raf || this.busy || !this.plotly || this.budgetTimer !== null) return;
    const now = performance.now();
    if (this.training && now < this.nextDraw) {
      this.waitForBudget(now);
      return;
    }
    if (![...this.jobs].some((j) => j.dirty && this.wanted(j))) return;
    this.raf = requestAnimationFrame(() => void this.frame());
  }

  /** Visible plots always; while not training every plot (so scrolling finds them drawn). */
  private wanted(j: PlotJob): boolean {
    return j.visible || !this.training;
  }

  private interval(j: PlotJob): number {
    return this.training ? Math.min(3000, Math.max(this.minInterval, j.cost * 10)) : 0;
  }

  private async frame(): Promise<void> {
    this.raf = 0;
    const now = performance.now();
    if (this.training && now < this.nextDraw) {
      this.waitForBudget(now);
      return;
    }
    let pick: PlotJob | null = null;
    let waiting = false;
    for (const j of this.jobs) {
      if (!j.dirty || !this.wanted(j)) continue;
      if (now - j.last < this.interval(j)) {
        waiting = true;
        continue;
      }
      // Visible plots first, then the one waiting longest.
      if (!pick || (j.visible && !pick.visible) || (j.visible === pick.visible && j.last < pick.last)) pick = j;
    }
    if (pick) {
      this.busy = true;
      pick.dirty = false;
      const t0 = performance.now();
      let dt = 0;
      try {
        // Only the synchronous part of a draw blocks the frame: that is the cost to budget.
        const p = pick.render();
        dt = performance.now() - t0;
        await p;
      } catch (e) {
        console.error('plot render failed:', e);
      } finally {
        pick.cost = pick.cost === 0 ? dt : 0.7 * pick.cost + 0.3 * dt;
        pick.last = performance.now();
        this.nextDraw = pick.last + dt * (1 / this.drawShare - 1);
        this.busy = false;
      }
    }
    if (pick || waiting) {
      if (waiting && !pick) setTimeout(() => this.kick(), 50);
      else this.kick();
    }
  }
}

export const scheduler = new RenderScheduler();
