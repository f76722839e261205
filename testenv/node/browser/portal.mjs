// Walks the developer portal in Debian's Chromium (playwright-core) as a new developer
// would: sign up, create an application, copy its key, make a second key, change the
// settings, sign out, a wrong password. Every page is screenshotted and checked with
// axe-core. Run by api/tests/api/browser.rs:
//
//   node portal.mjs   with env BROWSER_PARAMS = {"portal": <base URL>, "email", "password"}
//                     and BROWSER_ARTIFACTS = a folder for screenshots
//
// Prints one line `RESULT <json>`: the key read off the page, the serious or critical
// accessibility violations found (by page), or `{"failure": …}`.
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const AXE = require.resolve('axe-core/axe.min.js');
const params = JSON.parse(process.env.BROWSER_PARAMS || '{}');
const artifacts = process.env.BROWSER_ARTIFACTS || 'browser-artifacts';
mkdirSync(artifacts, { recursive: true });

const violations = [];
let shot = 0;

/** A screenshot of `page` and its accessibility check, both named `name`. */
async function look(page, name) {
  shot += 1;
  await page.screenshot({
    path: join(artifacts, `${String(shot).padStart(2, '0')}-${name}.png`),
    fullPage: true,
  });
  await page.addScriptTag({ path: AXE });
  const found = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const result = await axe.run(document, { resultTypes: ['violations'] });
    return result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')) }));
  });
  for (const v of found) violations.push({ page: name, ...v });
}

async function walk(context) {
  const page = await context.newPage();
  const at = (path) => `${params.portal}${path}`;
  await page.goto(at('/'));
  await look(page, 'sign-in');
  await page.click('text=Create an account');
  await page.fill('#email', params.email);
  await page.fill('#password', params.password);
  await look(page, 'sign-up');
  await page.click('#sign-up');
  await page.waitForURL(at('/apps'));
  await look(page, 'applications-empty');

  await page.fill('#name', 'My first app');
  await page.click('#create-app');
  const key = (await page.textContent('#new-key')).trim();
  const appUrl = page.url();
  await look(page, 'application-new-key');
  await page.click('#new-api-key');
  const second = (await page.textContent('#new-key')).trim();
  await page.fill('#trusted_domains', 'https://app.example.com');
  await page.check('input[name="implicit_grant_enabled"]');
  await page.click('#save-app');
  await page.waitForSelector('text=Settings saved');
  await look(page, 'application-saved');
  await page.goto(at('/apps'));
  await look(page, 'applications');
  await page.goto(at('/account'));
  await look(page, 'account');

  await page.click('text=Sign out');
  await page.waitForURL(at('/login'));
  await page.fill('#email', params.email);
  await page.fill('#password', 'not the password');
  await page.click('#sign-in');
  await page.waitForSelector('.error');
  await look(page, 'wrong-password');
  const afterSignOut = await page.goto(appUrl);
  return { key, second, appUrl, signedOutLandsOn: afterSignOut.url() };
}

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
// The portal's CSP forbids injected scripts (tested over HTTP); axe-core needs one.
const context = await browser.newContext({ bypassCSP: true });
context.setDefaultTimeout(20000);
let out;
try {
  out = { ...(await walk(context)), violations };
} catch (e) {
  for (const [i, p] of context.pages().entries()) {
    await p.screenshot({ path: join(artifacts, `failure-${i}.png`), fullPage: true }).catch(() => {});
  }
  out = { failure: String(e && e.stack ? e.stack : e) };
}
await browser.close();
console.log(`RESULT ${JSON.stringify(out)}`);
