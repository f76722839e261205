// Google Drive API v3 for the Cloudbridge tests: `node gdrive-mock.js PORT`.
//
// The server is google-drive-mock 1.2 (pinned in package-lock.json): files, queries, paging,
// folders, addParents/removeParents, trash, alt=media, about, changes, bearer `valid-token`.
// In front of it sits a thin layer of ours for what the mock lacks or gets wrong, written
// from Google's published upload documentation and kept on the mock's own store:
//
// - `uploadType=multipart` (create: POST, replace contents: PATCH /upload/.../{id}): the mock
//   decodes the body as UTF-8 text (binary bytes are mangled) and stops at 100 KB; ours
//   splits the multipart/related body as bytes.
// - `uploadType=resumable`: the mock has none. Ours opens a session (200 + Location), takes
//   chunks with `Content-Range: bytes a-b/total|*` (all but the last a multiple of 256 KiB),
//   answers 308 with `Range: bytes=0-n` until complete, `bytes */total` asks or finishes.
// - `POST /drive/v3/files/{id}/copy`: the mock only has v2's copy.
// - `GET /drive/v3/files/root`: the mock has no `root` alias; here it is My Drive's root
//   folder (id `root`, the parent id the mock gives items made in `root`).
// - `GET /drive/v3/changes` (and `changes/startPageToken`, for the tokens' numbering): the
//   mock answers every change since a token in one page and
//   takes any token (garbage reads from the start). Here, on the mock's own change log
//   (one entry per write, the file as it was then), pages hold at most `pageSize` changes
//   (default 100, at most 1000, or fewer after POST /debug/changes {"pageSize": n}) with a
//   `nextPageToken` until the last, which carries `newStartPageToken`; a token that is not
//   one handed out, or one from before POST /debug/changes {"expire": true}, answers 400
//   `invalid` on `pageToken` ("Invalid Value"), as Drive does for a token it does not take.
// - Searches by name, `files.list` with `q = name contains '<text>' and trashed = false`
//   (what Cloudbridge sends): the mock matches `contains` as a case-sensitive substring;
//   Drive's query reference says it matches, ignoring case, a name that starts with the
//   text or has a word that does ("HelloWorld" for 'Hello', not for 'World'). Here a name
//   matches when the text, ignoring case, starts it or starts one of its words (split at
//   anything but letters and digits); `orderBy=folder,name`, `pageSize` (default 100, at
//   most 1000) and `pageToken` page as the mock's other listings do.
// - GET /debug/requests: how many requests were made so far, by `METHOD path` (a test hook:
//   tests count the calls a listing takes).
// - `/drive/v3/files/{id}/permissions[/{permissionId}]`: the mock has no sharing. Ours is
//   written from Google's Drive v3 `permissions` reference: list (`pageSize` ≤ 100,
//   `pageToken`, `nextPageToken`), create, get, update (`role`) and delete, kept in memory
//   beside the mock's store and keyed by its file ids (a file the mock does not have answers
//   404 `notFound`; `root` is My Drive). Every item starts with its owner, the mock's user
//   (`about.user`: role `owner`, id its `permissionId`). Types `user`, `group` (with
//   `emailAddress`), `domain` (with `domain`) and `anyone`; roles `owner`, `organizer`,
//   `fileOrganizer`, `writer`, `commenter`, `reader`. Ids are stable per grantee, as Drive's
//   are (a second create for the same grantee updates its role). Refused as Drive does: a
//   bad type or role or a missing address (400 `invalid`), `sendNotificationEmail` on a
//   domain or anyone permission (400 `invalidSharingRequest`), an `owner` without
//   `transferOwnership=true`, and changing or deleting the owner's permission (403
//   `forbidden`), an unknown permission id (404 `notFound`). Not emulated: ownership
//   transfer, expiration times, shared drives, inherited permissions, notification e-mails.
// - `GET /drive/v3/about`: the mock's `storageQuota` is fixed at zero use; here `usage` is
//   the bytes of every file in the store (trash included, as Drive counts it),
//   `usageInDriveTrash` those in the trash, `limit` the mock's own.
// - Thumbnails: a file resource asked for `hasThumbnail` or `thumbnailLink` (the mock
//   knows neither) says whether the file has one, PNG files only, and links to
//   `GET /thumbnails/{id}=s<pixels>` (the link's size suffix, as Drive's links have),
//   which takes the bearer token, as Drive's links to private files do, and serves a PNG
//   made from the stored file (testenv/node/thumbnail-png.js), at most that size a side.
//
// - Directory API (`/admin/directory/v1`, an addition written from the Admin SDK's
//   Directory API reference, for the Team API): the Workspace's users and groups, set by
//   POST /debug/directory {"users": [{id, primaryEmail, name: {fullName}, isAdmin}],
//   "groups": [{id, email, name, members: [{id, role}]}]} (a test hook, not Google's; empty
//   until then). `GET users?customer=my_customer` (`maxResults` 1 to 500, `pageToken`,
//   `nextPageToken`, `orderBy=email`), `users/{id|primaryEmail}`,
//   `groups?customer=my_customer` or `groups?userKey=` (a user's groups; `maxResults` 1 to
//   200), `groups/{id|email}`, `groups/{key}/members` (`role` OWNER, MANAGER or MEMBER,
//   `type` USER; 1 to 200); an unknown key answers 404 `notFound`, a list without
//   `customer`, `domain` or `userKey` 400 `badRequest`, as the reference says. Not
//   emulated: `query`, `domain`, projections, custom schemas, nested groups' expansion.
//
// Not emulated (the mock answers 200 with the whole file): `Range` on alt=media downloads.
'use strict';

