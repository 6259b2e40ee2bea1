/**
 * Running exported PyTorch scripts from the tests with Debian's python (`/usr/bin/python3`, which
 * sees Debian's python3-torch; the `python3` on PATH may be another build without it).
 * There is no skip path: without torch the tests fail with the install hint.
 *
 * `runScripts` runs many scripts through a few Python processes ("drivers"): each driver imports
 * torch once and then loads every script of its share as a fresh module and calls its
 * `main(argv)` (the same function `python3 script.py ...` runs), so the tests pay for one torch
 * import per driver instead of one per script.
 */
import { spawn, spawnSync } from 'node:child_process';

export const PYTHON = '/usr/bin/python3';

const INSTALL_HINT = 'install Debian\'s PyTorch: apt-get install -y --no-install-recommends python3-torch python3-numpy (as .ci/run does)';

let checked: string | null = null;

/** torch's version, or an error saying how to install it. */
export function requireTorch(): string {
  if (checked) return checked;
  const r = spawnSync(PYTHON, ['-c', 'import torch, numpy; print(torch.__version__)'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    const why = r.error ? r.error.message : r.stderr.trim().split('\n').pop();
    throw new Error(`${PYTHON} cannot import torch and numpy (${why}): ${INSTALL_HINT}`);
  }
  checked = r.stdout.trim();
  return checked;
}

/** Run a Python program with a JSON value on stdin; resolves with its parsed JSON stdout. */
export function pythonJson<T>(code: string, input: unknown, timeoutMs = 300_000): Promise<T> {
  requireTorch();
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, ['-c', code], { env: { ...process.env, OMP_NUM_THREADS: '1' } });
    let out = '';
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`python exited with ${code}: ${err.trim().split('\n').slice(-5).join(' | ')}`));
      try {
        resolve(JSON.parse(out) as T);
      } catch (e) {
        reject(new Error(`python printed no JSON (${(e as Error).message}): ${out.slice(0, 200)} ${err.slice(-500)}`));
      }
    });
    child.stdin.end(JSON.stringify(input));
  });
}

export interface ScriptJob {
  /** Path of an exported script. */
  script: string;
  /** Its command-line arguments. */
  args: string[];
}

export interface ScriptRun {
  /** main()'s return value or the SystemExit code (argparse errors: 2); -1 for an uncaught exception. */
  code: number;
  stdout: string;
  stderr: string;
}

const DRIVER = `
import contextlib, importlib.util, io, json, sys, traceback
import torch
torch.set_num_threads(1)
jobs = json.load(sys.stdin)
runs = []
for i, job in enumerate(jobs):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            spec = importlib.util.spec_from_file_location(f"exported_{i}", job["script"])
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            code = module.main(job["args"])
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except Exception:
            traceback.print_exc()
            code = -1
    runs.append({"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()})
json.dump(runs, sys.stdout)
`;

/** Run every job, spread over `drivers` Python processes; results in job order. */
export async function runScripts(jobs: ScriptJob[], drivers = 2): Promise<ScriptRun[]> {
  const shares: { index: number; job: ScriptJob }[][] = Array.from({ length: Math.min(drivers, jobs.length) }, () => []);
  jobs.forEach((job, index) => shares[index % shares.length].push({ index, job }));
  const results = await Promise.all(shares.map((share) => pythonJson<ScriptRun[]>(DRIVER, share.map((s) => s.job))));
  const out: ScriptRun[] = new Array(jobs.length);
  shares.forEach((share, d) => share.forEach((s, k) => (out[s.index] = results[d][k])));
  return out;
}
