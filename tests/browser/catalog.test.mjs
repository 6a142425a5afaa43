// The catalog in a browser: the catalog page with the design document's three workers
// (a synced catalog and published versions) → filter → a worker's page → copy its install
// command (read back from the clipboard), premium pricing, the star form, keyboard use.
// Screenshots: artifacts/catalog.png, catalog-filtered.png, worker.png, worker-premium.png
// (the README's pictures, docs/catalog.png and docs/worker.png, are copies of the first and
// third).
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, screenshot, startRegistry } from './harness.mjs';
import { CPU, CUDA, PREMIUM, seedDesignWorkers } from './catalog_fixture.mjs';

let registry;
let browser;
let context;
let secrets;
before(async () => {
  registry = await startRegistry();
  secrets = await seedDesignWorkers(registry);
  browser = await launchBrowser();
  context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: registry.url });
});
after(async () => {
  await context?.close();
  await browser?.close();
  await registry?.stop();
});

function watchErrors(page) {
  const errors = [];
  page.on('console', (message) => { if (message.type() === 'error') errors.push(message.text()); });
  page.on('pageerror', (error) => errors.push(String(error)));
  return errors;
}

test('catalog → filter → worker → copy the install command', async () => {
  const page = await context.newPage();
  const errors = watchErrors(page);
  await page.goto(`${registry.url}/`);
  assert.equal(await page.title(), 'Workers · rbee registry');
  const cards = page.locator('li.worker');
  assert.equal(await cards.count(), 3);
  assert.deepEqual(await cards.evaluateAll((items) => items.map((item) => item.dataset.worker)), [CPU, CUDA, PREMIUM]);
  assert.equal((await page.locator(`li[data-worker="${PREMIUM}"] .badge`).textContent()).trim(), 'Premium');
  assert.equal((await page.locator(`li[data-worker="${CPU}"] .badge`).textContent()).trim(), 'Open');
  assert.equal(await page.locator(`li[data-worker="${CPU}"] .stars`).textContent(), '2 stars');
  await screenshot(page, 'catalog');

  // Filter with the form (keyboard: type, then choose the worker type, then Enter).
  await page.getByLabel('Search name and description').fill('inference');
  await page.getByLabel('Worker type').selectOption('cuda');
  await page.getByLabel('Search name and description').press('Enter');
  await page.waitForURL(/type=cuda/);
  assert.deepEqual(await cards.evaluateAll((items) => items.map((item) => item.dataset.worker)), [CUDA]);
  assert.match(await page.locator('#result-count').textContent(), /1 of 3 workers match/);
  await screenshot(page, 'catalog-filtered');

  // By platform: only the CPU worker has an arm64 package.
  await page.goto(`${registry.url}/?platform=linux-aarch64`);
  assert.deepEqual(await cards.evaluateAll((items) => items.map((item) => item.dataset.worker)), [CPU]);

  // To the worker's page.
  await page.getByRole('link', { name: 'LLM Worker (CPU)' }).click();
  await page.waitForURL(`${registry.url}/w/${CPU}`);
  assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'LLM Worker (CPU)');
  // Versions newest first, each with its date, platforms with sizes and checksums.
  const versions = await page.locator('#versions tbody th[scope="row"]').allTextContents();
  assert.deepEqual(versions, ['0.2.0', '0.1.0']);
  assert.match(await page.locator('#versions tbody').textContent(), /sha256:[0-9a-f]{64}/);
  assert.match(await page.locator('#versions tbody time').first().getAttribute('datetime'), /^\d{4}-\d\d-\d\d$/);
  // The README rendered, the chart drawn with its text alternative.
  assert.equal(await page.locator('#readme h3').first().textContent(), 'LLM Worker (CPU)');
  assert.equal(await page.locator('#readme table th').first().textContent(), 'Platform');
  const chart = page.locator('figure.chart svg[role="img"]');
  assert.match(await chart.locator('desc').textContent(), /^7 downloads from /);
  assert.ok((await chart.locator('rect.bar').count()) >= 1);

  // Copy the install command: the clipboard holds exactly the command shown.
  const command = page.locator('#cmd-install');
  const shown = await command.textContent();
  assert.equal(shown, `rbee-registry install ${CPU} --version 0.2.0 --registry ${registry.url}`);
  const copy = page.locator('button[data-copy="cmd-install"]');
  assert.ok(await copy.isVisible(), 'the copy button is shown once its script runs');
  await copy.focus();
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelector('button[data-copy="cmd-install"]').dataset.copied === 'true');
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), shown);
  // The other commands: oras per platform, git clone of the catalog branch.
  assert.equal(
    await page.locator('#cmd-git').textContent(),
    `git clone -b ${CPU} ${registry.url}/catalog.git ${CPU}`,
  );
  const oras = await page.locator('code[id^="cmd-oras-"]').allTextContents();
  assert.deepEqual(oras, [
    `oras pull --plain-http --platform linux/amd64 ${registry.url.slice(7)}/workers/${CPU}:0.2.0`,
    `oras pull --plain-http --platform linux/arm64 ${registry.url.slice(7)}/workers/${CPU}:0.2.0`,
  ]);
  await screenshot(page, 'worker');
  assert.deepEqual(errors, []);
});

test('a premium worker shows its price, trial and purchase link', async () => {
  const page = await context.newPage();
  const errors = watchErrors(page);
  await page.goto(`${registry.url}/w/${PREMIUM}`);
  const pricing = page.locator('section.pricing');
  assert.match(await pricing.textContent(), /\$99 per month \(subscription\)/);
  assert.match(await pricing.textContent(), /14-day free trial/);
  assert.equal(await pricing.getByRole('link', { name: 'Buy a license' }).getAttribute('href'), 'https://rbee.ai/premium');
  assert.match(await page.locator('#cmd-install').textContent(), /--license "\$RBEE_LICENSE_TOKEN"$/);
  await screenshot(page, 'worker-premium');
  assert.deepEqual(errors, []);
});

test('the star form works without JavaScript and refuses a wrong token', async () => {
  const noScript = await browser.newContext({ javaScriptEnabled: false });
  try {
    const page = await noScript.newPage();
    await page.goto(`${registry.url}/w/${CUDA}`);
    assert.equal(await page.locator('#star-count').textContent(), '1');
    // Without JavaScript the command is still there as selectable text; the button is hidden.
    assert.match(await page.locator('#cmd-install').textContent(), /^rbee-registry install llm-worker-rbee-cuda/);
    assert.equal(await page.locator('button[data-copy="cmd-install"]').isVisible(), false);

    await page.getByLabel('License or publisher token').fill('rbee_lic_not-a-token');
    await page.getByRole('button', { name: 'Star', exact: true }).click();
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Token not accepted');
    await page.getByRole('link', { name: 'Back' }).click();

    await page.getByLabel('License or publisher token').fill(secrets.license);
    await page.getByRole('button', { name: 'Star', exact: true }).click();
    await page.waitForURL(/star=added/);
    assert.equal(await page.locator('#star-count').textContent(), '2');
    assert.match(await page.getByRole('status').last().textContent(), /your star is counted/);

    await page.getByLabel('License or publisher token').fill(secrets.license);
    await page.getByRole('button', { name: 'Remove my star' }).click();
    await page.waitForURL(/star=removed/);
    assert.equal(await page.locator('#star-count').textContent(), '1');
  } finally {
    await noScript.close();
  }
});
