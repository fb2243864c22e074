// The admin console (/admin/): a few tabs over the /v1/admin endpoints (docs/PROTOCOL.md). The
// server checks every request (an admin's token; the admin flag read from storage each time), so
// this page holds no authority of its own: it shows what the server answers and sends what the
// operator clicks. No framework, no build step; text is always set as text (dom.js h()).
import { h } from '/js/dom.js';

const KEY_TOKEN = 'maratang.admin.token';
const KEY_LANG = 'maratang.lang';
const root = document.getElementById('admin');

const state = {
  lang: 'en',
  words: {},   // admin/i18n.json, this language
  errors: {},  // the player's client's error texts (/i18n/<lang>.json), for server error codes
  token: sessionStorage.getItem(KEY_TOKEN) || '',
  tab: 'overview',
  notice: '',
  error: '',
};

function t(key, vars = {}) {
  const s = state.words[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ''));
}

async function loadWords() {
  const saved = localStorage.getItem(KEY_LANG);
  const browser = String((navigator.languages ?? [navigator.language])[0] || '').toLowerCase();
  state.lang = saved === 'ko' || saved === 'en' ? saved : browser.startsWith('ko') ? 'ko' : 'en';
  const all = await (await fetch('/admin/i18n.json')).json();
  state.words = all[state.lang];
  const player = await (await fetch(`/i18n/${state.lang}.json`)).json();
  state.errors = player.errors ?? {};
  document.documentElement.lang = state.lang;
  document.title = t('title');
}

/** A server error as words: the code's text in this language, then the server's own message. */
function errorText(e) {
  const local = state.errors[e.code];
  if (local && e.message && local !== e.message) return `${local} (${e.message})`;
  return local || e.message || e.code;
}

class ApiError extends Error {
  constructor(code, message, status) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${state.token}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new ApiError(data.error?.code ?? 'internal', data.error?.message ?? r.statusText, r.status);
  return data;
}

/** Runs an action; shows its notice, or the error in words. */
async function act(fn, notice) {
  state.notice = '';
  state.error = '';
  try {
    const result = await fn();
    state.notice = typeof notice === 'function' ? notice(result) : notice ?? '';
  } catch (e) {
    state.error = e instanceof ApiError ? errorText(e) : String(e.message ?? e);
    if (e.status === 401) logout();
  }
  await draw();
}

function logout() {
  state.token = '';
  sessionStorage.removeItem(KEY_TOKEN);
}

const fmtTime = (ms) => (ms ? new Date(ms).toLocaleString(state.lang === 'ko' ? 'ko-KR' : 'en-GB') : '');
const yesNo = (b) => t(b ? 'yes' : 'no');

function table(cols, rows) {
  if (!rows.length) return h('p', t('none'));
  return h('table', h('thead', h('tr', cols.map((c) => h('th', t(c))))), h('tbody', rows));
}

// --- Tabs ----------------------------------------------------------------------------------------

const TABS = ['overview', 'rooms', 'players', 'traces', 'games', 'mystery', 'audit', 'config'];

/**
 * Every node's answer to an admin GET: with several nodes (the overview's `nodes`), each live
 * node through its own route (nginx's /node/N/), this one directly; on one node, just this one.
 * Resolves to [{node, prefix, data} | {node, prefix, error}]: a node that does not answer is
 * shown as such, never hides the others.
 */
async function fromEveryNode(path) {
  const o = await api('GET', '/v1/admin/overview');
  const nodes = (o.nodes ?? [{ id: o.node, route: '', alive: true, self: true }])
    .filter((n) => n.alive && (n.self || n.route));
  return Promise.all(nodes.map(async (n) => {
    const prefix = n.route || ''; // behind nginx, even this node by its route: / may reach another
    try {
      return { node: n.id, prefix, data: await api('GET', prefix + path) };
    } catch (e) {
      return { node: n.id, prefix, error: e instanceof ApiError ? errorText(e) : String(e.message ?? e) };
    }
  }));
}

/** The nodes that did not answer, as lines under a table. */
function unreachable(answers) {
  return answers.filter((a) => a.error).map((a) => h('p.error.unreachable', t('unreachable', { node: a.node, error: a.error })));
}

