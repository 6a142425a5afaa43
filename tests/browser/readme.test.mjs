// Hostile catalog text in a browser: a README holding a <script>, an onerror attribute and a
// javascript: link, and a description holding HTML, rendered as sanitised markup and inert
// text. The test checks the live DOM (and that no script ran), not only the HTML source.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchBrowser, screenshot, startRegistry } from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const ID = 'llm-worker-rbee-cpu';

const README = `# Hostile README

<script>window.__pwned = 'script';</script>

<img src="/nothing.png" onerror="window.__pwned = 'onerror'" alt="broken">

[Click me](javascript:window.__pwned='link') and <a href="javascript:window.__pwned='raw'">raw link</a>

<p onclick="window.__pwned='click'" style="color: red">Styled paragraph</p>

<iframe src="https://evil.example/"></iframe>

[Real docs](https://example.com/docs)
`;

const DESCRIPTION = 'Fast <b>bold</b> worker <img src=x onerror="window.__pwned=1">';

let registry;
let browser;
let work;
before(async () => {
  registry = await startRegistry();
  work = mkdtempSync(join(tmpdir(), 'rbee-readme-'));
  const record = JSON.parse(readFileSync(resolve(here, '../fixtures/catalog', `${ID}.metadata.json`), 'utf8'));
  record.description = DESCRIPTION;
  record.name = 'LLM <i>Worker</i>';
  writeFileSync(join(work, 'metadata.json'), JSON.stringify(record));
  writeFileSync(join(work, 'README.md'), README);
  registry.command(['catalog', 'init']);
  registry.command(['catalog', 'add', '--worker', ID, '--metadata', join(work, 'metadata.json'), '--readme', join(work, 'README.md')]);
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await registry?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('a hostile README is sanitised and a description with HTML shows as text', async () => {
  const page = await browser.newPage();
  const dialogs = [];
  page.on('dialog', async (dialog) => { dialogs.push(dialog.message()); await dialog.dismiss(); });
  await page.goto(`${registry.url}/w/${ID}`);
  await page.waitForLoadState('load');

  const readme = page.locator('#readme');
  assert.equal(await readme.locator('h3').first().textContent(), 'Hostile README');
  const dom = await readme.evaluate((root) => ({
    scripts: root.querySelectorAll('script').length,
    iframes: root.querySelectorAll('iframe').length,
    eventAttributes: [...root.querySelectorAll('*')].flatMap((el) => [...el.attributes].map((a) => a.name)).filter((n) => n.startsWith('on')),
    styles: root.querySelectorAll('[style]').length,
    hrefs: [...root.querySelectorAll('a')].map((a) => [a.textContent, a.getAttribute('href'), a.getAttribute('rel')]),
    text: root.textContent,
  }));
  assert.equal(dom.scripts, 0);
  assert.equal(dom.iframes, 0);
  assert.deepEqual(dom.eventAttributes, []);
  assert.equal(dom.styles, 0);
  for (const [, href] of dom.hrefs) {
    assert.ok(!href || !/^\s*javascript:/i.test(href), `javascript: link survived: ${href}`);
  }
  assert.deepEqual(dom.hrefs.find(([text]) => text === 'Real docs'), ['Real docs', 'https://example.com/docs', 'noopener noreferrer']);
  assert.match(dom.text, /Styled paragraph/);
  assert.doesNotMatch(dom.text, /__pwned/);

  // The description: its tags are visible text, no <b> or <img> element was made.
  const description = page.locator('#description');
  assert.equal(await description.textContent(), DESCRIPTION);
  assert.equal(await description.locator('b, img').count(), 0);
  assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'LLM <i>Worker</i>');

  // Clicking what was a javascript: link runs nothing; nothing ran at all.
  await readme.getByText('Click me').click().catch(() => {});
  await readme.getByText('Styled paragraph').click();
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  assert.deepEqual(dialogs, []);
  // The only scripts on the page are the registry's own static file.
  assert.deepEqual(
    await page.evaluate(() => [...document.scripts].map((s) => new URL(s.src).pathname)),
    ['/static/copy.js'],
  );

  // The catalog shows the same text inert.
  await page.goto(`${registry.url}/`);
  assert.equal(await page.locator(`li[data-worker="${ID}"] .description`).textContent(), DESCRIPTION);
  assert.equal(await page.locator(`li[data-worker="${ID}"] h2`).textContent(), 'LLM <i>Worker</i>');
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  await screenshot(page, 'hostile-readme');
});
