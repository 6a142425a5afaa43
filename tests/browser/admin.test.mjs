// Admin pages in Chromium (issue 13): sign in with the keyboard only (Tab to the token
// field, type, Enter), issue a license and read its token on the one page that shows it,
// check it on /licenses/check, revoke it through the confirmation step, and see the check
// (and the API) now say revoked. Screenshots of each step go to the artifacts directory.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, screenshot, startRegistry } from './harness.mjs';

const WORKER = 'llm-worker-rbee-premium';

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

/// Presses Tab until the element with `id` has the focus (at most `limit` presses).
async function tabTo(page, id, limit = 25) {
  for (let presses = 0; presses < limit; presses += 1) {
    if (await page.evaluate(() => document.activeElement?.id) === id) return presses;
    await page.keyboard.press('Tab');
  }
  assert.fail(`#${id} never got the focus by Tab`);
}

async function checkLicense(page, token) {
  await page.goto(`${registry.url}/licenses/check`);
  await page.getByLabel('License token').fill(token);
  await page.getByRole('button', { name: 'Check license' }).click();
  await page.waitForSelector('#check-result');
  return page.locator('#check-result');
}

test('admin signs in by keyboard, issues a license, the holder checks it, the admin revokes it', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  // What the Content-Security-Policy would block (the refused sign-in's 403 and the missing
  // favicon are logged as failed loads, and are expected).
  page.on('console', (message) => {
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) errors.push(message.text());
  });

  // Signed out: the admin page sends to the sign-in form.
  await page.goto(`${registry.url}/admin`);
  assert.equal(new URL(page.url()).pathname, '/admin/login');
  await page.getByRole('heading', { level: 1, name: 'Sign in to manage licenses' }).waitFor();
  await screenshot(page, 'admin-login');

  // Keyboard only: a wrong token first (the error is tied to the field), then the right one.
  await tabTo(page, 'field-admin_token');
  await page.keyboard.type('rbee_adm_wrong');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#field-admin_token-error');
  const field = page.locator('#field-admin_token');
  assert.equal(await field.getAttribute('aria-invalid'), 'true');
  assert.match(await field.getAttribute('aria-describedby'), /field-admin_token-error/);
  await screenshot(page, 'admin-login-refused');
  await tabTo(page, 'field-admin_token');
  await page.keyboard.type(registry.adminToken());
  await Promise.all([page.waitForURL(`${registry.url}/admin`), page.keyboard.press('Enter')]);
  await page.getByRole('heading', { level: 1, name: 'Admin' }).waitFor();
  const cookies = await context.cookies();
  const session = cookies.find((cookie) => cookie.name === 'rbee_admin_session');
  assert.ok(session, 'a session cookie');
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, 'Strict');
  assert.equal(session.path, '/admin');
  await screenshot(page, 'admin-overview');

  // Issue a license: the token is on this page, once.
  await page.getByRole('navigation', { name: 'Admin' }).getByRole('link', { name: 'Licenses' }).click();
  await page.getByLabel('Holder e-mail').fill('holder@example.com');
  await page.getByLabel('Workers').fill(WORKER);
  await page.getByLabel('Expires').fill('30d');
  await page.getByRole('button', { name: 'Issue license' }).click();
  await page.getByRole('heading', { level: 1, name: 'License issued' }).waitFor();
  const token = (await page.locator('#new-secret').inputValue()).trim();
  assert.match(token, /^rbee_lic_/);
  await screenshot(page, 'admin-license-issued');
  await page.getByRole('link', { name: 'Back to the licenses' }).click();
  assert.ok(!(await page.content()).includes(token), 'the list does not show the token');

  // The holder checks it (another browser context: no admin cookie).
  const holder = await (await browser.newContext()).newPage();
  let result = await checkLicense(holder, token);
  assert.equal(await result.getAttribute('data-valid'), 'true');
  assert.equal((await holder.locator('#check-workers li').allTextContents()).join(','), WORKER);
  const expires = await holder.locator('#check-expires').getAttribute('datetime');
  const api = await (await fetch(`${registry.url}/v1/licenses/verify`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }),
  })).json();
  assert.deepEqual(api, { valid: true, worker_ids: [WORKER], expires_at: expires });
  await screenshot(holder, 'license-check-valid');

  // Revoke: the confirmation must be ticked; without it the browser does not send the form.
  await page.getByRole('link', { name: /^Revoke license / }).click();
  await page.getByRole('heading', { level: 1, name: /^Revoke license/ }).waitFor();
  await screenshot(page, 'admin-revoke-confirm');
  const confirmUrl = page.url();
  await page.getByRole('button', { name: 'Revoke license' }).click();
  assert.equal(page.url(), confirmUrl, 'not sent without the confirmation');
  assert.equal(await page.locator('#field-confirm').evaluate((box) => box.validity.valueMissing), true);
  await page.getByLabel('Yes, revoke this license').check();
  await Promise.all([page.waitForURL(/\/admin\/licenses\?revoked=/), page.getByRole('button', { name: 'Revoke license' }).click()]);
  await page.getByRole('status').filter({ hasText: 'was revoked' }).waitFor();
  assert.match(await page.locator('tbody').textContent(), /cancelled/);
  await screenshot(page, 'admin-license-revoked');

  // The holder's check and the API now say revoked.
  result = await checkLicense(holder, token);
  assert.equal(await result.getAttribute('data-valid'), 'false');
  assert.equal(await result.getAttribute('data-reason'), 'revoked');
  await screenshot(holder, 'license-check-revoked');
  const after = await (await fetch(`${registry.url}/v1/licenses/verify`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }),
  })).json();
  assert.deepEqual(after, { valid: false, reason: 'revoked' });

  // Signing out ends the session.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(`${registry.url}/admin/login`);
  await page.goto(`${registry.url}/admin/licenses`);
  assert.equal(new URL(page.url()).pathname, '/admin/login');
  assert.deepEqual(errors, [], 'no console errors (the CSP blocked nothing)');
});

test('a form posted from another site is refused and changes nothing', async () => {
  // A page on another origin (a data: URL) posting to the admin form with the browser's
  // cookies: SameSite=Strict keeps the session cookie away, Origin and the missing form
  // token refuse it.
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${registry.url}/admin/login`);
  await page.getByLabel('Admin token').fill(registry.adminToken());
  await Promise.all([page.waitForURL(`${registry.url}/admin`), page.getByRole('button', { name: 'Sign in' }).click()]);
  const before = await (await context.request.get(`${registry.url}/admin/licenses`)).text();
  const attacker = await context.newPage();
  await attacker.setContent(`<form method="post" action="${registry.url}/admin/licenses">
    <input name="holder" value="evil@example.com"><input name="workers" value="${WORKER}">
    <input name="expires" value="365d"><button>go</button></form>`);
  const [response] = await Promise.all([
    attacker.waitForNavigation(),
    attacker.getByRole('button', { name: 'go' }).click(),
  ]);
  assert.equal(response.status(), 403);
  await page.reload();
  assert.ok(!(await page.content()).includes('evil@example.com'), 'nothing issued');
  assert.ok(!before.includes('evil@example.com'));
});
