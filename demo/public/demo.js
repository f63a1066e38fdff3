// The showcase, built on the gateway's client module. The session cookie is HttpOnly: this script
// cannot read it, and no answer it receives holds a token.
import { createBff, genesysContext } from '/bff/client-v1.js';

const bff = createBff();
const $ = (id) => document.getElementById(id);
let current = null;

// --- what a request answered ----------------------------------------------------------------

function show(label, status, body) {
  $('status').textContent = `${label} → ${status}`;
  $('output').textContent = body === undefined || body === '' ? '(no body)' : body;
}

async function bodyOf(res) {
  const text = await res.text();
  try {
    return text === '' ? '' : JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

/** One call through the client module, shown in "Last request"; resolves with the answer. */
async function call(method, path, init = {}) {
  const label = `${method} ${path}`;
  $('status').textContent = `${label} …`;
  try {
    const res = await bff.fetch(path, { method, ...init });
    const body = method === 'HEAD' ? '' : await bodyOf(res.clone());
    show(label, res.status, body);
    return res;
  } catch (err) {
    $('status').textContent = `${label} failed: ${err.message}`;
    return undefined;
  }
}

// --- who, and when it ends ------------------------------------------------------------------

function showUser(info) {
  current = info;
  if (info === null) {
    $('who').textContent = 'Not logged in.';
  } else {
    $('who').textContent = `Logged in as ${info.user.name} (user id ${info.user.id}).`;
  }
  document.body.dataset.session = info === null ? 'none' : 'live';
  tick();
}

function left(ms) {
  if (ms <= 0) return 'now';
  const s = Math.floor(ms / 1000);
  const parts = [];
  if (s >= 86400) parts.push(`${Math.floor(s / 86400)}d`);
  if (s >= 3600) parts.push(`${Math.floor((s % 86400) / 3600)}h`);
  if (s >= 60) parts.push(`${Math.floor((s % 3600) / 60)}m`);
  parts.push(`${s % 60}s`);
  return `in ${parts.join(' ')}`;
}

function tick() {
  for (const cell of document.querySelectorAll('[data-deadline]')) {
    const [group, field] = cell.dataset.deadline.split('.');
    const at = current?.[group]?.[field];
    if (current === null) cell.textContent = '—';
    else if (at === null || at === undefined) cell.textContent = 'not reported';
    else {
      cell.textContent = `${left(Date.parse(at) - Date.now())} (${new Date(at).toLocaleTimeString()})`;
    }
  }
}
setInterval(tick, 1000);

async function reloadUser(options) {
  try {
    showUser(await bff.user(options));
  } catch (err) {
    $('who').textContent = `Could not ask the gateway: ${err.message}`;
  }
}

// --- events -----------------------------------------------------------------------------------

function logEvent(name, text) {
  const item = document.createElement('li');
  item.dataset.event = name;
  const time = document.createElement('time');
  time.textContent = new Date().toLocaleTimeString();
  const what = document.createElement('strong');
  what.textContent = name;
  item.append(time, ' ', what, ` ${text}`);
  $('events').prepend(item);
}

bff.on('ended', ({ reason }) => {
  logEvent('ended', `reason: ${reason}`);
  showUser(null);
  $('who').textContent = `Not logged in: the session ended (${reason}).`;
  renderSessions([]);
});
bff.on('expiring', ({ kind, expiresAt }) => {
  logEvent('expiring', `${kind} deadline at ${new Date(expiresAt).toLocaleTimeString()}`);
});
bff.on('user', (info) => {
  logEvent(
    'user',
    `${info.user.name}, session ends ${left(Date.parse(info.session.expiresAt) - Date.now())}`,
  );
  showUser(info);
});
let streamOpen = false;
bff.on('stream', ({ leader, connected }) => {
  const holder = leader ? 'This tab holds the stream' : 'Another tab holds the stream';
  $('stream-status').textContent = `${holder}; it is ${connected ? 'open' : 'closed'}.`;
  if (connected !== streamOpen) {
    streamOpen = connected;
    logEvent(
      'stream',
      `${connected ? 'open' : 'closed'} (${leader ? 'held by this tab' : 'held by another tab'})`,
    );
  }
});

// --- my sessions -------------------------------------------------------------------------------

function renderSessions(sessions) {
  const body = $('sessions').querySelector('tbody');
  body.replaceChildren();
  for (const s of sessions) {
    const row = document.createElement('tr');
    row.dataset.handle = s.handle;
    for (const text of [
      s.userAgent + (s.current ? ' (this browser)' : ''),
      new Date(s.createdAt).toLocaleString(),
      new Date(s.lastSeenAt).toLocaleString(),
    ]) {
      const cell = document.createElement('td');
      cell.textContent = text;
      row.append(cell);
    }
    const cell = document.createElement('td');
    const end = document.createElement('button');
    end.type = 'button';
    end.className = 'end-session';
    end.textContent = s.current ? 'End (logs this browser out)' : 'End this session';
    end.addEventListener('click', () => void endSession(s.handle));
    cell.append(end);
    row.append(cell);
    body.append(row);
  }
}

async function listSessions() {
  const res = await call('GET', '/session/all');
  if (res?.ok) renderSessions((await res.json()).sessions);
}

/** The list again after a change, leaving "Last request" on the change itself. */
async function refreshSessions() {
  try {
    renderSessions(await bff.sessions());
  } catch {
    renderSessions([]);
  }
}

async function endSession(handle) {
  const res = await call('DELETE', `/session/all/${encodeURIComponent(handle)}`);
  if (res?.ok) await refreshSessions();
}

// --- admin -------------------------------------------------------------------------------------

/** The gateway's problem (`errors` for a bad body) or Genesys's ErrorBody (`message`). */
function showErrors(problem) {
  const list = $('timeout-errors');
  list.replaceChildren();
  if (problem === undefined) return;
  const errors =
    Array.isArray(problem.errors) && problem.errors.length > 0
      ? problem.errors
      : [{ message: problem.detail ?? problem.message ?? `refused (${problem.status})` }];
  for (const e of errors) {
    const item = document.createElement('li');
    item.textContent = e.field ? `${e.field}: ${e.message}` : e.message;
    list.append(item);
  }
}

async function problemOf(res) {
  try {
    return await res.clone().json();
  } catch {
    return undefined;
  }
}

async function readTimeout() {
  const res = await call('GET', '/admin/tokens/timeout');
  showErrors(undefined);
  if (res?.ok) {
    const t = await res.json();
    $('timeout-enabled').checked = t.enableIdleTokenTimeout === true;
    $('timeout-seconds').value = String(t.idleTokenTimeoutSeconds ?? '');
  } else if (res) showErrors(await problemOf(res));
}

async function saveTimeout() {
  const raw = $('timeout-seconds').value.trim();
  const seconds = raw === '' ? undefined : Number(raw);
  const body = { enableIdleTokenTimeout: $('timeout-enabled').checked };
  // Sent as typed (NaN becomes null): the gateway's check, not the page's, says what is wrong.
  if (seconds !== undefined) body.idleTokenTimeoutSeconds = seconds;
  const res = await call('PUT', '/admin/tokens/timeout', {
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  showErrors(res && !res.ok ? await problemOf(res) : undefined);
}

async function revoke() {
  const id = $('revoke-user-id').value.trim();
  const res = await call('DELETE', `/admin/users/${encodeURIComponent(id)}/tokens`);
  if (res === undefined) return;
  const problem = res.ok ? undefined : await problemOf(res);
  $('admin-result').textContent = res.ok
    ? `Revoked every token of ${id}; their sessions on this gateway ended.`
    : `Refused (${res.status}): ${problem?.detail ?? problem?.message ?? 'see Last request'}`;
}

/** The emulator's users: only `npm run demo` writes this file next to the page. */
async function loadDemoUsers() {
  const res = await fetch('/demo-users.json', { credentials: 'same-origin' });
  if (!res.ok) return;
  const users = await res.json();
  const select = $('revoke-user');
  // No one is picked at first: a revoke of oneself, by mistake, would end this very session.
  const none = document.createElement('option');
  none.value = '';
  none.textContent = 'pick a user';
  select.append(none);
  for (const u of users) {
    const option = document.createElement('option');
    option.value = u.id;
    option.textContent = `${u.name} (${u.role})`;
    select.append(option);
  }
  select.addEventListener('change', () => ($('revoke-user-id').value = select.value));
  $('revoke-pick').hidden = false;
}

// --- wiring ------------------------------------------------------------------------------------

function onClick(id, action) {
  $(id).addEventListener('click', () => void action());
}

onClick('logout', async () => {
  $('status').textContent = 'DELETE /session …';
  try {
    await bff.logout();
    show('DELETE /session', 204, '');
  } catch (err) {
    $('status').textContent = `DELETE /session failed: ${err.message}`;
  }
});
onClick('reload-user', () => reloadUser({ preserveIdleTTL: true }));
onClick('keep-alive', async () => {
  if ((await call('HEAD', '/session'))?.ok) await reloadUser({ preserveIdleTTL: true });
});
onClick('verify-preserve', () => call('HEAD', '/session?preserveIdleTTL=true'));
// A TokenInfo that passes the gateway updates the session's token.idlesAt: show it.
onClick('token-info', async () => {
  if ((await call('GET', '/session?preserveIdleTTL=true'))?.ok) {
    await reloadUser({ preserveIdleTTL: true });
  }
});
onClick('list-sessions', listSessions);
onClick('end-others', async () => {
  if ((await call('DELETE', '/session/others'))?.ok) await refreshSessions();
});
onClick('read-timeout', readTimeout);
$('timeout-form').addEventListener('submit', (e) => {
  e.preventDefault();
  void saveTimeout();
});
$('revoke-form').addEventListener('submit', (e) => {
  e.preventDefault();
  void revoke();
});

// Embedded (a frame of another site, as in Genesys Cloud): the login link would take the frame
// to the Genesys login page, which refuses to be framed; the client module logs in through a
// popup instead and hands the session over to this frame.
if (bff.embedded) {
  $('embedded').hidden = false;
  $('context').textContent = JSON.stringify(genesysContext(), null, 2);
  $('login').textContent = 'Log in (Genesys login page, in a popup)';
  $('login').addEventListener('click', (e) => {
    e.preventDefault();
    $('who').textContent = 'Logging in through the popup…';
    bff.login().then(
      () => reloadUser({ preserveIdleTTL: true }),
      (err) => ($('who').textContent = `The login did not finish: ${err.message}`),
    );
  });
}

void loadDemoUsers();
// Who is logged in, without counting as activity: loading the page must not keep an idle user in.
void reloadUser({ preserveIdleTTL: true }).then(() => {
  if (current !== null) void refreshSessions();
});
