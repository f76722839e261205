// Starts microsoft-onedrive-mock for one test: `node onedrive-mock.js PORT`.
//
// The emulator is used as published. In front of it sit a few routes, marked below, for
// what Microsoft Graph documents but the emulator lacks or gets wrong; the Cloudbridge
// tests say which of their checks rest on these additions rather than on the emulator:
//   - GET /v1.0/me/drive: the user's drive (the emulator only serves /me/drives).
//   - Path lookups and createUploadSession decode names twice in the emulator (a `%` in a
//     name fails): names are encoded once more before they reach it.
//   - POST .../children with "@microsoft.graph.conflictBehavior": "fail" answers 409
//     nameAlreadyExists when the name is taken (the emulator adds a duplicate).
//   - Upload sessions: the emulator finalises on the first PUT and drops the bytes; here
//     fragments are checked against Content-Range, kept, and the file appears after the
//     last one (202 with nextExpectedRanges before that); DELETE cancels a session.
//   - POST .../copy: the emulator answers a monitor URL that does not exist and copies
//     nothing; here the copy happens, reported by a monitor (no bearer token needed) that
//     says inProgress once, then completed with the new item's resourceId.
//   - The emulator keeps file bytes on its items and puts them in every item it answers
//     and in its change log (as JSON arrays: minutes for a few MiB); Graph never returns
//     them, so they are left out of answers and of the log.
//   - POST /debug/throttle {"seconds": n}: every Graph call answers 429 with
//     `Retry-After: n` until `{"seconds": 0}` (a test hook, not Graph).
//   - GET /v1.0/me/drive/root/delta: the emulator answers every change since a token in one
//     page and takes any token. Here (on the emulator's own change log, each item once at
//     its latest state, as the emulator does) pages hold at most `$top` items (default 200,
//     or what POST /debug/delta {"pageSize": n} sets) and link on with `@odata.nextLink`
//     until the last, which carries the `@odata.deltaLink`; `token=latest` answers no items
//     and the deltaLink of now; a token that is not one handed out answers 400, and one from
//     before POST /debug/delta {"expire": true} answers 410 `resyncRequired`, as Graph does
//     for a token it no longer knows (tokens count on from an offset the hook moves on).
//   - Search: `search(q='…')` on the root and on any folder (its subtree), paged with
//     `$top` and `@odata.nextLink`, matching names (the emulator's root search answers
//     every hit in one page and searches no folder).
//   - GET /debug/requests: how many requests were made so far, by `METHOD path` (a test
//     hook, not Graph: tests count the calls a listing takes).
//   - Sharing: the emulator's permissions routes are canned (one fixed answer whatever the
//     item). Here, written from Graph's `permission` reference (list, get, update, delete;
//     driveItem `invite` and `createLink`), each item's permissions are kept in memory
//     beside the emulator's store, keyed by its item ids (an item it does not have answers
//     404 `itemNotFound`). Every item starts with its owner, the drive's owner (roles
//     `owner`, `grantedToV2.user`). `invite` takes `recipients` by `email` and `roles`
//     `read` or `write` (a recipient invited again gets the new roles), answering one
//     permission per recipient with `grantedToV2.user.email` and `invitation.email`;
//     `createLink` makes (201) or returns (200) the item's link of a `type` (`view`, `edit`)
//     and `scope` (`anonymous`, `users`; `organization` is refused on this personal drive);
//     `PATCH` changes `roles` only; the owner's permission can be neither changed nor
//     deleted (403 `accessDenied`). Not emulated: passwords and expiry of links,
//     inherited permissions, invitation e-mails, `grant` on shares.
//   - GET /v1.0/me/drive: `quota.used` is the bytes of every file in the store (the
//     emulator has no drive resource; `total` is 5 GiB).
//   - GET /v1.0/me/drive/items/{id}/thumbnails: the emulator's answer is canned, with a URL
//     on a host that does not exist, for any item. Here an item has a thumbnail set only
//     when it is a PNG file: `small`, `medium` and `large` (96, 176, 800 pixels) and any
//     custom size `select` asks for (`c{w}x{h}`, scaled to fit), each with its own
//     pre-authorised URL (GET /thumbnail-content/{id}?size=n, which refuses a bearer
//     token as Graph's do not take one) serving a PNG made from the stored file
//     (testenv/node/thumbnail-png.js); other items have an empty set; a missing one is 404.
//   - Directory (an addition, written from Graph's `user`, `group` and `directoryObject`
//     references, for the Team API): the organisation's users and groups, set by
//     POST /debug/directory {"users": [{id, displayName, mail, userPrincipalName}],
//     "groups": [{id, displayName, mail, members: [user ids]}]} (a test hook, not Graph;
//     empty until then). GET /v1.0/users, /users/{id|userPrincipalName},
//     /users/{id}/memberOf (groups, `@odata.type` `#microsoft.graph.group`), /groups,
//     /groups/{id}, /groups/{id}/members (`#microsoft.graph.user`), each honouring `$select`
//     and `$top` (1 to 999, else 400) and paging on with `@odata.nextLink` (`$skiptoken`);
//     an unknown id answers 404 `Request_ResourceNotFound`. Not emulated: `$filter`,
//     `$search`, `$count`, `$orderby`, nested groups, owners.
//   - GET|PUT|POST|PATCH|DELETE /v1.0/users/{id}/drive/...: each directory user has a drive
//     of their own, a fresh instance of the emulator (its own store) that serves the
//     request as its `/v1.0/me/drive/...`. The additions above are made for the signed-in
//     user's drive only; a member's drive is the emulator as published.
'use strict';

