/** Title bar: presets (one click each), the backend / adapter, the theme switch; and the banners. */
import { PRESETS } from '../presets';
import { useLab } from './context';

export function Header() {
  const backend = useLab((s) => s.backend);
  const theme = useLab((s) => s.theme);
  const setTheme = useLab((s) => s.setTheme);
  const edit = useLab((s) => s.edit);
  const play = useLab((s) => s.play);
  const notify = useLab((s) => s.notify);

  const loadPreset = (id: string) => {
    const p = PRESETS.find((x) => x.id === id)!;
    const err = edit(p.doc);
    if (err) notify('error', `Preset “${p.title}” is invalid: ${err}`);
    else {
      notify('info', `${p.title}: ${p.blurb}`, 'preset');
      play();
    }
  };

  const badge =
    backend.status === 'pending'
      ? 'Starting the engine…'
      : backend.status === 'none'
        ? 'No compute backend'
        : backend.kind === 'webgpu'
          ? `WebGPU · ${backend.adapter}`
          : `CPU fallback (float64) · no WebGPU`;

  return (
    <header className="app-header">
      <div className="brand">
        <h1>Tangent Lab</h1>
        <p className="tagline">Linearized training dynamics in the browser: lazy vs actual training, NTK alignment, KFAC/EKFAC.</p>
      </div>
      <nav className="presets" aria-label="Presets">
        <span className="muted">Presets:</span>
        {PRESETS.map((p) => (
          <button key={p.id} type="button" data-testid={`preset-${p.id}`} title={p.blurb} onClick={() => loadPreset(p.id)}>
            {p.title}
          </button>
        ))}
      </nav>
      <div className="header-right">
        <span className={`badge ${backend.kind ?? backend.status}`} data-testid="adapter" title={backend.reason ?? undefined}>
          {badge}
        </span>
        <button
          type="button"
          aria-pressed={theme === 'dark'}
          aria-label="Dark theme"
          title="Switch between the light and the dark theme"
          onClick={() => setTheme(theme === 'dark' ? 'light' : 'dark')}
        >
          {theme === 'dark' ? '☀ Light' : '☾ Dark'}
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
        <div key={b.id} className={`banner ${b.level}`} role={b.level === 'error' ? 'alert' : 'status'} data-testid={`banner-${b.level}`}>
          <span>{b.text}</span>
          <button type="button" className="small" aria-label="Dismiss message" onClick={() => dismiss(b.id)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
