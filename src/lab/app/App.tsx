/**
 * The lab's layout: header and messages, the control column, the plots. On narrow screens
 * (<= 480 px) the settings panels fold into one "Settings" line under the transport, so Play
 * and the first plot share the first screen.
 */
import { Banners, Header } from './Header';
import { Transport } from './Transport';
import { DataPanel, ModelPanel, TrainPanel } from './Panels';
import { ComparePanel, SharePanel } from './SidePanels';
import { PlotGrid } from './PlotGrid';
import { useNarrow } from './context';

function Settings() {
  const panels = (
    <>
      <DataPanel />
      <ModelPanel />
      <TrainPanel />
      <ComparePanel />
      <SharePanel />
    </>
  );
  const narrow = useNarrow();
  if (!narrow) return panels;
  return (
    <details className="settings-group" data-testid="settings-group">
      <summary>Settings: data · model · training · compare · share</summary>
      <div className="settings-panels">{panels}</div>
    </details>
  );
}

export function App() {
  return (
    <div className="app">
      <a className="skip-link" href="#plots">
        Skip to the plots
      </a>
      <Header />
      <Banners />
      <main className="layout">
        <aside className="controls" aria-label="Experiment settings">
          <Transport />
          <Settings />
        </aside>
        <div id="plots" className="plots-col">
          <PlotGrid />
        </div>
      </main>
      <footer className="app-footer muted small-text">
        Tangent Lab · every run is a seeded spec: the link above reproduces it, and the headless runner (<code>npm run lab -- run spec.json</code>) computes the same quantities.
      </footer>
    </div>
  );
}