const express = require('express');
const crypto = require('crypto');
const { createApp } = require('google-drive-mock');
const { driveStore } = require('google-drive-mock/dist/store');
const { toV3File } = require('google-drive-mock/dist/mappers');
const thumbnails = require('./thumbnail-png');

const port = Number(process.argv[2]);
const CHUNK_UNIT = 256 * 1024;
const app = express();
const sessions = new Map();

const fail = (res, code, message, reason) =>
  res.status(code).json({ error: { code, message, errors: [{ domain: 'global', reason, message }] } });

// Requests so far by `METHOD path`, for tests counting calls (GET /debug/requests).
const requests = {};
app.get('/debug/requests', (req, res) => res.json(requests));
app.use((req, res, next) => {
  const key = `${req.method} ${req.path}`;
  requests[key] = (requests[key] || 0) + 1;
  next();
});

// Same tokens as the mock.
const authorized = (req, res, next) => {
  const token = (req.headers.authorization || '').split(' ')[1];
  if (token === 'valid-token' || token === 'another-valid-token') return next();
  fail(res, 401, 'Invalid Credentials', 'authError');
};
const raw = express.raw({ type: () => true, limit: '64mb' });

// The two parts of a multipart/related body: JSON metadata, then the media bytes.
function related(req) {
  const boundary = /boundary="?([^";]+)"?/.exec(req.headers['content-type'] || '');
  if (!boundary || !Buffer.isBuffer(req.body)) return null;
  const body = req.body;
  const delimiter = Buffer.from(`--${boundary[1]}`);
  const parts = [];
  let at = body.indexOf(delimiter);
  while (at !== -1) {
    const start = at + delimiter.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const next = body.indexOf(delimiter, start);
    if (next === -1) return null;
    const part = body.subarray(start + 2, next - 2); // after CRLF, before CRLF
    const split = part.indexOf('\r\n\r\n');
    if (split === -1) return null;
    parts.push(part.subarray(split + 4));
    at = next;
  }
  if (parts.length !== 2) return null;
  try {
    return { metadata: JSON.parse(parts[0].toString('utf8') || '{}'), content: parts[1] };
  } catch (e) {
    return null;
  }
}

// Creates (no `fileId`) or updates a file with `content`; answers its resource.
function store(res, fileId, metadata, content) {
  const fields = { ...metadata, content };
  if (!fileId) {
    fields.mimeType = fields.mimeType || 'application/octet-stream';
    return res.status(200).json(toV3File(driveStore.createFile(fields)));
  }
  const updated = driveStore.updateFile(fileId, fields);
  if (!updated) return fail(res, 404, `File not found: ${fileId}.`, 'notFound');
  res.status(200).json(toV3File(updated));
}

