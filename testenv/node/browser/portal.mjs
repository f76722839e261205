// Walks the developer portal in Debian's Chromium (playwright-core) as a developer would,
// in phases that the Rust test (api/tests/api/browser.rs) runs one after another, doing
// between them what happens elsewhere (deliveries failing, then succeeding; the session
// ending at the server). The browser's cookies are kept in `state` between phases.
//
//   node portal.mjs walk     sign up, an application, its keys, settings, a redirect URI,
//                            an account connected from the Accounts tab; what goes wrong: a
//                            form without its CSRF token, a wrong password, another
//                            developer's URL, sign-in throttled; signs in again
//   node portal.mjs hooks    a webhook nobody answers (its failed ping shown), then one
//                            against the test's receiver (its ping passes)
//   node portal.mjs replay   the dead deliveries shown, one replayed, then all
//   node portal.mjs last     the delivery delivered, the account's events, usage charts,
//                            upload locations, service keys, the API reference; as an
//                            admin, the developers (one invited) and the system status
//   node portal.mjs return   the session ended at the server: sent to sign in; signs in and
//                            out
//
//   env BROWSER_PARAMS = {"portal": <base URL>, "email", "password", "other", "state",
//                         "redirect", "webdav": {form fields}, "appUrl", "receiver",
//                         "closed" (a URL nobody answers), "account", "invited"}
//       BROWSER_ARTIFACTS = a folder for screenshots
//
// Every page is screenshotted and checked with axe-core. Prints one line `RESULT <json>`:
// what the pages showed, the serious or critical accessibility violations found (by
// page), or `{"failure": …}`.
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

const at = (path) => `${params.portal}${path}`;

/** Signs in on `page` as `email` with `password`. */
async function signIn(page, email, password) {
  await page.goto(at('/login'));
  await page.fill('#email', email);
  await page.fill('#password', password);
  await page.click('#sign-in');
}

async function walk(browser, context) {
  const page = await context.newPage();
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
  // The page was the answer to a POST: its address is the Overview tab's.
  const appUrl = at(await page.getAttribute('nav.tabs a[aria-current="page"]', 'href'));
  await look(page, 'application-new-key');
  await page.click('#new-api-key');
  const second = (await page.textContent('#new-key')).trim();
  await page.fill('#trusted_domains', 'https://app.example.com');
  await page.check('input[name="implicit_grant_enabled"]');
  await page.click('#save-app');
  await page.waitForSelector('text=Settings saved');
  await look(page, 'application-saved');

  // A redirect URI, then an account connected from the Accounts tab (WebDAV, by its form,
  // on the API's own connect page).
  await page.fill('#redirect_uris', params.redirect);
  await page.click('#save-redirect-uris');
  await page.waitForSelector('text=Redirect URIs saved');
  await page.goto(`${appUrl}/accounts`);
  await look(page, 'accounts-empty');
  await page.click('#connect-account');
  await page.waitForLoadState();
  await look(page, 'connect-chooser');
  await page.click('button[name="service"][value="webdav"]');
  await page.waitForLoadState();
  for (const [name, value] of Object.entries(params.webdav)) {
    await page.fill(`[name="${name}"]`, String(value));
  }
  await look(page, 'connect-credentials');
  await page.click('#connect');
  await page.waitForURL((url) => url.href.startsWith(params.redirect));
  await page.goto(`${appUrl}/accounts`);
  const accountsShown = await page.textContent('main');
  await look(page, 'accounts');
  await page.goto(at('/apps'));
  await look(page, 'applications');
  await page.goto(at('/account'));
  await look(page, 'account');

  // A form posted without its CSRF token is refused and changes nothing.
  await page.goto(appUrl);
  await page.evaluate(() => {
    document.querySelector('#save-app').form.querySelector('input[name="csrf"]').remove();
  });
  await page.fill('#name', 'Renamed without a token');
  const refused = await Promise.all([page.waitForNavigation(), page.click('#save-app')]);
  const csrfStatus = refused[0].status();
  await look(page, 'csrf-missing');

  await page.goto(appUrl);
  await page.click('text=Sign out');
  await page.waitForURL(at('/login'));
  await signIn(page, params.email, 'not the password');
  await page.waitForSelector('.error');
  await look(page, 'wrong-password');
  const afterSignOut = await page.goto(appUrl);
  const signedOutLandsOn = afterSignOut.url();

  // Another developer sees nothing of the first one's.
  const stranger = await browser.newContext({ bypassCSP: true });
  const theirs = await stranger.newPage();
  await theirs.goto(at('/signup'));
  await theirs.fill('#email', params.other);
  await theirs.fill('#password', params.password);
  await theirs.click('#sign-up');
  await theirs.waitForURL(at('/apps'));
  const strangerSees = (await theirs.goto(appUrl)).status();
  await look(theirs, 'another-developers-application');
  await theirs.click('text=Sign out');
  // Guessing their password is throttled: the form says how long to wait.
  let guesses = 0;
  let throttled = null;
  while (guesses < 12 && throttled === null) {
    guesses += 1;
    await signIn(theirs, params.other, `guess number ${guesses}`);
    const said = await theirs.textContent('.error');
    if (said.includes('Too many attempts')) throttled = said;
  }
  await look(theirs, 'sign-in-throttled');
  await stranger.close();

  // Signed in again; the cookies are kept for `return`.
  await signIn(page, params.email, params.password);
  await page.waitForURL(at('/apps'));
  await context.storageState({ path: params.state });
  const csrfKeptName = (await page.textContent('main')).includes('Renamed without a token');
  return {
    key, second, appUrl, signedOutLandsOn, csrfStatus, csrfKeptName, strangerSees, guesses,
    throttled, accountsShown,
  };
}

