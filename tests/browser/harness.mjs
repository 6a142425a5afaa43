// Shared pieces of the browser tests: a real rbee-registry process on a free loopback port
// with its own data directory, and Debian's Chromium driven by playwright-core (it cannot
// download a browser of its own here). Each test file starts what it needs.
//
// RBEE_BIN names the binary (default: $CARGO_TARGET_DIR/debug/rbee-registry, else
// ../../target/debug/rbee-registry); CHROMIUM the browser (default /usr/bin/chromium);
// screenshots go to $BROWSER_ARTIFACTS (default tests/browser/artifacts).

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));

export const binary =
  process.env.RBEE_BIN ??
  join(process.env.CARGO_TARGET_DIR ?? resolve(here, '../../target'), 'debug/rbee-registry');

export const artifacts = process.env.BROWSER_ARTIFACTS ?? join(here, 'artifacts');

async function freePort() {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => ok(port));
    });
  });
}

/// Runs `rbee-registry <args…>` to completion; throws with its output when it fails.
export function runCommand(args, { input } = {}) {
  const result = spawnSync(binary, args, { encoding: 'utf8', input, env: { ...process.env, RUST_LOG: 'warn' } });
  if (result.status !== 0) {
    throw new Error(`rbee-registry ${args.join(' ')} exited ${result.status}:\n${result.stdout}\n${result.stderr}`);
  }
  return result.stdout;
}

/// A registry process: `serve --listen 127.0.0.1:<free port> --data-dir <temp dir> <extra…>`.
/// `registry.command([...])` runs another subcommand on the same data directory (the
/// options every subcommand shares with serve); `registry.adminToken()` reads the admin
/// token serve wrote.
export async function startRegistry(extra = []) {
  const dataDir = mkdtempSync(join(tmpdir(), 'rbee-browser-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(binary, ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir, ...extra], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, RUST_LOG: 'warn' },
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => { stderr += chunk; });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`serve exited ${child.exitCode}:\n${stderr}`);
    try {
      const response = await fetch(`${url}/healthz`);
      if (response.ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error(`serve did not answer /healthz in 30 s:\n${stderr}`);
    await new Promise((ok) => setTimeout(ok, 50));
  }
  return {
    url,
    dataDir,
    command: (args, options) => runCommand([...args, '--data-dir', dataDir], options),
    /// Runs `rbee-registry <args…>` as is (client subcommands: publish, install).
    run: (args, options) => runCommand(args, options),
    adminToken: () => readFileSync(join(dataDir, 'admin-token'), 'utf8').trim(),
    stderr: () => stderr,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((ok) => (child.exitCode !== null ? ok() : child.once('exit', ok)));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/// Headless Chromium with the flags this machine needs (no sandbox as root, no background
/// networking: the network is closed).
export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/// Saves a full-page screenshot as `<artifacts>/<name>.png` and returns its path.
export async function screenshot(page, name) {
  mkdirSync(artifacts, { recursive: true });
  const path = join(artifacts, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