const express = require('express');
const { createApp, driveStore } = require('microsoft-onedrive-mock');
const thumbnails = require('./thumbnail-png');

const port = parseInt(process.argv[2] || process.env.PORT || '0', 10);
const mock = createApp();
const app = express();
app.set('etag', false);

// --- Fix: bytes never inlined in items. ---
const withoutBytes = (item) => {
  if (!item || typeof item !== 'object' || !('content' in item)) return item;
  const { content, ...rest } = item;
  return rest;
};
const logChange = driveStore.addDeltaHistory.bind(driveStore);
driveStore.addDeltaHistory = (item) => logChange(withoutBytes(item));
app.use((req, res, next) => {
  const json = res.json.bind(res);
  res.json = (body) => {
    if (body && Array.isArray(body.value)) body = { ...body, value: body.value.map(withoutBytes) };
    return json(withoutBytes(body));
  };
  next();
});

// Requests so far by `METHOD path`, for tests counting calls (GET /debug/requests).
const requests = {};
app.get('/debug/requests', (req, res) => res.json(requests));
app.use((req, res, next) => {
  const key = `${req.method} ${req.path}`;
  requests[key] = (requests[key] || 0) + 1;
  next();
});

let throttle = 0;
app.post('/debug/throttle', express.json(), (req, res) => {
  throttle = Number(req.body.seconds) || 0;
  res.status(204).send();
});
app.use((req, res, next) => {
  if (throttle > 0 && req.path.startsWith('/v1.0/')) {
    res.set('Retry-After', String(throttle));
    return res.status(429).json({ error: { code: 'activityLimitReached', message: 'Throttled' } });
  }
  next();
});

// The same bearer tokens the emulator accepts.
const authorized = (req, res, next) => {
  const token = (req.headers.authorization || '').split(' ')[1];
  if (token !== 'valid-token' && token !== 'another-valid-token') {
    return res.status(401).json({ error: { code: 'InvalidAuthenticationToken', message: 'Unauthorized' } });
  }
  next();
};
const notFound = (res) => res.status(404).json({ error: { code: 'itemNotFound', message: 'Item not found' } });
const conflict = (res) => res.status(409).json({ error: { code: 'nameAlreadyExists', message: 'Name already exists' } });
const child = (parentId, name) => driveStore.getItemByName(parentId, name);