async function overview() {
  const [o, m] = await Promise.all([api('GET', '/v1/admin/overview'), api('GET', '/v1/admin/metrics')]);
  const stat = (label, value, id) => h('div.stat', { id }, t(label), h('b', String(value)));
  const rooms = Object.entries(o.rooms.by_mode).map(([mode, c]) => `${mode}: ${c.waiting} / ${c.playing}`).join(', ');
  return [
    h('div.stats',
      stat('node', `${o.node} (${o.address})`, 'stat-node'),
      stat('started', fmtTime(o.started_at), 'stat-started'),
      stat('connections', o.connections, 'stat-connections'),
      stat('online', o.online, 'stat-online'),
      stat('rooms', o.rooms.total, 'stat-rooms'),
      stat('storage', o.storage, 'stat-storage'),
      stat('redis', yesNo(o.redis), 'stat-redis'),
      stat('kafka', yesNo(o.kafka), 'stat-kafka'),
      stat('draining', yesNo(o.draining), 'stat-draining'),
      stat('media', mediaText(o.media), 'stat-media')),
    h('p', rooms),
    o.nodes ? [h('h3', t('nodes')), h('div#nodes', table(['node', 'route', 'alive', 'rooms'],
      o.nodes.map((n) => h('tr', { dataset: { node: n.id } },
        h('td', n.self ? `${n.id} (${t('this_node')})` : n.id), h('td', n.route || '—'),
        h('td', yesNo(n.alive)), h('td', n.rooms)))))] : null,
    h('h3', t('last_hour')),
    h('div.charts', Object.entries(m.series).map(([name, points]) => chart(name, points))),
  ];
}

/** Mafia's media: the mode, and Janus's health as the server last checked it. */
function mediaText(m) {
  if (!m) return '—';
  if (!m.sfu) return m.mode;
  const j = m.sfu;
  const state = !j.checked_at ? t('janus_unchecked') : j.up ? t('janus_up') : t('janus_down') + (j.error ? ` (${j.error})` : '');
  return `${m.mode} · Janus ${state} · ${t('janus_games', { n: j.games })}` + (j.resyncs ? ` · ${t('janus_resyncs', { n: j.resyncs })}` : '');
}

/** A line chart of [at, value] points as an SVG polyline (built with DOM calls: CSP-safe). */
function chart(name, points) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 300 90');
  svg.setAttribute('preserveAspectRatio', 'none');
  const values = points.map((p) => p[1]);
  const max = Math.max(1, ...values);
  const t0 = points.length ? points[0][0] : 0;
  const span = Math.max(1, points.length ? points[points.length - 1][0] - t0 : 1);
  const line = document.createElementNS(ns, 'polyline');
  line.setAttribute('points', points.map(([at, v]) => `${(((at - t0) / span) * 300).toFixed(1)},${(88 - (v / max) * 86).toFixed(1)}`).join(' '));
  svg.append(line);
  const last = values.length ? values[values.length - 1] : 0;
  return h('div.chart', { dataset: { series: name } },
    h('div', `${t('series.' + name)}: ${Number.isInteger(last) ? last : last.toFixed(2)} (max ${Number.isInteger(max) ? max : max.toFixed(2)})`), svg);
}

/** Every node's rooms; a room is opened and closed through the node that holds it. */
async function rooms() {
  const answers = await fromEveryNode('/v1/admin/rooms');
  const rows = answers.flatMap(({ node, prefix, data }) => (data?.rooms ?? []).map((r) =>
    h('tr', { dataset: { room: r.id, node } },
      h('td', r.id), h('td', r.name), h('td', r.mode), h('td', r.state),
      h('td', `${r.players}/${r.capacity}`), h('td', yesNo(r.private)), h('td', node),
      h('td', h('button.open-room', { onclick: () => showRoom(r.id, prefix) }, t('open'))))));
  return [table(['id', 'name', 'mode', 'state', 'players', 'private', 'node', 'actions'], rows),
    unreachable(answers), h('div#room-detail')];
}

