/**
 * Title bar: presets (one click each), the backend the runs use and why (with a control to
 * override the lab's choice), the theme switch; and the banners.
 */
import { PRESETS } from '../presets';
import { BACKEND_MODES, type BackendMode } from '../protocol';
import type { BackendState } from '../store';
import { useLab } from './context';

const MODE_LABEL: Record<BackendMode, string> = { auto: 'Auto (fastest)', webgpu: 'WebGPU', cpu: 'CPU (float64)' };

/** The badge's short text: which backend. */
export function backendBadge(b: BackendState): string {
  if (b.status === 'pending') return 'Starting the engine…';
  if (b.status === 'none' || !b.decision) return 'No compute backend';
  if (b.choosing) return 'Timing WebGPU and CPU…';
  return b.decision.kind === 'webgpu' ? `WebGPU · ${b.decision.adapter}` : 'CPU · float64';
}

/** The line under the badge: why this backend. */
export function backendWhy(b: BackendState): string {
  if (b.status === 'none') return b.error ?? '';
  if (!b.decision) return '';
  if (b.choosing) return `${b.decision.gpuAdapter ?? 'the adapter'} is a software adapter: timing both engines on this experiment (about a second)…`;
  return b.decision.reason.charAt(0).toUpperCase() + b.decision.reason.slice(1);
}

export function Header() {
  const backend = useLab((s) => s.backend);
  const mode = useLab((s) => s.backendMode);
  const setMode = useLab((s) => s.setBackendMode);
  const theme = useLab((s) => s.theme);
  const setTheme = useLab((s) => s.setTheme);
  const loadPreset = useLab((s) => s.loadPreset);
  const notify = useLab((s) => s.notify);

  const onPreset = (id: string) => {
    const err = loadPreset(id);
    if (err) notify('error', `Preset “${PRESETS.find((p) => p.id === id)?.title ?? id}” could not be loaded: ${err}`);
  };

  return (
    <header className="app-header">
      <div className="brand">
        <h1>Tangent Lab</h1>
        <p className="tagline">Linearized training dynamics in the browser: lazy vs actual training, NTK alignment, KFAC/EKFAC.</p>
      </div>
      <nav className="presets" aria-label="Presets">
        <span className="muted">Presets:</span>
        {PRESETS.map((p) => (
          <button key={p.id} type="button" data-testid={`preset-${p.id}`} title={p.blurb} onClick={() => onPreset(p.id)}>
            {p.title}
          </button>
        ))}
      </nav>
      <div className="header-right">
        <div className="backend" data-testid="backend">
          <div className="backend-row">
            <span className={`badge ${backend.decision?.kind ?? backend.status}${backend.choosing ? ' choosing' : ''}`} data-testid="adapter" data-kind={backend.decision?.kind ?? ''}>
              {backendBadge(backend)}
            </span>
            <label className="visually-hidden" htmlFor="backend-mode">
              Backend
            </label>
            <select id="backend-mode" data-testid="backend-mode" value={mode} disabled={backend.status !== 'ready'} onChange={(e) => setMode(e.target.value as BackendMode)} title="Which engine trains the runs (Auto: the faster one on this experiment)">
              {BACKEND_MODES.map((m) => (
                <option key={m} value={m}>
                  {MODE_LABEL[m]}
                </option>
              ))}
            </select>
          </div>
          <p className="backend-why small-text muted" data-testid="backend-why">
            {backendWhy(backend)}
          </p>
        </div>
        <button
          type="button"
          aria-pressed={theme === 'dark'}
          aria-label="Dark theme"
          title="Switch between the light and the dark theme"
          onClick={() => setTheme(theme === 'dark' ? 'light' : 'dark')}
        >
          {theme === 'dark' ? '☀' : '☾'}
        </button>
      </div>
    </header>
  );
}

export function Banners() {
  const banners = useLab((s) => s.banners);
  const dismiss = useLab((s) => s.dismiss);
  if (!banners.length) return null;
  return (
    <div className="banners">
      {banners.map((b) => (
        <div key={b.id} className={`banner ${b.level}`} role={b.level === 'error' ? 'alert' : 'status'} data-testid={`banner-${b.level}`} data-banner={b.id}>
          <span>{b.text}</span>
          <button type="button" className="small" aria-label="Dismiss message" onClick={() => dismiss(b.id)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