// --- Addition: paged delta with expiring tokens. ---
// Tokens are `offset + position in the change log`; expiring moves the offset on.
const delta = { pageSize: 200, offset: 0 };
app.post('/debug/delta', express.json(), (req, res) => {
  const body = req.body || {};
  if (body.pageSize) delta.pageSize = Number(body.pageSize);
  if (body.expire) delta.offset += 1000000;
  res.status(204).send();
});
app.get('/v1.0/me/drive/root/delta', (req, res, next) => {
  const token = (req.headers.authorization || '').split(' ')[1];
  if (token !== 'valid-token' && token !== 'another-valid-token') return next();
  const history = driveStore.deltaHistory;
  const base = `${req.protocol}://${req.headers.host}/v1.0/me/drive/root/delta`;
  const link = (at) => `${base}?token=${delta.offset + at}`;
  if (req.query.token === 'latest') {
    return res.json({ '@odata.deltaLink': link(history.length), value: [] });
  }
  const numeric = (v) => /^[0-9]+$/.test(v);
  if ((req.query.token !== undefined && !numeric(req.query.token)) || (req.query.end !== undefined && !numeric(req.query.end))) {
    return res.status(400).json({ error: { code: 'invalidRequest', message: 'Invalid delta token.' } });
  }
  const start = req.query.token === undefined ? 0 : Number(req.query.token) - delta.offset;
  if (start < 0) {
    return res.status(410).json({ error: { code: 'resyncRequired', message: 'Resync required. Replace any local items with the server\'s version (including deletes) if you\'re sure that the service was up to date with your local changes when you last sync\'d. Upload any local changes that the server doesn\'t know about.' } });
  }
  const end = req.query.end === undefined ? history.length : Number(req.query.end);
  const skip = Number(req.query.skip || 0);
  if (start > history.length || end < start || end > history.length) {
    return res.status(400).json({ error: { code: 'invalidRequest', message: 'Invalid delta token.' } });
  }
  const latest = new Map();
  for (const item of history.slice(start, end)) latest.set(item.id, item);
  const items = Array.from(latest.values());
  const size = Number(req.query.$top || delta.pageSize);
  const page = items.slice(skip, skip + size);
  const body = { '@odata.context': `${req.protocol}://${req.headers.host}/v1.0/$metadata#Collection(driveItem)`, value: page };
  if (skip + size < items.length) {
    body['@odata.nextLink'] = `${link(start)}&end=${end}&skip=${skip + size}&$top=${size}`;
  } else {
    body['@odata.deltaLink'] = link(end);
  }
  res.json(body);
});

// --- Addition: the user's drive, its quota counted from the store. ---
const TOTAL = 5368709120;
app.get('/v1.0/me/drive', authorized, (req, res) => {
  const used = driveStore.getAllItems()
    .filter((item) => item.file && !item.deleted)
    .reduce((sum, item) => sum + Number(item.size || 0), 0);
  res.json({
    id: 'b!default-mock-drive-id',
    driveType: 'personal',
    name: 'OneDrive',
    owner: { user: { id: 'user1', displayName: 'Mock User', email: 'mock.user@example.com' } },
    quota: { total: TOTAL, used, remaining: Math.max(0, TOTAL - used), deleted: 0, state: 'normal' },
  });
});

// --- Fix: thumbnails of PNG files, with URLs that serve them. ---
app.get('/v1.0/me/drive/items/:itemId/thumbnails', authorized, (req, res) => {
  const item = driveStore.getItem(req.params.itemId);
  if (!item) return notFound(res);
  const size = item.file && thumbnails.dimensions(item.content);
  if (!size) return res.json({ value: [] });
  const base = `${req.protocol}://${req.headers.host}/thumbnail-content/${encodeURIComponent(item.id)}`;
  const fit = (bound) => {
    const factor = Math.min(1, bound / Math.max(size.width, size.height));
    return {
      width: Math.max(1, Math.round(size.width * factor)),
      height: Math.max(1, Math.round(size.height * factor)),
      url: `${base}?size=${bound}`,
    };
  };
  const set = { id: '0', small: fit(96), medium: fit(176), large: fit(800) };
  for (const key of String(req.query.select || '').split(',')) {
    const custom = /^c(\d+)x(\d+)$/.exec(key.trim());
    if (custom) set[key.trim()] = fit(Math.min(Number(custom[1]), Number(custom[2]), 2048));
  }
  res.json({ value: [set] });
});
app.get('/thumbnail-content/:itemId', (req, res) => {
  if (req.headers.authorization) {
    return res.status(401).json({ error: { code: 'unauthenticated', message: 'Thumbnail URLs take no token' } });
  }
  const item = driveStore.getItem(req.params.itemId);
  const png = item && item.file && thumbnails.thumbnail(item.content, Number(req.query.size) || 176);
  if (!png) return notFound(res);
  res.set('Content-Type', 'image/png').send(png);
});