function upload(req, res, next) {
  const fileId = req.params.fileId;
  if (fileId && !driveStore.getFile(fileId)) {
    return fail(res, 404, `File not found: ${fileId}.`, 'notFound');
  }
  if (req.query.uploadType === 'multipart') {
    const parsed = related(req);
    if (!parsed) return fail(res, 400, 'Malformed multipart body.', 'badContent');
    return store(res, fileId, parsed.metadata, parsed.content);
  }
  if (req.query.uploadType === 'resumable' && !req.query.upload_id) {
    let metadata = {};
    if (req.body.length) {
      try {
        metadata = JSON.parse(req.body.toString('utf8'));
      } catch (e) {
        return fail(res, 400, 'Invalid JSON metadata.', 'parseError');
      }
    }
    const header = req.headers['x-upload-content-length'];
    const id = crypto.randomBytes(12).toString('hex');
    sessions.set(id, { fileId, metadata, total: header === undefined ? null : Number(header), chunks: [], received: 0 });
    res.set('Location', `http://${req.headers.host}/upload/drive/v3/files?uploadType=resumable&upload_id=${id}`);
    return res.status(200).end();
  }
  next();
}

function chunk(req, res) {
  const session = sessions.get(req.query.upload_id);
  if (!session) return fail(res, 404, 'No such upload session.', 'notFound');
  const range = /^bytes (?:(\d+)-(\d+)|\*)\/(\d+|\*)$/.exec(req.headers['content-range'] || '');
  if (!range) return fail(res, 400, 'Invalid Content-Range.', 'badContent');
  if (range[3] !== '*') {
    const total = Number(range[3]);
    if (session.total !== null && session.total !== total) {
      return fail(res, 400, 'The total size changed.', 'badContent');
    }
    session.total = total;
  }
  if (range[1] !== undefined) {
    const [first, last] = [Number(range[1]), Number(range[2])];
    const final = session.total !== null && last + 1 === session.total;
    if (first !== session.received || last - first + 1 !== req.body.length) {
      return fail(res, 400, 'The chunk does not continue the upload.', 'badContent');
    }
    if (!final && req.body.length % CHUNK_UNIT !== 0) {
      return fail(res, 400, 'Chunks must be multiples of 256 KiB.', 'badContent');
    }
    session.chunks.push(Buffer.from(req.body));
    session.received += req.body.length;
  }
  if (session.total !== null && session.received === session.total) {
    sessions.delete(req.query.upload_id);
    return store(res, session.fileId, session.metadata, Buffer.concat(session.chunks));
  }
  if (session.total !== null && session.received > session.total) {
    return fail(res, 400, 'More bytes than announced.', 'badContent');
  }
  if (session.received > 0) res.set('Range', `bytes=0-${session.received - 1}`);
  res.status(308).end();
}

function copy(req, res) {
  const source = driveStore.getFile(req.params.fileId);
  if (!source) return fail(res, 404, `File not found: ${req.params.fileId}.`, 'notFound');
  const { id, createdTime, modifiedTime, version, etag, size, md5Checksum, ...fields } = source;
  const body = Buffer.isBuffer(req.body) && req.body.length ? JSON.parse(req.body.toString('utf8')) : {};
  const made = driveStore.createFile({ ...fields, ...body, name: body.name || `Copy of ${source.name}` });
  res.status(200).json(toV3File(made));
}

const FOLDER = 'application/vnd.google-apps.folder';

// Storage use counted from the store (the mock's is fixed).
app.get('/drive/v3/about', authorized, (req, res) => {
  const about = driveStore.getAbout();
  const bytes = (files) => files.reduce((sum, f) => sum + Number(f.size || 0), 0);
  const files = driveStore.listFiles().filter((f) => f.mimeType !== FOLDER);
  const usage = bytes(files);
  const trash = bytes(files.filter((f) => f.trashed));
  res.json({
    kind: 'drive#about',
    user: about.user,
    storageQuota: {
      limit: about.storageQuota.limit,
      usage: String(usage),
      usageInDrive: String(usage),
      usageInDriveTrash: String(trash),
    },
  });
});

