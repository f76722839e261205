// Drives the real Kloudless widgets (as Cloudbridge serves them) in Debian's Chromium with
// playwright-core, the way a user would: clicks, popups, forms. Run by the Rust browser
// tests (api/tests/api/browser.rs), one scenario per run:
//
//   node widgets.mjs <scenario>   with env BROWSER_PARAMS = JSON of the scenario's inputs
//                                 and BROWSER_ARTIFACTS = a folder for screenshots
//
// It prints one line `RESULT <json>`: what the embedding page's callbacks received, for the
// Rust side to check against the server. Any failure prints `RESULT {"failure": …}` after
// a screenshot of every open page.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const scenario = process.argv[2];
const params = JSON.parse(process.env.BROWSER_PARAMS || '{}');
const artifacts = process.env.BROWSER_ARTIFACTS || 'browser-artifacts';
mkdirSync(artifacts, { recursive: true });

const STEP_MS = 20000;
let shot = 0;

/** A screenshot of `page`, named by its order and `name`. */
async function snap(page, name) {
  shot += 1;
  const file = join(artifacts, `${String(shot).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true }).catch(() => {});
}

/** What the embedding page's widget callbacks stored in `window.__results`, once there
 * are `count` entries (or one that is the event `count` names). */
async function results(page, count) {
  await page.waitForFunction(
    (c) => {
      const got = window.__results || [];
      return typeof c === 'number' ? got.length >= c : got.some((r) => r.event === c);
    },
    count,
    { timeout: STEP_MS },
  );
  return page.evaluate(() => window.__results);
}

/** Walks Cloudbridge's chooser and the service's consent page in `popup`. */
async function connectIn(popup, { service, decision = 'allow', cancel = false, form }) {
  await popup.waitForLoadState();
  await snap(popup, 'chooser');
  if (cancel) {
    await popup.click('button[name="action"][value="deny"]');
    return;
  }
  // A scope naming one service connected by credentials opens its form at once.
  const choice = popup.locator(`button[name="service"][value="${service}"]`);
  if (!form || (await choice.count()) > 0) {
    await choice.click();
    await popup.waitForLoadState();
  }
  if (form) {
    for (const [name, value] of Object.entries(form)) {
      await popup.fill(`[name="${name}"]`, String(value));
    }
    await snap(popup, 'credentials');
    await popup.click('#connect');
    return;
  }
  await snap(popup, 'consent');
  await popup.click(`button[name="decision"][value="${decision}"]`);
}

/** The Authenticator on the host page: click, connect in the popup, callback result. */
async function authenticator(context) {
  const page = await context.newPage();
  await page.goto(params.page);
  await snap(page, 'host');
  const popupOpened = context.waitForEvent('page', { timeout: STEP_MS });
  await page.click('#connect');
  const popup = await popupOpened;
  await connectIn(popup, params);
  const [result] = await results(page, 1);
  await snap(page, 'connected');
  return { result, popupClosed: popup.isClosed() };
}

/** The picker's frame on `page`. */
function pickerFrame(page) {
  return page.frameLocator('iframe.kloudless-modal');
}

/** The File Picker: connect through it, browse, select (or save `params.save` into the
 * folder browsed to); the app's events. */
async function picker(context) {
  const page = await context.newPage();
  await page.goto(params.page);
  if (params.save) {
    await page.evaluate((files) => window.__picker.save(files), params.save);
  } else {
    await page.click('#choose');
  }
  const frame = pickerFrame(page);
  if (params.connect) {
    const tile = frame.locator('.service-list__item', { hasText: params.connect.friendly });
    await tile.first().waitFor({ timeout: STEP_MS });
    await snap(page, 'picker-services');
    const popupOpened = context.waitForEvent('page', { timeout: STEP_MS });
    await tile.first().click();
    // The picker opens the popup at once, or first asks to confirm (where popups need
    // a click of their own).
    const confirm = frame.locator('#confirm-add-button');
    const popup = await Promise.race([
      popupOpened,
      confirm.waitFor({ state: 'visible' }).then(async () => {
        await confirm.click();
        return popupOpened;
      }),
    ]);
    await connectIn(popup, params.connect);
  }
  for (const folder of params.open || []) {
    const row = frame.locator('tr.ftable__row[data-type="folder"]', { hasText: folder });
    await row.first().waitFor({ timeout: STEP_MS });
    await row.first().dblclick();
  }
  for (const name of params.select || []) {
    const row = frame.locator('tr.ftable__row', { hasText: name });
    await row.first().waitFor({ timeout: STEP_MS });
    await row.first().click({ modifiers: params.select.length > 1 ? ['Control'] : [] });
  }
  await snap(page, 'picker-selected');
  if (params.cancel) {
    await frame.locator('.icon__close').first().click();
  } else {
    await frame.locator('.ftable__footer .btn--primary').first().click();
  }
  const got = await results(page, params.until);
  await snap(page, 'picker-done');
  return { events: got };
}

/** The bytes of a test file: `size` bytes counting 0..250 over and over (the Rust side
 * makes the same). */
function testBytes(size) {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i += 1) bytes[i] = i % 251;
  return bytes;
}

/** The picker's "My Computer": add files, upload them (in chunks), the app's events. */
async function computer(context) {
  const page = await context.newPage();
  await page.goto(params.page);
  await page.click('#choose');
  const frame = pickerFrame(page);
  const tile = frame.locator('.service-list__item', { has: frame.locator('.icon__computer') });
  await tile.first().click();
  const input = frame.locator('#computer_uploader input[type="file"]');
  await input.waitFor({ state: 'attached' });
  await input.setInputFiles(
    params.files.map((f) => ({
      name: f.name,
      mimeType: 'application/octet-stream',
      buffer: testBytes(f.size),
    })),
  );
  await snap(page, 'computer-added');
  await frame.locator('#plupload_btn_upload').click();
  const got = await results(page, 'success');
  await snap(page, 'computer-uploaded');
  return { events: got };
}

const SCENARIOS = { authenticator, picker, computer };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
    '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1',
  ],
});
const context = await browser.newContext();
context.setDefaultTimeout(STEP_MS);
const console_ = [];
context.on('page', (p) => {
  p.on('console', (m) => console_.push(`${m.type()}: ${m.text()}`));
  p.on('requestfailed', (r) => console_.push(`failed: ${r.url()} ${r.failure()?.errorText}`));
  p.on('response', (r) => r.status() >= 400 && console_.push(`${r.status()}: ${r.url()}`));
});
let out;
try {
  out = await SCENARIOS[scenario](context);
} catch (e) {
  for (const [i, p] of context.pages().entries()) {
    await snap(p, `failure-${i}`);
  }
  out = { failure: String(e && e.stack ? e.stack : e), console: console_ };
}
await browser.close();
console.log(`RESULT ${JSON.stringify(out)}`);