// --- Fix: names decoded once more by the emulator. ---
app.use((req, res, next) => {
  const m = req.url.match(/^(\/v1\.0\/me\/drive\/(?:items\/[^/:]+|root):\/)([^/?]+?)(:(?:\/createUploadSession)?)?(\?.*)?$/);
  if (m && (req.method === 'GET' || m[3] === ':/createUploadSession')) {
    req.url = m[1] + encodeURIComponent(m[2]) + (m[3] || '') + (m[4] || '');
  }
  next();
});

// --- Addition: conflictBehavior "fail" on folder creation. ---
app.post('/v1.0/me/drive/items/:parentId/children', authorized, express.json(), (req, res, next) => {
  const body = req.body || {};
  if (body['@microsoft.graph.conflictBehavior'] === 'fail' && child(req.params.parentId, body.name)) {
    return conflict(res);
  }
  next();
});

// --- Addition: upload sessions that keep the bytes. ---
const sessions = new Map();
app.post('/v1.0/me/drive/items/:parentId\\:/:name\\:/createUploadSession', authorized, express.json(), (req, res) => {
  const parentId = req.params.parentId;
  const name = decodeURIComponent(req.params.name);
  const parent = driveStore.getItem(parentId);
  if (!parent || !parent.folder) return notFound(res);
  const behavior = ((req.body || {}).item || {})['@microsoft.graph.conflictBehavior'] || 'replace';
  if (behavior === 'fail' && child(parentId, name)) return conflict(res);
  const id = Math.random().toString(36).slice(2);
  const expirationDateTime = new Date(Date.now() + 3600 * 1000).toISOString();
  sessions.set(id, { parentId, name, behavior, chunks: [], received: 0 });
  res.json({
    uploadUrl: `${req.protocol}://${req.headers.host}/v1.0/up/${id}`,
    expirationDateTime,
    nextExpectedRanges: ['0-'],
  });
});
app.put('/v1.0/up/:id', express.raw({ type: () => true, limit: '100mb' }), (req, res) => {
  const session = sessions.get(req.params.id);
  if (!session) return res.status(404).json({ error: { code: 'itemNotFound', message: 'Session not found' } });
  if (req.headers.authorization) {
    return res.status(401).json({ error: { code: 'unauthenticated', message: 'Upload URLs take no token' } });
  }
  const range = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(req.headers['content-range'] || '');
  const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  const [start, end, total] = range ? range.slice(1).map(Number) : [];
  if (!range || start !== session.received || end - start + 1 !== body.length || end >= total) {
    return res.status(416).json({ error: { code: 'invalidRange', message: 'Fragment does not fit' } });
  }
  session.chunks.push(body);
  session.received = end + 1;
  if (session.received < total) {
    return res.status(202).json({ nextExpectedRanges: [`${session.received}-`] });
  }
  sessions.delete(req.params.id);
  const content = Buffer.concat(session.chunks);
  const existing = child(session.parentId, session.name);
  if (existing && session.behavior === 'fail') return conflict(res);
  const mimeType = 'application/octet-stream';
  if (existing) {
    return res.status(200).json(driveStore.updateItem(existing.id, { content, file: { mimeType }, size: content.length }));
  }
  const item = driveStore.createItem({
    name: session.name, parentReference: { id: session.parentId }, content, file: { mimeType },
  });
  res.status(201).json(item);
});
app.delete('/v1.0/up/:id', (req, res) => {
  sessions.delete(req.params.id);
  res.status(204).send();
});