/** A page of a context with the kept cookies; `phase` keeps them again when it is done. */
async function resumed(browser, phase) {
  const context = await browser.newContext({ bypassCSP: true, storageState: params.state });
  context.setDefaultTimeout(20000);
  const page = await context.newPage();
  try {
    return await phase(page);
  } finally {
    await context.storageState({ path: params.state });
    await context.close();
  }
}

/** Clicks `selector` on `page` and waits for the page it leads to. */
const submit = (page, selector) => Promise.all([page.waitForNavigation(), page.click(selector)]);

/**
 * Adds a URL nobody answers (the failed ping shown), then the test's receiver (its ping
 * passes).
 */
async function hooks(page) {
  await page.goto(params.appUrl);
  await submit(page, 'nav.tabs >> text=Webhooks');
  await look(page, 'webhooks-empty');
  await page.fill('#url', params.closed);
  await submit(page, '#add-webhook');
  const failed = await page.textContent('#ping');
  await look(page, 'webhook-ping-failed');
  await page.fill('#url', params.receiver);
  await submit(page, '#add-webhook');
  const ping = await page.textContent('#ping');
  await look(page, 'webhook-added');
  return { failed, ping };
}

/** The dead deliveries (filtered), one replayed, then all. */
async function replay(page) {
  await page.goto(`${params.appUrl}/webhooks`);
  await page.selectOption('#state', 'dead');
  await submit(page, '#filter');
  const dead = await page.locator('tr.delivery').count();
  await look(page, 'deliveries-dead');
  await submit(page, 'tr.delivery button:has-text("Replay")');
  const replayed = await page.textContent('.flash');
  await look(page, 'delivery-replayed');
  await submit(page, '#replay-all');
  const all = await page.textContent('.flash');
  return { dead, replayed, all };
}

/** What the worker did since: delivered; and the other pages of the application. */
async function last(page) {
  await page.goto(`${params.appUrl}/webhooks`);
  const log = await page.textContent('#log');
  await look(page, 'deliveries');
  await page.goto(`${params.appUrl}/accounts`);
  await page.click(`tbody a[href$="/accounts/${params.account}/events"]`);
  await page.waitForLoadState();
  const events = await page.locator('table.events tbody tr').count();
  await look(page, 'account-events');
  await page.goto(`${params.appUrl}/usage`);
  const charts = await page.locator('main svg.chart').count();
  const requestBars = await page.locator('#chart-requests svg rect').count();
  const usage = await page.textContent('main');
  await look(page, 'usage');
  await page.goto(`${params.appUrl}/upload_locations`);
  await look(page, 'upload-locations');
  await page.goto(`${params.appUrl}/services`);
  await look(page, 'service-keys');
  await page.click('text=API reference');
  await page.waitForLoadState();
  const reference = await page.locator('main').textContent();
  await look(page, 'api-reference');
  // Made an appliance admin by the test: the admin pages, a developer invited.
  await page.goto(at('/apps'));
  await submit(page, 'nav >> text=Admin');
  await look(page, 'admin-developers');
  await page.fill('#email', params.invited);
  await submit(page, '#invite');
  const invitation = (await page.textContent('#new-link')).trim();
  await look(page, 'admin-invited');
  await page.goto(at('/admin/status'));
  const status = await page.textContent('main');
  await look(page, 'admin-status');
  return {
    log, events, charts, requestBars, usage, invitation, status,
    referenceMentions: reference.includes('/storage/folders/'),
  };
}

/** Comes back after the session ended at the server: sent to sign in; signs in, then out. */
async function comeBack(page) {
  await page.goto(params.appUrl);
  const landsOn = page.url();
  const says = await page.textContent('main');
  await look(page, 'session-ended');
  await page.fill('#email', params.email);
  await page.fill('#password', params.password);
  await page.click('#sign-in');
  await page.waitForURL(at('/apps'));
  await page.click('text=Sign out');
  await page.waitForURL(at('/login'));
  await look(page, 'signed-out');
  const afterSignOut = (await page.goto(params.appUrl)).url();
  return { landsOn, says, afterSignOut };
}

const PHASES = { hooks, replay, last, return: comeBack };

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
  const phase = PHASES[process.argv[2]];
  const done = phase ? await resumed(browser, phase) : await walk(browser, context);
  out = { ...done, violations };
} catch (e) {
  for (const [i, p] of context.pages().entries()) {
    await p.screenshot({ path: join(artifacts, `failure-${i}.png`), fullPage: true }).catch(() => {});
  }
  out = { failure: String(e && e.stack ? e.stack : e) };
}
await browser.close();
console.log(`RESULT ${JSON.stringify(out)}`);
