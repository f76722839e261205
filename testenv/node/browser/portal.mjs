// Walks the developer portal in Debian's Chromium (playwright-core) as a new developer
// would: sign up, create an application, copy its key, make a second key, change the
// settings; then what goes wrong: a form without its CSRF token, a wrong password, another
// developer's URL, sign-in throttled; signs in again and keeps the browser's cookies.
// `node portal.mjs return` comes back with those cookies after the server ended the
// session. Every page is screenshotted and checked with axe-core. Run by
// api/tests/api/browser.rs:
//
//   node portal.mjs [walk|return]
//        env BROWSER_PARAMS = {"portal": <base URL>, "email", "password", "other", "state",
//                              "appUrl" (return)}
//        and BROWSER_ARTIFACTS = a folder for screenshots
//
// `node portal.mjs webhooks-app|webhooks-add|webhooks-replay` walks the Webhooks tab in
// three steps, the test acting between them (params "appId", "receiver", "closed").
// `state` is the file the browser's cookies are kept in between runs. Prints one line
// `RESULT <json>`: what the pages showed, the serious or critical accessibility
// violations found (by page), or `{"failure": …}`.
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
    throttled,
  };
}

/** Comes back with the kept cookies: the ended session sends the browser to sign in. */
async function comeBack(browser) {
  const context = await browser.newContext({ bypassCSP: true, storageState: params.state });
  const page = await context.newPage();
  await page.goto(params.appUrl);
  const landsOn = page.url();
  const says = await page.textContent('main');
  await look(page, 'session-ended');
  await context.close();
  return { landsOn, says };
}

/**
 * The Webhooks tab in three steps, the test acting between them (the kept cookies carry
 * the session): `webhooks-app` signs up and makes an application; `webhooks-add` adds a URL
 * nobody answers (the failed ping shown), then the test's receiver; `webhooks-replay` shows
 * the dead deliveries and replays one, then all.
 */
async function webhooks(browser, step) {
  const kept = step === 'webhooks-app' ? {} : { storageState: params.state };
  const context = await browser.newContext({ bypassCSP: true, ...kept });
  context.setDefaultTimeout(20000);
  const page = await context.newPage();
  const submit = (selector) => Promise.all([page.waitForNavigation(), page.click(selector)]);
  let out;
  if (step === 'webhooks-app') {
    await page.goto(at('/signup'));
    await page.fill('#email', params.email);
    await page.fill('#password', params.password);
    await submit('#sign-up');
    await page.fill('#name', 'Hooked');
    await submit('#create-app');
    const key = (await page.textContent('#new-key')).trim();
    const appId = (await page.textContent('dl.facts dd code')).trim();
    out = { key, appId };
  } else if (step === 'webhooks-add') {
    await page.goto(at(`/apps/${params.appId}`));
    await submit('nav.tabs >> text=Webhooks');
    await look(page, 'webhooks-empty');
    await page.fill('#url', params.closed);
    await submit('#add-webhook');
    const failed = await page.textContent('#ping');
    await look(page, 'webhook-ping-failed');
    await page.fill('#url', params.receiver);
    await submit('#add-webhook');
    const passed = await page.textContent('#ping');
    await look(page, 'webhook-added');
    out = { failed, passed };
  } else {
    await page.goto(at(`/apps/${params.appId}/webhooks`));
    await page.selectOption('#state', 'dead');
    await submit('#filter');
    const dead = await page.locator('tr.delivery').count();
    await look(page, 'webhook-deliveries-dead');
    await submit('tr.delivery button:has-text("Replay")');
    const replayed = await page.textContent('.flash');
    await submit('#replay-all');
    const all = await page.textContent('.flash');
    await page.goto(at(`/apps/${params.appId}/webhooks`));
    await look(page, 'webhook-deliveries');
    out = { dead, replayed, all };
  }
  await context.storageState({ path: params.state });
  await context.close();
  return out;
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
  const step = process.argv[2] || 'walk';
  const done = step === 'return' ? await comeBack(browser)
    : step.startsWith('webhooks-') ? await webhooks(browser, step)
      : await walk(browser, context);
  out = { ...done, violations };
} catch (e) {
  for (const [i, p] of context.pages().entries()) {
    await p.screenshot({ path: join(artifacts, `failure-${i}.png`), fullPage: true }).catch(() => {});
  }
  out = { failure: String(e && e.stack ? e.stack : e) };
}
await browser.close();
console.log(`RESULT ${JSON.stringify(out)}`);