// --- Addition: asynchronous copy with a monitor. ---
const copyTree = (item, parentId, name) => {
  const fields = { name, parentReference: { id: parentId } };
  if (item.folder) {
    const copy = driveStore.createItem(fields, true);
    for (const c of driveStore.listItems(item.id)) copyTree(c, copy.id, c.name);
    return copy;
  }
  return driveStore.createItem({ ...fields, content: item.content, file: { mimeType: item.file.mimeType } });
};
const jobs = new Map();
app.post('/v1.0/me/drive/items/:id/copy', authorized, express.json(), (req, res) => {
  const item = driveStore.getItem(req.params.id);
  if (!item) return notFound(res);
  const body = req.body || {};
  const parentId = (body.parentReference || {}).id || item.parentReference.id;
  const name = body.name || item.name;
  const parent = driveStore.getItem(parentId);
  if (!parent || !parent.folder) return notFound(res);
  if (child(parentId, name)) return conflict(res);
  const job = Math.random().toString(36).slice(2);
  jobs.set(job, { item: item.id, parentId, name, polls: 0 });
  res.set('Location', `${req.protocol}://${req.headers.host}/v1.0/monitor/${job}`);
  res.status(202).send();
});
app.get('/v1.0/monitor/:job', (req, res) => {
  const job = jobs.get(req.params.job);
  if (!job) return notFound(res);
  job.polls += 1;
  if (job.polls === 1) {
    return res.status(202).json({ operation: 'itemCopy', percentageComplete: 50, status: 'inProgress' });
  }
  if (!job.resourceId) {
    const source = driveStore.getItem(job.item);
    if (!source || child(job.parentId, job.name)) {
      job.failed = true;
    } else {
      job.resourceId = copyTree(source, job.parentId, job.name).id;
    }
  }
  if (job.failed) {
    return res.status(200).json({ operation: 'itemCopy', status: 'failed', error: { code: 'nameAlreadyExists' } });
  }
  res.status(200).json({ operation: 'itemCopy', percentageComplete: 100, status: 'completed', resourceId: job.resourceId });
});

// --- Addition: stateful permissions (invite, createLink, update, delete). ---
const OWNER = { id: 'user1', displayName: 'Mock User', email: 'mock.user@example.com' };
const shares = new Map();
const newPermissionId = () => `perm-${Math.random().toString(36).slice(2, 12)}`;
const badRequest = (res, message) => res.status(400).json({ error: { code: 'invalidRequest', message } });
const accessDenied = (res, message) => res.status(403).json({ error: { code: 'accessDenied', message } });
const GRAPH_ROLES = ['read', 'write'];
function sharesOf(req, res, next) {
  const id = req.params.id;
  if (!driveStore.getItem(id)) return notFound(res);
  if (!shares.has(id)) shares.set(id, [{ id: `owner-${OWNER.id}`, roles: ['owner'], grantedToV2: { user: { ...OWNER } }, grantedTo: { user: { ...OWNER } } }]);
  req.shares = shares.get(id);
  if (req.params.permId) {
    req.permission = req.shares.find((p) => p.id === req.params.permId);
    if (!req.permission) return notFound(res);
  }
  next();
}
const ITEM = '/v1.0/me/drive/items/:id';
app.get(`${ITEM}/permissions`, authorized, sharesOf, (req, res) => res.json({ value: req.shares }));
app.get(`${ITEM}/permissions/:permId`, authorized, sharesOf, (req, res) => res.json(req.permission));
app.patch(`${ITEM}/permissions/:permId`, authorized, express.json(), sharesOf, (req, res) => {
  const body = req.body || {};
  if (req.permission.roles.includes('owner')) return accessDenied(res, "The owner's permission cannot be changed.");
  if (Object.keys(body).some((k) => k !== 'roles')) return badRequest(res, 'Only roles can be updated.');
  if (!Array.isArray(body.roles) || body.roles.length !== 1 || !GRAPH_ROLES.includes(body.roles[0])) return badRequest(res, 'Invalid roles.');
  req.permission.roles = body.roles;
  if (req.permission.link) req.permission.link.type = body.roles[0] === 'write' ? 'edit' : 'view';
  res.json(req.permission);
});
app.delete(`${ITEM}/permissions/:permId`, authorized, sharesOf, (req, res) => {
  if (req.permission.roles.includes('owner')) return accessDenied(res, "The owner's permission cannot be deleted.");
  req.shares.splice(req.shares.indexOf(req.permission), 1);
  res.status(204).send();
});
app.post(`${ITEM}/invite`, authorized, express.json(), sharesOf, (req, res) => {
  const body = req.body || {};
  const recipients = body.recipients;
  if (!Array.isArray(recipients) || recipients.length === 0) return badRequest(res, 'recipients is required.');
  if (!Array.isArray(body.roles) || body.roles.length !== 1 || !GRAPH_ROLES.includes(body.roles[0])) return badRequest(res, 'Invalid roles.');
  const value = [];
  for (const r of recipients) {
    const email = typeof (r || {}).email === 'string' ? r.email.toLowerCase() : '';
    if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) return badRequest(res, 'Invalid recipient.');
    if (email === OWNER.email) return badRequest(res, 'The owner already has access.');
    let permission = req.shares.find((p) => p.invitation && p.invitation.email === email);
    if (permission) {
      permission.roles = body.roles;
    } else {
      const user = { email };
      permission = { id: newPermissionId(), roles: body.roles, grantedToV2: { user }, grantedTo: { user }, invitation: { email, signInRequired: body.requireSignIn !== false } };
      req.shares.push(permission);
    }
    value.push(permission);
  }
  res.json({ value });
});
app.post(`${ITEM}/createLink`, authorized, express.json(), sharesOf, (req, res) => {
  const body = req.body || {};
  if (!['view', 'edit'].includes(body.type)) return badRequest(res, 'Invalid link type.');
  const scope = body.scope || 'anonymous';
  if (!['anonymous', 'users'].includes(scope)) return badRequest(res, 'This link scope is not available on this drive.');
  const existing = req.shares.find((p) => p.link && p.link.type === body.type && p.link.scope === scope);
  if (existing) return res.status(200).json(existing);
  const id = newPermissionId();
  const permission = {
    id, roles: [body.type === 'edit' ? 'write' : 'read'], shareId: `s!${id}`,
    link: { type: body.type, scope, webUrl: `${req.protocol}://${req.headers.host}/share/${id}` },
  };
  req.shares.push(permission);
  res.status(201).json(permission);
});

