// The page frame: the stylesheet loads under the Content-Security-Policy, landmarks exist,
// and the static file answers 304 to its own ETag.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, startRegistry } from './harness.mjs';

let registry;
let browser;
before(async () => {
  registry = await startRegistry();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await registry?.stop();
});

test('the stylesheet is cached by ETag and served with the page headers', async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on('console', (message) => { if (message.type() === 'error') errors.push(message.text()); });
  const response = await page.goto(`${registry.url}/static/style.css`);
  assert.equal(response.status(), 200);
  const headers = response.headers();
  assert.match(headers['content-security-policy'], /default-src 'none'/);
  assert.equal(headers['x-content-type-options'], 'nosniff');
  const again = await fetch(`${registry.url}/static/style.css`, { headers: { 'if-none-match': headers.etag } });
  assert.equal(again.status, 304);
  assert.deepEqual(errors, []);
});
