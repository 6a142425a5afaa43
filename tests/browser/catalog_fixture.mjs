// A registry holding the design document's three example workers with real data: a Git
// catalog made with `rbee-registry catalog init` / `catalog add` from the design's
// metadata.json records (tests/fixtures/catalog), versions published with
// `rbee-registry publish`, a few counted downloads and stars.

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = resolve(here, '../fixtures');

export const CPU = 'llm-worker-rbee-cpu';
export const CUDA = 'llm-worker-rbee-cuda';
export const PREMIUM = 'llm-worker-rbee-premium';

const READMES = {
  [CPU]: `# LLM Worker (CPU)

Candle-based inference on any x86_64 or aarch64 CPU. Build it from source with the PKGBUILD
or install the binary.

## Models

- GGUF and SafeTensors weights
- Multi-threaded token generation

| Platform | Notes |
|---|---|
| linux-x86_64 | AVX2 when available |
| linux-aarch64 | NEON |
`,
  [CUDA]: `# LLM Worker (CUDA)

Binary-only distribution: CUDA builds are complex, so this worker ships prebuilt packages.
Needs an NVIDIA driver with CUDA 12.
`,
  [PREMIUM]: `# LLM Worker (Premium)

High-performance inference with advanced caching and built-in analytics.

## Pricing

$99 per month, with a 14-day free trial. [Buy a license](https://rbee.ai/premium).
`,
};

/// A worker package: `bin/<id>` and its metadata, as tar.gz.
function makePackage(dir, id, version, platform, metadataPath) {
  const root = join(dir, `${id}-${platform.replace('/', '-')}`);
  mkdirSync(join(root, 'bin'), { recursive: true });
  writeFileSync(join(root, 'bin', id), `#!/bin/sh\necho "${id} ${version} ${platform}"\n`, { mode: 0o755 });
  writeFileSync(join(root, 'README.md'), `# ${id}\n`);
  writeFileSync(join(root, 'metadata.json'), readFileSync(metadataPath));
  const archive = `${root}.tar.gz`;
  execFileSync('tar', ['-czf', archive, '-C', root, 'bin', 'README.md', 'metadata.json']);
  return archive;
}

/// Sets up the three workers on `registry` (from harness.startRegistry). Returns the
/// publisher token used to publish and star.
export async function seedDesignWorkers(registry) {
  const work = mkdtempSync(join(tmpdir(), 'rbee-seed-'));
  try {
    registry.command(['catalog', 'init']);
    for (const id of [CPU, CUDA, PREMIUM]) {
      const readme = join(work, `${id}.README.md`);
      writeFileSync(readme, READMES[id]);
      const args = ['catalog', 'add', '--worker', id, '--metadata', join(fixtures, 'catalog', `${id}.metadata.json`), '--readme', readme];
      if (id === CPU) args.push('--pkgbuild', join(fixtures, 'workers', `${CPU}.PKGBUILD`));
      registry.command(args);
    }
    const token = registry.command(['publisher', 'create', '--name', 'ci', '--repo', 'workers/*']).trim().split('\n').pop();
    const publish = (id, version, platforms) => {
      const metadata = join(fixtures, 'workers', `${id}.metadata.json`);
      const versioned = join(work, `${id}-${version}.json`);
      const record = JSON.parse(readFileSync(metadata, 'utf8'));
      record.version = version;
      writeFileSync(versioned, JSON.stringify(record, null, 2));
      const args = ['publish', '--worker', id, '--version', version, '--metadata', versioned, '--token', token];
      for (const platform of platforms) {
        args.push('--platform', `${platform}=${makePackage(work, id, version, platform, versioned)}`);
      }
      if (id === CPU) args.push('--pkgbuild', join(fixtures, 'workers', `${CPU}.PKGBUILD`));
      args.push(registry.url);
      registry.run(args);
    };
    publish(CPU, '0.1.0', ['linux/amd64', 'linux/arm64']);
    publish(CPU, '0.2.0', ['linux/amd64', 'linux/arm64']);
    publish(CUDA, '0.1.0', ['linux/amd64']);
    publish(PREMIUM, '0.1.0', ['linux/amd64']);

    // Downloads the stats count: fetch the signed URL of the download answer to its end.
    const license = registry.command(['license', 'issue', '--holder', 'buyer@example.com', '--worker', PREMIUM, '--expires', '30d']).trim().split('\n').pop();
    const download = async (id, version, times, headers = {}) => {
      for (let i = 0; i < times; i++) {
        const answer = await fetch(`${registry.url}/v1/workers/${id}/${version}/download?platform=linux-x86_64`, { headers });
        if (!answer.ok) throw new Error(`download answer ${answer.status}: ${await answer.text()}`);
        const { download_url: url } = await answer.json();
        const bytes = await fetch(url);
        await bytes.arrayBuffer();
      }
    };
    await download(CPU, '0.2.0', 5);
    await download(CPU, '0.1.0', 2);
    await download(CUDA, '0.1.0', 3);
    await download(PREMIUM, '0.1.0', 1, { authorization: `Bearer ${license}` });

    // Stars: the publisher and the license holder.
    for (const [id, secret] of [[CPU, token], [CPU, license], [PREMIUM, license], [CUDA, token]]) {
      const answer = await fetch(`${registry.url}/v1/workers/${id}/star`, { method: 'PUT', headers: { authorization: `Bearer ${secret}` } });
      if (!answer.ok) throw new Error(`star ${answer.status}`);
    }
    // The download log is written by a background writer: wait until the stats show them.
    const deadline = Date.now() + 10_000;
    for (;;) {
      const stats = await (await fetch(`${registry.url}/v1/workers/${CPU}/stats`)).json();
      if (stats.downloads >= 7) break;
      if (Date.now() > deadline) throw new Error(`downloads not counted: ${JSON.stringify(stats)}`);
      await new Promise((ok) => setTimeout(ok, 100));
    }
    return { token, license };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