// --- Addition: the organisation's directory (Team API) and the drives of its users. ---
const directory = { users: [], groups: [] };
app.post('/debug/directory', express.json(), (req, res) => {
  directory.users = (req.body && req.body.users) || [];
  directory.groups = (req.body && req.body.groups) || [];
  res.status(204).send();
});
const resourceNotFound = (res, id) => res.status(404).json({
  error: { code: 'Request_ResourceNotFound', message: `Resource '${id}' does not exist or one of its queried reference-property objects are not present.` },
});
const userObject = (u) => ({ '@odata.type': '#microsoft.graph.user', businessPhones: [], createdDateTime: '2024-01-01T00:00:00Z', ...u });
const groupObject = (g) => {
  const { members, ...rest } = g;
  return { '@odata.type': '#microsoft.graph.group', securityEnabled: true, ...rest };
};
const findUser = (key) => directory.users.find((u) => u.id === key
  || (u.userPrincipalName || '').toLowerCase() === String(key).toLowerCase());
const findGroup = (id) => directory.groups.find((g) => g.id === id);
// `$select` keeps the named properties (and `@odata.type`, `id`).
const selected = (req, obj) => {
  const select = req.query.$select;
  if (!select) return obj;
  const keep = new Set(String(select).split(',').map((s) => s.trim()).concat(['@odata.type', 'id']));
  return Object.fromEntries(Object.entries(obj).filter(([k]) => keep.has(k)));
};
// One page of `all` by `$top` and `$skiptoken`, linking on with `@odata.nextLink`.
const directoryPage = (req, res, all) => {
  const top = req.query.$top === undefined ? 100 : Number(req.query.$top);
  if (!Number.isInteger(top) || top < 1 || top > 999) {
    return res.status(400).json({ error: { code: 'Request_UnsupportedQuery', message: 'Invalid page size specified.' } });
  }
  const from = req.query.$skiptoken === undefined ? 0 : Number(req.query.$skiptoken);
  if (!Number.isInteger(from) || from < 0) {
    return res.status(400).json({ error: { code: 'Directory_InvalidSkipToken', message: 'The skip token is invalid.' } });
  }
  const body = { '@odata.context': `https://graph.microsoft.com/v1.0/$metadata#directoryObjects`, value: all.slice(from, from + top).map((o) => selected(req, o)) };
  if (from + top < all.length) {
    const next = new URL(`${req.protocol}://${req.headers.host}${req.path}`);
    for (const [k, v] of Object.entries(req.query)) if (k !== '$skiptoken') next.searchParams.set(k, v);
    next.searchParams.set('$skiptoken', String(from + top));
    body['@odata.nextLink'] = next.toString();
  }
  res.json(body);
};
app.get('/v1.0/users', authorized, (req, res) => directoryPage(req, res, directory.users.map(userObject)));
app.get('/v1.0/users/:id', authorized, (req, res) => {
  const u = findUser(req.params.id);
  return u ? res.json(selected(req, userObject(u))) : resourceNotFound(res, req.params.id);
});
app.get('/v1.0/users/:id/memberOf', authorized, (req, res) => {
  const u = findUser(req.params.id);
  if (!u) return resourceNotFound(res, req.params.id);
  directoryPage(req, res, directory.groups.filter((g) => (g.members || []).includes(u.id)).map(groupObject));
});
app.get('/v1.0/groups', authorized, (req, res) => directoryPage(req, res, directory.groups.map(groupObject)));
app.get('/v1.0/groups/:id', authorized, (req, res) => {
  const g = findGroup(req.params.id);
  return g ? res.json(selected(req, groupObject(g))) : resourceNotFound(res, req.params.id);
});
app.get('/v1.0/groups/:id/members', authorized, (req, res) => {
  const g = findGroup(req.params.id);
  if (!g) return resourceNotFound(res, req.params.id);
  directoryPage(req, res, (g.members || []).map(findUser).filter(Boolean).map(userObject));
});
// Each user's drive: a fresh instance of the emulator (its module loaded anew, so with a
// store of its own), answering as its `/v1.0/me/drive`.
const memberDrives = {};
const freshEmulator = () => {
  for (const key of Object.keys(require.cache)) {
    if (key.includes(`${require('path').sep}microsoft-onedrive-mock${require('path').sep}`)) delete require.cache[key];
  }
  return require('microsoft-onedrive-mock').createApp();
};
app.use('/v1.0/users/:id/drive', authorized, (req, res, next) => {
  const u = findUser(req.params.id);
  if (!u) return resourceNotFound(res, req.params.id);
  if (!memberDrives[u.id]) memberDrives[u.id] = freshEmulator();
  req.url = `/v1.0/me/drive${req.url === '/' ? '' : req.url}`;
  return memberDrives[u.id](req, res, next);
});