// Thumbnails of PNG files: the link in the file resource, and the image it serves.
app.get('/drive/v3/files/:fileId', authorized, (req, res, next) => {
  const fields = String(req.query.fields || '');
  if (req.query.alt === 'media' || !/hasThumbnail|thumbnailLink/.test(fields)) return next();
  const file = driveStore.getFile(req.params.fileId);
  if (!file) return fail(res, 404, `File not found: ${req.params.fileId}.`, 'notFound');
  const has = file.mimeType !== FOLDER && thumbnails.dimensions(file.content) !== null;
  const body = { id: file.id, hasThumbnail: has };
  if (has) body.thumbnailLink = `http://${req.headers.host}/thumbnails/${file.id}=s220`;
  res.json(body);
});
app.get('/thumbnails/:spec', authorized, (req, res) => {
  const match = /^(.+)=s(\d+)$/.exec(req.params.spec);
  const file = match && driveStore.getFile(match[1]);
  const png = file && thumbnails.thumbnail(file.content, Math.min(Number(match[2]), 1600));
  if (!png) return res.status(404).send('Not Found');
  res.set('Content-Type', 'image/png').send(png);
});
app.get('/drive/v3/files/root', authorized, (req, res) => {
  res.json({ kind: 'drive#file', id: 'root', name: 'My Drive', mimeType: FOLDER, trashed: false });
});

// Page tokens are `offset + position in the log` (1-based); expiring moves the offset on.
const feed = { pageSize: 1000, offset: 0 };
app.post('/debug/changes', express.json(), (req, res) => {
  const body = req.body || {};
  if (body.pageSize) feed.pageSize = Number(body.pageSize);
  if (body.expire) feed.offset += 1000000;
  res.status(204).end();
});
app.get('/drive/v3/changes/startPageToken', authorized, (req, res) => {
  res.json({ kind: 'drive#startPageToken', startPageToken: String(feed.offset + driveStore.changes.length + 1) });
});
app.get('/drive/v3/changes', authorized, (req, res) => {
  const log = driveStore.changes;
  const at = Number(req.query.pageToken) - feed.offset;
  if (!/^[0-9]+$/.test(req.query.pageToken || '') || at < 1 || at > log.length + 1) {
    return res.status(400).json({ error: { code: 400, message: 'Invalid Value', errors: [{ domain: 'global', reason: 'invalid', message: 'Invalid Value', locationType: 'parameter', location: 'pageToken' }] } });
  }
  const size = Math.min(Number(req.query.pageSize || 100), 1000, feed.pageSize);
  const page = log.slice(at - 1, at - 1 + size).map((c) => (c.file ? { ...c, file: toV3File(c.file) } : c));
  const next = feed.offset + at + page.length;
  const body = { kind: 'drive#changeList', changes: page };
  if (at + page.length <= log.length) body.nextPageToken = String(next);
  else body.newStartPageToken = String(next);
  res.json(body);
});