async function showRoom(id, prefix = '') {
  const box = document.getElementById('room-detail');
  try {
    const { room } = await api('GET', `${prefix}/v1/admin/rooms/${encodeURIComponent(id)}`);
    const members = room.members.map((m) => h('li', `${m.nickname} (#${m.id})`,
      m.leader ? ` — ${t('leader')}` : '', m.connected ? '' : ` — ${t('away')}`));
    const reason = h('input#close-reason', { placeholder: t('reason'), maxlength: 500, size: 40 });
    box.replaceChildren(
      h('h3', `${room.name} (${room.mode}, ${room.state})`),
      h('h4', t('members')), h('ul#room-members', members),
      room.game ? [h('h4', t('game')), h('pre#room-game', JSON.stringify(room.game, null, 1))] : null,
      h('div.row', reason, h('button#close-room', {
        onclick: () => act(() => api('POST', `${prefix}/v1/admin/rooms/${encodeURIComponent(id)}/close`,
          reason.value ? { message: reason.value } : {}), t('closed', { id })),
      }, t('close_room'))));
  } catch (e) {
    box.replaceChildren(h('p.error', e instanceof ApiError ? errorText(e) : String(e)));
  }
}

/** The players online on every node; a kick or a ban reaches them wherever they are. */
async function players() {
  const answers = await fromEveryNode('/v1/admin/players?limit=1000');
  const players = answers.flatMap(({ node, data }) => (data?.players ?? []).map((p) => ({ ...p, node })));
  const reason = h('input#account-reason', { placeholder: t('reason'), maxlength: 500, size: 40 });
  const until = h('input#ban-until', { type: 'datetime-local', title: t('ban_until') });
  const body = () => (reason.value ? { message: reason.value } : {});
  const accountActions = (id) => [
    h('button.kick', { onclick: () => act(() => api('POST', `/v1/admin/accounts/${id}/kick`, body()), t('kicked', { id })) }, t('kick')),
    h('button.ban', {
      onclick: () => act(() => api('POST', `/v1/admin/accounts/${id}/ban`,
        { ...body(), ...(until.value ? { until: new Date(until.value).getTime() } : {}) }), t('banned', { id })),
    }, t('ban')),
    h('button.unban', { onclick: () => act(() => api('POST', `/v1/admin/accounts/${id}/unban`), t('unbanned', { id })) }, t('unban')),
  ];
  const rows = players.map((p) => h('tr', { dataset: { account: p.id } },
    h('td', p.id), h('td', p.nickname), h('td', p.room_id ?? ''), h('td', p.node), h('td', accountActions(p.id))));
  const other = h('input#account-id', { type: 'number', min: 1, placeholder: t('account') });
  return [
    h('div.row', reason, h('label', t('ban_until'), ' ', until)),
    table(['id', 'nickname', 'room', 'node', 'actions'], rows),
    unreachable(answers),
    h('div.row', other, h('button#unban-other', {
      onclick: () => act(() => api('POST', `/v1/admin/accounts/${Number(other.value)}/unban`), t('unbanned', { id: other.value })),
    }, t('unban'))),
  ];
}

async function traces() {
  const hidden = new URLSearchParams(location.hash.slice(1)).get('hidden') === 'true';
  const { items } = await api('GET', `/v1/admin/traces?hidden=${hidden}`);
  const rows = items.map((x) => h('tr', { dataset: { trace: x.id } },
    h('td', x.id), h('td', x.area), h('td', x.kind), h('td', x.reports), h('td', yesNo(x.hidden)),
    h('td', h('pre', JSON.stringify(x.trace))),
    h('td',
      h('button.restore', { onclick: () => act(() => api('POST', `/v1/admin/traces/${x.id}/restore`), t('restored', { id: x.id })) }, t('restore')),
      h('button.delete', { onclick: () => act(() => api('DELETE', `/v1/admin/traces/${x.id}`), t('deleted', { id: x.id })) }, t('delete')))));
  return [
    h('label', h('input#hidden-only', { type: 'checkbox', checked: hidden, onchange: (e) => { location.hash = `hidden=${e.target.checked}`; draw(); } }), ' ', t('hidden_only')),
    table(['id', 'area', 'kind', 'reports', 'hidden', 'trace', 'actions'], rows),
  ];
}

async function games() {
  const id = h('input#game-id', { placeholder: t('game_id'), size: 30 });
  const out = h('pre#game-record');
  const casebook = h('pre#game-casebook');
  const find = async () => {
    const key = encodeURIComponent(id.value.trim());
    try {
      out.textContent = JSON.stringify(await api('GET', `/v1/admin/games/${key}`), null, 1);
    } catch (e) {
      out.textContent = e instanceof ApiError ? errorText(e) : String(e);
    }
    // A Mystery game's casebook, when it has one.
    try {
      casebook.textContent = (await api('GET', `/v1/admin/games/${key}/casebook`)).markdown;
    } catch {
      casebook.textContent = '';
    }
  };
  return [h('div.row', id, h('button#find-game', { onclick: find }, t('find'))), out, casebook];
}