// --- Addition: search, paged, on the root and below any folder. ---
// Graph's driveItem `search(q='…')` on `/me/drive/root` and `/me/drive/items/{id}` (the
// folder's whole subtree), as its reference documents it: `q` an OData string (quotes
// doubled), `$top` per page (default 200), `@odata.nextLink` while there is more. Graph
// matches names, contents and metadata; here names only, ignoring case, in the order the
// items were made. The emulator's own root search answers every hit in one page and
// searches no folder. A folder it does not have is 404.
const SEARCH = /^\/v1\.0\/me\/drive\/(?:root|items\/([^/]+))\/search\(q='(.*)'\)$/;
app.get(SEARCH, authorized, (req, res) => {
  const match = SEARCH.exec(req.path);
  const folder = match[1] === undefined ? 'root' : decodeURIComponent(match[1]);
  const text = decodeURIComponent(match[2]).replace(/''/g, "'").toLowerCase();
  if (folder !== 'root' && !driveStore.getItem(folder)) return notFound(res);
  const below = (item) => {
    let at = item.parentReference && item.parentReference.id;
    for (let depth = 0; at && depth < 1000; depth += 1) {
      if (at === folder) return true;
      if (at === 'root') return false;
      const parent = driveStore.getItem(at);
      at = parent && parent.parentReference && parent.parentReference.id;
    }
    return false;
  };
  const hits = driveStore.getAllItems().filter((item) =>
    item.id !== 'root' && !item.deleted && (item.name || '').toLowerCase().includes(text) && below(item));
  const top = Math.min(Math.max(parseInt(req.query.$top || '200', 10) || 200, 1), 1000);
  const skip = /^[0-9]+$/.test(req.query.$skiptoken || '') ? Number(req.query.$skiptoken) : 0;
  const body = { value: hits.slice(skip, skip + top) };
  if (skip + top < hits.length) {
    body['@odata.nextLink'] = `${req.protocol}://${req.headers.host}${req.path}?$top=${top}&$skiptoken=${skip + top}`;
  }
  res.json(body);
});

app.use(mock);
const server = app.listen(port, '127.0.0.1', () => {
  console.log(`onedrive-mock listening on ${server.address().port}`);
});