// Sharing: permissions by file id, each list starting with the owner.
const TYPES = ['user', 'group', 'domain', 'anyone'];
const ROLES = ['owner', 'organizer', 'fileOrganizer', 'writer', 'commenter', 'reader'];
const shares = new Map();
const ownerPermission = () => {
  const user = driveStore.getAbout().user;
  return { kind: 'drive#permission', id: user.permissionId, type: 'user', role: 'owner', emailAddress: user.emailAddress, displayName: user.displayName };
};
// The permissions of a file the mock has (null when it has none by that id).
function sharesOf(fileId) {
  if (fileId !== 'root' && !driveStore.getFile(fileId)) return null;
  if (!shares.has(fileId)) shares.set(fileId, [ownerPermission()]);
  return shares.get(fileId);
}
const grantee = (p) => (p.type === 'anyone' ? 'anyone' : `${p.type}:${(p.emailAddress || p.domain || '').toLowerCase()}`);
const permissionId = (p) => {
  if (p.type === 'anyone') return 'anyoneWithLink';
  return crypto.createHash('sha1').update(grantee(p)).digest('hex').replace(/[a-f]/g, (c) => String(c.charCodeAt(0) % 10)).slice(0, 20);
};
const invalid = (res, message) => fail(res, 400, message, 'invalid');
function withShares(req, res, next) {
  const list = sharesOf(req.params.fileId);
  if (!list) return fail(res, 404, `File not found: ${req.params.fileId}.`, 'notFound');
  req.shares = list;
  if (req.params.permissionId) {
    req.permission = list.find((p) => p.id === req.params.permissionId);
    if (!req.permission) return fail(res, 404, `Permission not found: ${req.params.permissionId}.`, 'notFound');
  }
  next();
}
const PERMS = '/drive/v3/files/:fileId/permissions';
app.get(PERMS, authorized, withShares, (req, res) => {
  const size = Math.min(Number(req.query.pageSize || 100), 100);
  const start = Number(req.query.pageToken || 0);
  if (!(size >= 1) || !(start >= 0)) return invalid(res, 'Invalid Value');
  const body = { kind: 'drive#permissionList', permissions: req.shares.slice(start, start + size) };
  if (start + size < req.shares.length) body.nextPageToken = String(start + size);
  res.json(body);
});
app.post(PERMS, authorized, express.json({ type: () => true }), withShares, (req, res) => {
  const body = req.body || {};
  if (!TYPES.includes(body.type)) return invalid(res, 'Invalid permission type.');
  if (!ROLES.includes(body.role)) return invalid(res, 'Invalid permission role.');
  if ((body.type === 'user' || body.type === 'group') && !body.emailAddress) return invalid(res, 'An email address must be supplied.');
  if (body.type === 'domain' && !body.domain) return invalid(res, 'A domain must be supplied.');
  if ((body.type === 'domain' || body.type === 'anyone') && req.query.sendNotificationEmail !== undefined) {
    return fail(res, 400, 'Notification emails are only sent to users and groups.', 'invalidSharingRequest');
  }
  if (body.role === 'owner' && req.query.transferOwnership !== 'true') {
    return fail(res, 403, "The transferOwnership parameter must be enabled when the permission role is 'owner'.", 'forbidden');
  }
  const made = { kind: 'drive#permission', type: body.type, role: body.role };
  if (body.emailAddress) made.emailAddress = String(body.emailAddress).toLowerCase();
  if (body.domain) made.domain = String(body.domain).toLowerCase();
  made.id = permissionId(made);
  const existing = req.shares.find((p) => p.id === made.id);
  if (existing && existing.role === 'owner') return fail(res, 403, 'The owner already has access.', 'forbidden');
  if (existing) existing.role = made.role;
  else req.shares.push(made);
  res.json(existing || made);
});
app.get(`${PERMS}/:permissionId`, authorized, withShares, (req, res) => res.json(req.permission));
app.patch(`${PERMS}/:permissionId`, authorized, express.json({ type: () => true }), withShares, (req, res) => {
  const role = (req.body || {}).role;
  if (req.permission.role === 'owner') return fail(res, 403, "The owner's permission cannot be changed.", 'forbidden');
  if (role !== undefined && !ROLES.includes(role)) return invalid(res, 'Invalid permission role.');
  if (role === 'owner') return fail(res, 403, "The transferOwnership parameter must be enabled when the permission role is 'owner'.", 'forbidden');
  if (role) req.permission.role = role;
  res.json(req.permission);
});
app.delete(`${PERMS}/:permissionId`, authorized, withShares, (req, res) => {
  if (req.permission.role === 'owner') return fail(res, 403, "The owner's permission cannot be deleted.", 'forbidden');
  req.shares.splice(req.shares.indexOf(req.permission), 1);
  res.status(204).end();
});

// Searches by name (see above); other queries go to the mock.
const NAME_SEARCH = /^name contains '((?:[^'\\]|\\.)*)' and trashed = false$/;
app.get('/drive/v3/files', authorized, (req, res, next) => {
  const match = NAME_SEARCH.exec(req.query.q || '');
  if (!match) return next();
  const text = match[1].replace(/\\(.)/g, '$1').toLowerCase();
  const words = (name) => [name, ...name.split(/[^\p{L}\p{N}]+/u)];
  const hits = driveStore.listFiles().filter((file) =>
    !file.trashed && words((file.name || '').toLowerCase()).some((word) => word.startsWith(text)));
  if (req.query.orderBy === 'folder,name') {
    const key = (f) => [f.mimeType === FOLDER ? 0 : 1, f.name || ''];
    hits.sort((a, b) => {
      const [x, y] = [key(a), key(b)];
      return x[0] - y[0] || (x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0);
    });
  }
  const size = Math.min(Math.max(parseInt(req.query.pageSize || '100', 10) || 100, 1), 1000);
  let skip = 0;
  try {
    skip = JSON.parse(Buffer.from(req.query.pageToken || '', 'base64').toString('utf8')).skip || 0;
  } catch (e) {
    skip = 0;
  }
  const body = { kind: 'drive#fileList', incompleteSearch: false, files: hits.slice(skip, skip + size).map(toV3File) };
  if (skip + size < hits.length) {
    body.nextPageToken = Buffer.from(JSON.stringify({ skip: skip + size })).toString('base64');
  }
  res.json(body);
});
// --- Addition: the Directory API (Team API). ---
const directory = { users: [], groups: [] };
app.post('/debug/directory', express.json(), (req, res) => {
  directory.users = (req.body && req.body.users) || [];
  directory.groups = (req.body && req.body.groups) || [];
  res.status(204).end();
});
const DIRECTORY = '/admin/directory/v1';
const userResource = (u) => ({ kind: 'admin#directory#user', isAdmin: false, creationTime: '2024-01-01T00:00:00.000Z', ...u });
const groupResource = (g) => {
  const { members, ...rest } = g;
  return { kind: 'admin#directory#group', directMembersCount: String((members || []).length), ...rest };
};
const userByKey = (key) => directory.users.find((u) => u.id === key
  || (u.primaryEmail || '').toLowerCase() === String(key).toLowerCase());
