import { StrictMode, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { GpuContext } from '../gpu/context';

function AdapterBanner() {
  const [text, setText] = useState('Looking for a WebGPU adapter…');
  useEffect(() => {
    let ctx: GpuContext | null = null;
    (async () => {
      if (!('gpu' in navigator)) {
        setText('WebGPU is not available in this browser.');
        return;
      }
      ctx = await GpuContext.create(navigator.gpu);
      setText(`WebGPU adapter: ${ctx.adapter.summary}`);
    })().catch((e: Error) => setText(`WebGPU failed: ${e.message}`));
    return () => ctx?.destroy();
  }, []);
  return <p data-testid="adapter">{text}</p>;
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <h1>Tangent Lab</h1>
    <AdapterBanner />
  </StrictMode>,
);
