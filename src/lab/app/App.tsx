/** The lab's layout: header and messages, the control column, the plots. */
import { Banners, Header } from './Header';
import { Transport } from './Transport';
import { DataPanel, ModelPanel, TrainPanel } from './Panels';
import { ComparePanel, SharePanel } from './SidePanels';
import { PlotGrid } from './PlotGrid';

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
          <DataPanel />
          <ModelPanel />
          <TrainPanel />
          <ComparePanel />
          <SharePanel />
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
