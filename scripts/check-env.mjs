#!/usr/bin/env node
// Pre-test check: the GPU tests need a Vulkan driver for Dawn and (for the browser tests) Debian's
// Chromium. Say exactly what is missing and how to install it, instead of failing later with a
// bare "no adapter". Nothing is skipped: the tests themselves also fail without an adapter.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const problems = [];
const icds = ['/usr/share/vulkan/icd.d/lvp_icd.json', '/usr/lib/chromium/vk_swiftshader_icd.json'];
if (!process.env.VK_ICD_FILENAMES && !icds.some((p) => existsSync(p))) {
  problems.push(
    'no Vulkan driver for Dawn: install Mesa lavapipe from bookworm-backports\n' +
      '    (apt-get install -t bookworm-backports mesa-vulkan-drivers), or run .ci/run as root',
  );
}
if (!existsSync('/usr/bin/chromium')) {
  problems.push('no /usr/bin/chromium for the browser tests: apt-get install chromium (or run .ci/run as root)');
}
// The PyTorch-export tests run the exported scripts with Debian's python and python3-torch.
const torch = spawnSync('/usr/bin/python3', ['-c', 'import torch, numpy'], { encoding: 'utf8' });
if (torch.error || torch.status !== 0) {
  problems.push('/usr/bin/python3 cannot import torch and numpy for the PyTorch-export tests:\n' + '    apt-get install --no-install-recommends python3-torch python3-numpy (or run .ci/run as root)');
}
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 19)) problems.push(`Node ${process.versions.node} is too old: Vite 8 needs 20.19+ or 22.12+`);
if (problems.length) {
  console.error('Test environment incomplete:\n  - ' + problems.join('\n  - '));
  process.exit(1);
}
