import { it } from 'vitest';
import { computeReferenceResults } from '../src/reference/results';
import { randomSpec } from './reference-helpers';
it('time', () => {
  const specs: [string, ReturnType<typeof randomSpec>][] = [
    ['mlp 2-64-64-10 CE n=128 (P=5130, N=1280), train 20 steps', randomSpec({ input: [2], layers: [{ type: 'dense', units: 64, activation: 'relu' }, { type: 'dense', units: 64, activation: 'relu' }, { type: 'dense', units: 10, activation: 'linear' }], loss: 'cross_entropy', n: 128, nTest: 32, seed: 1, train: { optimizer: 'gd', lr: 0.5, steps: 20, checkpoints: [0, 10, 20] } })],
    ['cnn 1x12x12 conv8 s2 p1 + conv8 + pool + dense10 mse n=64, train 20', randomSpec({ input: [1, 12, 12], layers: [{ type: 'conv2d', filters: 8, kernel: 3, stride: 2, padding: 1, activation: 'tanh' }, { type: 'conv2d', filters: 8, kernel: 3, padding: 1, activation: 'relu' }, { type: 'avgpool2d', size: 2 }, { type: 'flatten' }, { type: 'dense', units: 10, activation: 'linear' }], loss: 'mse', n: 64, nTest: 16, seed: 1, train: { optimizer: 'gd', lr: 0.1, steps: 20, alpha: 5, checkpoints: [0, 10, 20] } })],
  ];
  for (const [name, s] of specs) {
    const t = performance.now();
    const r = computeReferenceResults(s);
    console.log('TIMING', name, ((performance.now() - t) / 1000).toFixed(2), 's', Object.keys(r).length, 'keys');
  }
}, 600000);
