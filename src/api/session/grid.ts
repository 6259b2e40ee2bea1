/**
 * Model outputs on a regular grid over a 2-D input box: the lab's decision maps, and Lazy vs
 * Hasty's Delta-loss maps, which compare the two models at matched mean training loss. Each
 * model's per-point grid loss (against the grid's true labels) is recorded when its training loss
 * first reaches a milestone (0.7, 0.55, 0.4 of the initial loss; for the logistic loss at 0.69
 * these are the paper's 0.5 / 0.4 / 0.3), and the map is emitted once both models have.
 */
import { DATASETS } from '../../data/datasets';
import type { ResolvedSpec } from '../../experiment/types';
import { classLoss, predictedClass } from '../../math/training';
import type { DynamicsBackend, ModelKind } from '../../dynamics/backend';
import type { GridMetrics } from '../session-types';
import { classLabels } from './groups';

/** Fractions of the initial training loss at which the Delta-loss maps are taken. */
export const MILESTONES = [0.7, 0.55, 0.4];

export interface Grid {
  size: number;
  extent: GridMetrics['extent'];
  /** size*size points (x, y), row-major over y then x. */
  points: Float32Array;
  /** True class of every grid point (dataset rule, else nearest training label); null for regression. */
  labels: Int32Array | null;
}

/** A square grid over the training inputs' bounding box (10% margin), with true labels. */
export function makeGrid(spec: ResolvedSpec, size: number): Grid {
  const d = spec.data;
  let xMin = Infinity;
  let xMax = -Infinity;
  let yMin = Infinity;
  let yMax = -Infinity;
  for (let i = 0; i < d.n; i++) {
    xMin = Math.min(xMin, d.x[2 * i]);
    xMax = Math.max(xMax, d.x[2 * i]);
    yMin = Math.min(yMin, d.x[2 * i + 1]);
    yMax = Math.max(yMax, d.x[2 * i + 1]);
  }
  const padX = 0.1 * (xMax - xMin || 1);
  const padY = 0.1 * (yMax - yMin || 1);
  const extent = { xMin: xMin - padX, xMax: xMax + padX, yMin: yMin - padY, yMax: yMax + padY };
  const points = new Float32Array(size * size * 2);
  for (let r = 0; r < size; r++) {
    for (let q = 0; q < size; q++) {
      const i = r * size + q;
      points[2 * i] = extent.xMin + ((extent.xMax - extent.xMin) * q) / (size - 1);
      points[2 * i + 1] = extent.yMin + ((extent.yMax - extent.yMin) * r) / (size - 1);
    }
  }
  const train = classLabels(spec);
  let labels: Int32Array | null = null;
  if (train) {
    const rule = d.meta.dataset ? DATASETS[d.meta.dataset]?.rule : undefined;
    labels = new Int32Array(size * size);
    for (let i = 0; i < size * size; i++) {
      const px = points[2 * i];
      const py = points[2 * i + 1];
      if (rule) {
        labels[i] = rule(px, py);
        continue;
      }
      let best = Infinity;
      for (let j = 0; j < d.n; j++) {
        const dist = (d.x[2 * j] - px) ** 2 + (d.x[2 * j + 1] - py) ** 2;
        if (dist < best) {
          best = dist;
          labels[i] = train[j];
        }
      }
    }
  }
  return { size, extent, points, labels };
}

interface Milestone {
  value: number;
  actual: Float32Array | null;
  linearized: Float32Array | null;
}

/** The grid maps of one session: decision maps when due, Delta-loss maps at the milestones. */
export class GridMaps {
  private readonly milestones: Milestone[] = [];
  private lastDelta: { map: Float32Array; milestone: number } | null = null;

  constructor(
    readonly grid: Grid,
    private readonly spec: ResolvedSpec,
    private readonly c: number,
  ) {}

  /**
   * Record the milestones crossed by the current training losses and, when `due`, return the
   * maps. Reads grid outputs from the backend only when a map is due or a milestone is crossed.
   */
  async update(backend: DynamicsBackend, due: boolean, lossActual: number, lossLin: number | null, infinite: ArrayLike<number> | null = null): Promise<GridMetrics | null> {
    const g = this.grid;
    const rows = g.size * g.size;
    if (this.milestones.length === 0 && g.labels) {
      for (const f of MILESTONES) this.milestones.push({ value: f * lossActual, actual: null, linearized: null });
    }
    const crossing = (kind: ModelKind, loss: number | null) => loss !== null && this.milestones.some((m) => m[kind] === null && loss <= m.value);
    const needActual = due || crossing('actual', lossActual);
    const needLin = backend.hasLinearized && (due || crossing('linearized', lossLin));
    if (!needActual && !needLin) return null;
    const outA = needActual ? await backend.outputsAt('actual', g.points, rows) : null;
    const outL = needLin ? await backend.outputsAt('linearized', g.points, rows) : null;
    if (g.labels) {
      for (const m of this.milestones) {
        if (outA && m.actual === null && lossActual <= m.value) m.actual = this.pointLosses(outA, g.labels);
        if (outL && m.linearized === null && lossLin !== null && lossLin <= m.value) m.linearized = this.pointLosses(outL, g.labels);
        if (m.actual && m.linearized && (!this.lastDelta || this.lastDelta.milestone > m.value)) {
          this.lastDelta = { map: m.actual.map((v, i) => v - m.linearized![i]), milestone: m.value };
        }
      }
    }
    if (!due) return null;
    return {
      size: g.size,
      extent: g.extent,
      actual: this.mapValues(outA!),
      linearized: outL ? this.mapValues(outL) : null,
      infinite: infinite ? this.mapValues(infinite) : null,
      deltaLoss: this.lastDelta ? this.lastDelta.map : null,
      milestone: this.lastDelta ? this.lastDelta.milestone : null,
    };
  }

  /** Per-point losses against the grid's true labels, encoded like the training targets. */
  private pointLosses(h: Float32Array, labels: Int32Array): Float32Array {
    const out = new Float32Array(labels.length);
    for (let i = 0; i < labels.length; i++) out[i] = classLoss(this.spec.loss, h, i * this.c, this.c, labels[i]);
    return out;
  }

  /** One value per grid point: the output for one output, P(class 1) for two classes, else the predicted class. */
  private mapValues(h: ArrayLike<number>): Float32Array {
    const c = this.c;
    const rows = h.length / c;
    const out = new Float32Array(rows);
    for (let i = 0; i < rows; i++) {
      if (c === 1) out[i] = h[i];
      else if (c === 2 && this.spec.loss === 'cross_entropy') out[i] = 1 / (1 + Math.exp(h[i * 2] - h[i * 2 + 1]));
      else out[i] = predictedClass(h, i, c);
    }
    return out;
  }
}
