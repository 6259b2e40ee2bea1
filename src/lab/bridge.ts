/**
 * Main-thread glue: starts the engine worker, creates the store with the worker as its
 * side-effect channel, delivers the worker's messages to the store at most once per animation
 * frame, and keeps the URL hash in sync with the document (both ways).
 */
import { createLabStore, type LabStore } from './store';
import { DEFAULT_DOC } from './doc/document';
import { decodeHash, encodeDoc } from './url';
import { BACKEND_MODES, type BackendMode, type FromWorker, type ToWorker } from './protocol';

export interface Lab {
  store: LabStore;
  worker: Worker;
}

function initialTheme(): 'light' | 'dark' {
  try {
    const saved = localStorage.getItem('tangent-lab-theme');
    if (saved === 'light' || saved === 'dark') return saved;
  } catch {
    // storage may be disabled
  }
  return typeof matchMedia === 'function' && matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

export function startLab(): Lab {
  const worker = new Worker(new URL('./engine.worker.ts', import.meta.url), { type: 'module', name: 'tangent-lab-engine' });
  const send = (m: ToWorker) => worker.postMessage(m);

  const params = new URLSearchParams(location.search);
  const asked = params.get('backend');
  const backendMode: BackendMode = BACKEND_MODES.includes(asked as BackendMode) ? (asked as BackendMode) : 'auto';

  const decoded = decodeHash(location.hash);
  const store = createLabStore(send, { doc: decoded.kind === 'doc' ? decoded.doc : DEFAULT_DOC, theme: initialTheme(), backendMode });
  if (decoded.kind === 'error') {
    // The address bar keeps the bad link (so it can be fixed or reported) until the first change.
    store.getState().notify('error', `${decoded.message} The default experiment is shown instead; the address bar keeps the link until you change a setting.`, 'url');
  }
  if (asked !== null && !BACKEND_MODES.includes(asked as BackendMode)) {
    store.getState().notify('warning', `?backend=${asked} is not a backend (use webgpu, cpu or auto); the lab chooses.`, 'backend-param');
  }

  // Worker -> store, batched per frame (a frame-less tab still gets them every 100 ms).
  let inbox: FromWorker[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    const batch = inbox;
    inbox = [];
    if (batch.length) store.getState().receive(batch);
  };
  worker.onmessage = (e: MessageEvent<FromWorker>) => {
    inbox.push(e.data);
    if (!scheduled) {
      scheduled = true;
      const timer = setTimeout(flush, 100);
      requestAnimationFrame(() => {
        clearTimeout(timer);
        if (scheduled) flush();
      });
    }
  };
  worker.onerror = (e) => {
    store.getState().notify('error', `The engine worker failed: ${e.message || 'unknown error'} — reload the page.`, 'worker');
  };

  // Document -> URL (replaceState: no history entry per slider move, no hashchange event).
  // Throttled (leading and trailing edge): browsers refuse floods of replaceState calls.
  let lastHash = 0;
  let hashTimer: ReturnType<typeof setTimeout> | null = null;
  const writeHash = () => {
    hashTimer = null;
    lastHash = performance.now();
    history.replaceState(null, '', `#${encodeDoc(store.getState().doc)}`);
  };
  store.subscribe((s, prev) => {
    if (s.docKey !== prev.docKey && !hashTimer) {
      const wait = lastHash + 100 - performance.now();
      if (wait <= 0) writeHash();
      else hashTimer = setTimeout(writeHash, wait);
    }
    if (s.theme !== prev.theme) {
      document.documentElement.dataset.theme = s.theme;
      try {
        localStorage.setItem('tangent-lab-theme', s.theme);
      } catch {
        // storage may be disabled
      }
    }
  });
  document.documentElement.dataset.theme = store.getState().theme;
  if (decoded.kind === 'none') history.replaceState(null, '', `#${encodeDoc(store.getState().doc)}`);
  // The backend control writes ?backend= so that a copied address keeps the choice.
  store.subscribe((s, prev) => {
    if (s.backendMode === prev.backendMode) return;
    const u = new URL(location.href);
    if (s.backendMode === 'auto') u.searchParams.delete('backend');
    else u.searchParams.set('backend', s.backendMode);
    history.replaceState(null, '', u.href);
  });

  // URL -> document (a pasted link, back/forward).
  window.addEventListener('hashchange', () => {
    const d = decodeHash(location.hash);
    if (d.kind === 'doc') store.getState().edit(d.doc);
    else if (d.kind === 'error') {
      store.getState().notify('error', `${d.message} The current experiment is kept.`, 'url');
      history.replaceState(null, '', `#${encodeDoc(store.getState().doc)}`);
    }
  });

  send({ type: 'init', backend: backendMode, baseUrl: import.meta.env.BASE_URL });
  return { store, worker };
}