const groupByKey = (key) => directory.groups.find((g) => g.id === key
  || (g.email || '').toLowerCase() === String(key).toLowerCase());
// One page of `all` under `field`, by `maxResults` (1 to `max`) and `pageToken`.
const directoryPage = (req, res, all, field, kind, max) => {
  const size = req.query.maxResults === undefined ? max : Number(req.query.maxResults);
  if (!Number.isInteger(size) || size < 1 || size > max) return fail(res, 400, 'Invalid Input: maxResults', 'invalid');
  const from = req.query.pageToken === undefined ? 0 : Number(Buffer.from(String(req.query.pageToken), 'base64url').toString());
  if (!Number.isInteger(from) || from < 0) return fail(res, 400, 'Invalid Input: pageToken', 'invalid');
  const body = { kind, etag: '"directory"', [field]: all.slice(from, from + size) };
  if (from + size < all.length) body.nextPageToken = Buffer.from(String(from + size)).toString('base64url');
  res.json(body);
};
app.get(`${DIRECTORY}/users`, authorized, (req, res) => {
  if (!req.query.customer && !req.query.domain) return fail(res, 400, 'Bad Request', 'badRequest');
  let all = directory.users.map(userResource);
  if (req.query.orderBy === 'email') all = all.sort((a, b) => a.primaryEmail.localeCompare(b.primaryEmail));
  directoryPage(req, res, all, 'users', 'admin#directory#users', 500);
});
app.get(`${DIRECTORY}/users/:userKey`, authorized, (req, res) => {
  const u = userByKey(req.params.userKey);
  return u ? res.json(userResource(u)) : fail(res, 404, 'Resource Not Found: userKey', 'notFound');
});
app.get(`${DIRECTORY}/groups`, authorized, (req, res) => {
  let all;
  if (req.query.userKey) {
    const u = userByKey(req.query.userKey);
    // Google answers a user it does not know with no groups.
    all = u ? directory.groups.filter((g) => (g.members || []).some((m) => m.id === u.id)) : [];
  } else if (req.query.customer || req.query.domain) {
    all = directory.groups;
  } else {
    return fail(res, 400, 'Bad Request', 'badRequest');
  }
  directoryPage(req, res, all.map(groupResource), 'groups', 'admin#directory#groups', 200);
});
app.get(`${DIRECTORY}/groups/:groupKey`, authorized, (req, res) => {
  const g = groupByKey(req.params.groupKey);
  return g ? res.json(groupResource(g)) : fail(res, 404, 'Resource Not Found: groupKey', 'notFound');
});
app.get(`${DIRECTORY}/groups/:groupKey/members`, authorized, (req, res) => {
  const g = groupByKey(req.params.groupKey);
  if (!g) return fail(res, 404, 'Resource Not Found: groupKey', 'notFound');
  const all = (g.members || []).map((m) => {
    const u = userByKey(m.id) || {};
    return { kind: 'admin#directory#member', id: m.id, email: u.primaryEmail, role: m.role || 'MEMBER', type: 'USER', status: 'ACTIVE' };
  });
  directoryPage(req, res, all, 'members', 'admin#directory#members', 200);
});

app.post('/upload/drive/v3/files', authorized, raw, upload);
app.patch('/upload/drive/v3/files/:fileId', authorized, raw, upload);
app.put('/upload/drive/v3/files', authorized, raw, chunk);
app.post('/drive/v3/files/:fileId/copy', authorized, raw, copy);
app.use(createApp());

app.listen(port, '127.0.0.1', () => console.log(`gdrive mock on 127.0.0.1:${port}`));
