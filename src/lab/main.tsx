/** Entry point of the browser lab. */
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './app/App';
import { LabContext } from './app/context';
import { startLab } from './bridge';
import './styles.css';

const lab = startLab();
// Exposed for the end-to-end tests and for curious users (read-only use is safe).
(window as unknown as { tangentLab: typeof lab }).tangentLab = lab;

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <LabContext.Provider value={lab.store}>
      <App />
    </LabContext.Provider>
  </StrictMode>,
);