async function mystery() {
  const { scenarios, llm } = await api('GET', '/v1/admin/mystery');
  const rows = scenarios.map((s) => h('tr', { dataset: { folder: s.folder } },
    h('td', s.folder), h('td', s.id ?? ''), h('td', s.title ?? ''), h('td', s.language ?? ''),
    h('td', yesNo(s.loaded)), h('td', s.errors.length ? h('pre.error', s.errors.join('\n')) : '')));
  const eps = llm.map((e) => h('tr', { dataset: { endpoint: e.endpoint } },
    h('td', e.endpoint), h('td', e.breaker), h('td', e.calls), h('td', e.ok), h('td', e.failed),
    h('td', e.retries), h('td', e.timeouts), h('td', e.in_flight)));
  return [
    h('h3', t('scenarios')),
    table(['folder', 'id', 'name', 'language', 'loaded', 'errors'], rows),
    h('h3', t('llm')),
    llm.length ? table(['endpoint', 'breaker', 'calls', 'ok', 'failed', 'retries', 'timeouts', 'in_flight'], eps) : h('p', t('no_llm')),
  ];
}

async function audit() {
  const { entries } = await api('GET', '/v1/admin/audit?limit=100');
  const rows = entries.map((e) => h('tr', h('td', fmtTime(e.at)), h('td', e.actor), h('td', e.action),
    h('td', e.target), h('td', JSON.stringify(e.detail))));
  return table(['at', 'actor', 'action', 'target', 'detail'], rows);
}

async function config() {
  const { settings } = await api('GET', '/v1/admin/config');
  const rows = Object.entries(settings).map(([k, v]) => h('tr', h('td', k), h('td', JSON.stringify(v.value)), h('td', v.source)));
  return table(['setting', 'value', 'source'], rows);
}

const VIEWS = { overview, rooms, players, traces, games, mystery, audit, config };

// --- The page ------------------------------------------------------------------------------------

function loginForm() {
  const email = h('input#email', { type: 'email', autocomplete: 'username', placeholder: t('email') });
  const password = h('input#password', { type: 'password', autocomplete: 'current-password', placeholder: t('password') });
  const submit = async () => {
    state.error = '';
    const r = await fetch('/v1/auth/login', {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ email: email.value, password: password.value }),
    });
    const data = await r.json().catch(() => ({}));
    if (!r.ok) {
      state.error = errorText(data.error ?? { code: 'internal' });
    } else {
      state.token = data.token;
      sessionStorage.setItem(KEY_TOKEN, data.token);
    }
    await draw();
  };
  return h('div.card', h('h2', t('title')), email, password, h('button#login', { onclick: submit }, t('login')));
}

async function draw() {
  const header = h('div.row', h('strong', t('title')),
    h('button#lang', { onclick: () => { localStorage.setItem(KEY_LANG, state.lang === 'ko' ? 'en' : 'ko'); start(); } }, t('lang')),
    state.token ? h('button#logout', { onclick: () => { logout(); draw(); } }, t('logout')) : null);
  const messages = [state.notice ? h('p.notice#notice', state.notice) : null, state.error ? h('p.error#error', state.error) : null]
    .filter(Boolean);
  if (!state.token) return root.replaceChildren(header, ...messages, loginForm());
  let account;
  try {
    account = await api('GET', '/v1/account');
  } catch (e) {
    logout();
    state.error = e instanceof ApiError ? errorText(e) : String(e);
    return draw();
  }
  if (!account.admin) return root.replaceChildren(header, h('p.error#error', t('not_admin')));
  const nav = h('nav', TABS.map((tab) => h(`button#tab-${tab}`, {
    class: tab === state.tab ? 'on' : null,
    onclick: () => { state.tab = tab; state.notice = ''; state.error = ''; draw(); },
  }, t('tab.' + tab))), h('button#refresh', { onclick: () => draw() }, t('refresh')));
  let body;
  try {
    body = await VIEWS[state.tab]();
  } catch (e) {
    body = h('p.error', e instanceof ApiError ? errorText(e) : String(e));
  }
  root.replaceChildren(header, nav, ...messages, h(`section#view-${state.tab}`, body));
}

async function start() {
  await loadWords();
  await draw();
}

start();
