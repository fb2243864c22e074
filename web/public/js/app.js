// The player's client: sign-in, nickname, the lobby and the room, and the mode views (mafia.js,
// mystery.js, arena.js) and Traces (traces.js). Vanilla ES modules over the SDK (/sdk/maratang.js).
// The server is the authority: this draws what it is sent and sends what the player chose.
import {Client} from '/sdk/maratang.js';
import {h, fill} from './dom.js';
import {attempt, errorLine} from './ui.js';
import * as i18n from './i18n.js';
import {t, errorText} from './i18n.js';
import {MafiaView} from './mafia.js';
import {MysteryView} from './mystery.js';
import {ArenaView} from './arena.js';
import {TracesView} from './traces.js';
import {LeaderboardsView, loadCompetition, onCompetitionEvent, partyCard, quickPlayCard} from './competition.js';

// Binary: Arena's states come in its compact encoding (every other message stays JSON);
// `?encoding=json` asks for JSON states instead, to read them in the browser's tools.
const encoding = new URLSearchParams(location.search).get('encoding') === 'json' ? 'json' : 'binary';
const client = new Client({clientName: 'maratang-web/1', encoding});

/** What the page knows; screens read it and redraw from it. */
const app = {
  client,
  account: null,   // GET /v1/account
  modes: [],       // GET /v1/modes
  room: null,      // the room snapshot, kept current by room.* events
  lobbyChat: [],   // room.chat lines while waiting
  notice: '',      // a message shown on the lobby (why the player left a room, ...)
  invitations: [], // room.invitation events not yet taken up or dismissed (newest last, at most 5)
  connection: 'offline',
  view: null,      // the current screen: {el, update?, destroy?}
  modeView: null,  // MafiaView / MysteryView / ArenaView while a game runs
  traces: false,   // the Traces screen is open
  boards: false,   // the leaderboards screen is open
  party: null,     // party.get's party, kept current by party.* events
  partyInvitations: [], // party.invitation events not yet taken up or dismissed
  match: null,     // the matchmaking ticket: {state: searching|found, mode, since, found?}
};

const root = document.getElementById('app');
const header = h('header.bar');
const main = h('main#screen');
root.replaceChildren(header, main);

// --- helpers shared by the screens ---------------------------------------------------------------

function nicknameOf(id) {
  const m = app.room?.members?.find((x) => x.id === id);
  return m ? m.nickname : '#' + id;
}
app.nicknameOf = nicknameOf;

// --- header ----------------------------------------------------------------------------------

function drawHeader() {
  const select = h('select#lang', {'aria-label': t('ui.language'), onchange: (e) => switchLanguage(e.target.value)},
                   i18n.languages().map((l) => h('option', {value: l, selected: l === i18n.current()}, t('lang.' + l))));
  fill(header,
       h('h1', 'Maratang'),
       h('span.conn', {dataset: {state: app.connection}}, t('conn.' + app.connection)),
       app.account ? h('span.me#me', app.account.nickname ?? '') : null,
       select,
       client.signedIn() ? h('button.link#logout', {onclick: logout}, t('ui.logout')) : null);
}

async function switchLanguage(l) {
  await i18n.setLanguage(l, true);
}

// --- screens -----------------------------------------------------------------------------------

function show(view) {
  app.view?.destroy?.();
  app.view = view;
  fill(main, view.el);
  drawHeader();
}

function redraw() {
  if (!client.signedIn()) return show(loginScreen());
  if (!app.account) return show(h0(t('ui.loading')));
  if (!app.account.nickname) return show(nicknameScreen());
  if (app.traces) return show(new TracesView(app, () => { app.traces = false; redraw(); }));
  if (app.boards) return show(new LeaderboardsView(app, () => { app.boards = false; redraw(); }));
  if (app.room) return show(roomScreen());
  return show(lobbyScreen());
}

function h0(text) {
  return {el: h('p.center', text)};
}

function loginScreen() {
  const err = h('div.err');
  const email = h('input#email', {type: 'email', autocomplete: 'username', placeholder: t('ui.email')});
  const pass = h('input#password', {type: 'password', autocomplete: 'current-password', placeholder: t('ui.password')});
  const signIn = (fn) => attempt(err, async () => { await fn(); await afterSignIn(); });
  const el = h('section.card.login',
    h('h2', t('ui.welcome')),
    h('p', t('ui.intro')),
    h('button.primary#guest', {onclick: () => signIn(() => client.loginGuest())}, t('ui.play_as_guest')),
    h('hr'),
    h('form', {onsubmit: (e) => { e.preventDefault(); signIn(() => client.loginEmail(email.value, pass.value)); }},
      h('label', t('ui.email'), email),
      h('label', t('ui.password'), pass),
      h('div.row',
        h('button#login', {type: 'submit'}, t('ui.login')),
        h('button#register', {type: 'button', onclick: () => signIn(() => client.register(email.value, pass.value))},
          t('ui.register')))),
    err);
  return {el};
}

function nicknameScreen() {
  const err = h('div.err');
  const hint = h('p.hint#nick-hint');
  const input = h('input#nickname', {maxlength: 64, placeholder: t('ui.nickname'), autocomplete: 'nickname'});
  let timer = 0;
  // Ask the server as the player types: its Unicode rules decide, not ours.
  input.addEventListener('input', () => {
    clearTimeout(timer);
    const v = input.value;
    if (!v.trim()) return fill(hint);
    timer = setTimeout(async () => {
      try {
        const r = await client.checkNickname(v);
        fill(hint, r.available ? t('ui.nickname_free') : errorText({code: 'nickname_taken'}));
        hint.dataset.ok = r.available ? '1' : '0';
      } catch (e) {
        fill(hint, errorLine(e));
        hint.dataset.ok = '0';
      }
    }, 250);
  });
  const el = h('section.card',
    h('h2', t('ui.choose_nickname')),
    h('form', {onsubmit: async (e) => {
      e.preventDefault();
      await attempt(err, async () => {
        const r = await client.setNickname(input.value);
        app.account.nickname = r.nickname;
        await goOnline();
      });
    }}, input, hint, h('button.primary#save-nickname', {type: 'submit'}, t('ui.save'))),
    err);
  return {el};
}

function lobbyScreen() {
  const list = h('div.rooms#rooms');
  const err = h('div.err#lobby-error');
  let filter = '';
  const tabs = h('nav.tabs');
  const drawTabs = () => fill(tabs,
    [{name: ''}, ...app.modes].map((m) => h('button', {
      class: filter === m.name ? 'on' : '', dataset: {mode: m.name},
      onclick: () => { filter = m.name; drawTabs(); refresh(); },
    }, m.name ? t('mode.' + m.name) : t('ui.all_modes'))));
  // Rows are kept across refreshes (keyed by room id), so a password being typed or an error
  // shown under a row survives the list being refreshed every few seconds.
  const rows = new Map();
  let shown = null;
  const refresh = () => attempt(err, async () => {
    if (!client.ready) return;
    const r = await client.request('room.list', filter ? {mode: filter} : {});
    const next = new Map();
    for (const room of r.rooms) {
      const row = rows.get(room.id) ?? roomRow(room);
      row.update(room);
      next.set(room.id, row);
    }
    rows.clear();
    for (const [id, row] of next) rows.set(id, row);
    // Re-inserting a row would take the focus from its password field: only when the list changed.
    const ids = [...rows.keys()].join(',');
    if (ids !== shown || !list.firstChild) {
      shown = ids;
      fill(list, r.rooms.length ? [...rows.values()].map((row) => row.el) : h('p.empty', t('ui.no_rooms')));
    }
  });
  const roomRow = (r) => {
    const pw = h('input.pw', {type: 'password', placeholder: t('ui.room_password'), hidden: !r.has_password});
    const rowErr = h('div.err');
    const info = h('span.info');
    const watch = h('button.watch', {onclick: () => attempt(rowErr, () => joinRoom({room_id: r.id, spectate: true, ...(r.has_password ? {password: pw.value} : {})}))}, t('ui.watch'));
    const el = h('div.room', {dataset: {room: r.id, name: r.name}},
      h('span.name', r.name, r.has_password ? h('span.lock', {title: t('ui.has_password')}, ' 🔒') : null),
      h('span.mode', t('mode.' + r.mode)),
      info,
      pw,
      h('button.join', {onclick: () => attempt(rowErr, () => joinRoom({room_id: r.id, ...(r.has_password ? {password: pw.value} : {})}))}, t('ui.join')),
      leadsParty() ? h('button.join-party', {onclick: () => attempt(rowErr, () => joinRoom({room_id: r.id, party: true, ...(r.has_password ? {password: pw.value} : {})}))}, t('ui.join_with_party')) : null,
      watch,
      rowErr);
    return {el, update: (now) => {
      fill(info, h('span.state', t('room_state.' + now.state)), ' ', h('span.seats', `${now.players}/${now.capacity}`));
      watch.hidden = now.state !== 'playing' || !now.allow_spectators;
    }};
  };
  const code = h('input#invite-code', {placeholder: t('ui.invite_code'), maxlength: 16});
  const codePw = h('input#invite-password', {type: 'password', placeholder: t('ui.room_password')});
  const joinErr = h('div.err');
  const quick = quickPlayCard(app, redraw, enterRoom);
  const el = h('section.lobby',
    app.notice ? h('p.notice#notice', app.notice) : null,
    invitationsCard(),
    quick.el,
    partyCard(app, redraw),
    h('div.card',
      h('div.row', h('h2', t('ui.rooms')), h('button#refresh', {onclick: refresh}, t('ui.refresh'))),
      tabs, list, err),
    h('div.card',
      h('h2', t('ui.join_by_code')),
      h('form.row', {onsubmit: (e) => { e.preventDefault(); attempt(joinErr, () => joinRoom({invite_code: code.value.trim(), ...(codePw.value ? {password: codePw.value} : {})})); }},
        code, codePw, h('button#join-code', {type: 'submit'}, t('ui.join'))),
      joinErr),
    createForm(),
    h('div.card.row',
      h('button#open-traces', {onclick: () => { app.traces = true; redraw(); }}, t('traces.open')),
      h('button#open-boards', {onclick: () => { app.boards = true; redraw(); }}, t('boards.open'))));
  drawTabs();
  refresh();
  const timer = setInterval(refresh, 5000);
  return {el, destroy: () => { clearInterval(timer); quick.destroy(); }, update: refresh};
}

// Invitations from other players (room.invitation): join with the invitation's code, or dismiss.
function invitationsCard() {
  if (!app.invitations.length) return null;
  const err = h('div.err');
  const dismiss = (inv) => { app.invitations = app.invitations.filter((x) => x !== inv); redraw(); };
  return h('div.card#invitations', app.invitations.map((inv) => h('div.row.invitation', {dataset: {room: inv.room_id}},
    h('span', t('ui.invitation', {nickname: inv.from.nickname, room: inv.name, mode: t('mode.' + inv.mode)})),
    h('button.accept', {onclick: () => attempt(err, async () => { dismiss(inv); await joinRoom({invite_code: inv.invite_code}); })}, t('ui.join')),
    h('button.dismiss', {onclick: () => dismiss(inv)}, t('ui.dismiss')))), err);
}

/** Whether the player leads a party of more than one: rooms may be joined or made with it. */
function leadsParty() {
  return app.party?.leader === app.account?.id && app.party.members.length > 1;
}

async function joinRoom(data) {
  const r = await client.request('room.join', data);
  app.notice = '';
  enterRoom(r.room);
}

function createForm() {
  const err = h('div.err#create-error');
  const mode = h('select#create-mode', app.modes.map((m) => h('option', {value: m.name}, t('mode.' + m.name))));
  const name = h('input#create-name', {maxlength: 40, placeholder: t('ui.room_name'), value: t('ui.default_room_name', {name: app.account?.nickname ?? ''})});
  const capacity = h('input#create-capacity', {type: 'number', min: 1, max: 20, placeholder: t('ui.capacity')});
  const priv = h('input#create-private', {type: 'checkbox'});
  const password = h('input#create-password', {type: 'password', maxlength: 64, placeholder: t('ui.room_password_optional')});
  const spectators = h('input#create-spectators', {type: 'checkbox'});
  const withParty = h('input#create-party', {type: 'checkbox', checked: leadsParty()});
  const settings = h('div.settings#create-settings');
  const drawSettings = () => {
    if (mode.value === 'mafia') fill(settings, MafiaView.settingsForm());
    else if (mode.value === 'mystery') fill(settings, MysteryView.settingsForm(client));
    else if (mode.value === 'arena') fill(settings, ArenaView.settingsForm());
    else fill(settings);
  };
  mode.addEventListener('change', drawSettings);
  drawSettings();
  const el = h('div.card',
    h('h2', t('ui.create_room')),
    h('form.create', {onsubmit: (e) => {
      e.preventDefault();
      attempt(err, async () => {
        const s = mode.value === 'mafia' ? MafiaView.readSettings(settings)
                : mode.value === 'mystery' ? MysteryView.readSettings(settings)
                : mode.value === 'arena' ? ArenaView.readSettings(settings) : {};
        const data = {mode: mode.value, name: name.value, private: priv.checked, allow_spectators: spectators.checked, settings: s};
        if (capacity.value) data.capacity = Number(capacity.value);
        if (password.value) data.password = password.value;
        if (leadsParty() && withParty.checked) data.party = true;
        const r = await client.request('room.create', data);
        enterRoom(r.room);
      });
    }},
      h('label', t('ui.mode'), mode),
      h('label', t('ui.room_name'), name),
      h('label', t('ui.capacity'), capacity),
      h('label.check', priv, t('ui.private_room')),
      h('label.check', spectators, t('ui.allow_spectators')),
      leadsParty() ? h('label.check', withParty, t('ui.with_party')) : null,
      h('label', t('ui.room_password'), password),
      settings,
      h('button.primary#create', {type: 'submit'}, t('ui.create'))),
    err);
  return el;
}

function enterRoom(snapshot) {
  app.room = snapshot;
  app.lobbyChat = (snapshot.chat ?? []).slice();
  app.modeView?.destroy?.();
  app.modeView = null;
  if (snapshot.game) startModeView(snapshot.mode, snapshot.game);
  redraw();
}

function startModeView(mode, snapshotGame) {
  app.modeView?.destroy?.();
  if (mode === 'mafia') app.modeView = new MafiaView(app, snapshotGame);
  else if (mode === 'mystery') app.modeView = new MysteryView(app, snapshotGame);
  else if (mode === 'arena') app.modeView = new ArenaView(app, snapshotGame);
  else app.modeView = null;
}

function roomScreen() {
  const r = app.room;
  const me = r.members.find((m) => m.id === app.account.id);
  const leader = r.leader === app.account.id;
  const err = h('div.err#room-error');
  const members = h('ul.members#members', r.members.map((m) => h('li', {dataset: {player: m.id, ready: m.ready ? '1' : '0'}},
    h('span.nick', m.nickname),
    m.leader ? h('span.badge.leader', t('ui.leader')) : null,
    m.spectator ? h('span.badge', t('ui.spectator')) : null,
    r.state === 'waiting' && !m.leader && !m.spectator ? h('span.badge', {class: m.ready ? 'badge ok' : 'badge'}, m.ready ? t('ui.ready') : t('ui.not_ready')) : null,
    !m.connected ? h('span.badge.warn', t('ui.disconnected')) : null,
    leader && m.id !== app.account.id ? h('span.actions',
      h('button.small.kick', {onclick: () => attempt(err, () => client.request('room.kick', {player: m.id}))}, t('ui.kick')),
      h('button.small.transfer', {onclick: () => attempt(err, () => client.request('room.transfer', {player: m.id}))}, t('ui.make_leader'))) : null)));
  const waiting = r.state === 'waiting';
  const controls = h('div.row.controls',
    waiting && !leader && me && !me.spectator ? h('button#ready', {onclick: () => attempt(err, () => client.request('room.ready', {ready: !me.ready}))},
      me.ready ? t('ui.unready') : t('ui.ready_up')) : null,
    waiting && leader ? h('button.primary#start', {disabled: !r.can_start, onclick: () => attempt(err, () => client.request('room.start'))}, t('ui.start')) : null,
    waiting && leader && !r.can_start ? h('span.hint#start-hint', r.can_start_reason ? errorText({code: r.can_start_reason}) : t('ui.waiting_players')) : null,
    h('button#leave', {onclick: () => attempt(err, async () => { await client.request('room.leave'); leaveRoom(''); })}, t('ui.leave')));
  const inviteName = h('input#invite-nickname', {maxlength: 64, placeholder: t('ui.nickname')});
  const inviteNote = h('span.hint#invite-sent');
  const invite = h('form.row', {onsubmit: (e) => { e.preventDefault(); const nickname = inviteName.value.trim(); if (!nickname) return;
    attempt(err, async () => { await client.request('room.invite', {nickname}); inviteName.value = ''; inviteNote.textContent = t('ui.invited', {nickname}); }); }},
    inviteName, h('button#invite', {type: 'submit'}, t('ui.invite')), inviteNote);
  const chatLog = h('ol.chat#lobby-chat', app.lobbyChat.map(chatLine));
  const chatInput = h('input#chat-input', {maxlength: 500, placeholder: t('ui.say')});
  const chatErr = h('div.err');
  const chat = h('div.card.chatbox',
    h('h3', t('ui.lobby_chat')), chatLog,
    h('form.row', {onsubmit: (e) => { e.preventDefault(); const text = chatInput.value; if (!text) return;
      attempt(chatErr, async () => { await client.request('room.chat', {text}); chatInput.value = ''; }); }},
      chatInput, h('button', {type: 'submit'}, t('ui.send'))),
    chatErr);
  const el = h('section.room', {dataset: {room: r.id, state: r.state, mode: r.mode}},
    h('div.card',
      h('div.row', h('h2#room-name', r.name), h('span.mode', t('mode.' + r.mode)), h('span.state#room-state', t('room_state.' + r.state))),
      r.invite_code ? h('p', t('ui.invite_code') + ': ', h('code#room-invite', r.invite_code)) : null,
      members, controls, waiting ? invite : null, err),
    app.modeView ? app.modeView.el : null,
    // Mafia has its own channels; other modes keep the room's chat beside the game.
    app.modeView && r.mode === 'mafia' ? null : chat);
  return {
    el,
    chatLog,
    destroy: () => {},
  };
}

function chatLine(c) {
  return h('li', h('b', c.nickname + ': '), c.text);
}

function leaveRoom(reason) {
  app.room = null;
  app.modeView?.destroy?.();
  app.modeView = null;
  app.notice = reason;
  redraw();
}

// --- room events -------------------------------------------------------------------------------

function onRoomEvent(type, d) {
  const r = app.room;
  if (!r) return;
  switch (type) {
    case 'room.member_joined':
      r.members = r.members.filter((m) => m.id !== d.member.id).concat([d.member]);
      break;
    case 'room.member_left':
      r.members = r.members.filter((m) => m.id !== d.player);
      break;
    case 'room.member_ready':
      for (const m of r.members) if (m.id === d.player) m.ready = d.ready;
      break;
    case 'room.member_connection':
      for (const m of r.members) if (m.id === d.player) m.connected = d.connected;
      break;
    case 'room.leader_changed':
      r.leader = d.player;
      for (const m of r.members) m.leader = m.id === d.player;
      break;
    case 'room.can_start':
      r.can_start = d.can_start;
      r.can_start_reason = d.reason;
      break;
    case 'room.game_started':
      r.state = 'playing';
      startModeView(r.mode, null);
      break;
    case 'room.game_ended':
      r.state = 'waiting';
      for (const m of r.members) m.ready = false;
      // The mode view keeps its end screen until the player goes back to the room.
      app.modeView?.ended?.(d);
      return;
    case 'room.removed':
      // An operator's own words, when there are any, follow the reason.
      leaveRoom(t('reason.removed', {why: t('reason.' + d.reason)}) + (d.message ? ' ' + d.message : ''));
      return;
    case 'room.chat':
      if (r.state === 'waiting' || r.mode !== 'mafia') {
        app.lobbyChat.push(d);
        if (app.lobbyChat.length > 200) app.lobbyChat.shift();
        if (app.view?.chatLog) {
          app.view.chatLog.append(chatLine(d));
          app.view.chatLog.scrollTop = app.view.chatLog.scrollHeight;
        }
        return;
      }
      break;
  }
  redraw();
}

/** The mode view is done with its end screen: back to the room. */
app.backToRoom = () => {
  app.modeView?.destroy?.();
  app.modeView = null;
  redraw();
};

for (const type of ['room.member_joined', 'room.member_left', 'room.member_ready', 'room.member_connection',
  'room.leader_changed', 'room.can_start', 'room.game_started', 'room.game_ended', 'room.removed', 'room.chat']) {
  client.on(type, (d) => onRoomEvent(type, d));
}
client.on('*', (d, type) => {
  if (type === 'party.room') {
    // The party's leader took the party into a room: the player sits in it already (or, on
    // another node, is being moved there: the hello there gives the room).
    app.traces = false;
    app.boards = false;
    app.notice = '';
    if (d.room) enterRoom(d.room);
    return;
  }
  if (type.startsWith('party.') || type.startsWith('match.')) {
    // The lobby shows the party and quick play; in a room they wait for the player's return.
    if (onCompetitionEvent(app, type, d) && !app.room && !app.traces && !app.boards) redraw();
    return;
  }
  if (type.includes('.') && !type.startsWith('room.') && !type.startsWith('session.') && !type.startsWith('server.')) {
    app.modeView?.event?.(type, d);
  }
});

// --- connection --------------------------------------------------------------------------------

client.on('open', (hello) => {
  app.connection = 'online';
  // The party as the server has it (a member may have left while this page was away).
  loadCompetition(app).then(() => { if (!app.room && !app.traces && !app.boards) redraw(); },
                            (e) => console.warn('party.get', e));
  // After a reload or a dropped network, the hello reply gives back the seat.
  if (hello.room) {
    const same = app.room && app.room.id === hello.room.id;
    if (same && app.modeView && hello.room.game) {
      app.room = hello.room;
      app.modeView.restore?.(hello.room.game);
      drawHeader();
      return;
    }
    enterRoom(hello.room);
  } else if (app.room) {
    leaveRoom(t('reason.seat_lost'));
  } else {
    redraw();
  }
});
client.on('close', (c) => {
  app.connection = c.willReconnect ? 'reconnecting' : 'offline';
  drawHeader();
  if (!c.willReconnect && c.reason) {
    app.notice = t('reason.' + c.reason);
    if (!client.signedIn()) { app.account = null; app.room = null; }
    redraw();
  }
});
client.on('room.invitation', (d) => {
  app.invitations = [...app.invitations.filter((x) => x.room_id !== d.room_id), d].slice(-5);
  // In a room, the lobby shows it when the player is back there.
  if (!app.room) redraw();
});
client.on('session.closed', (d) => {
  app.notice = t('reason.' + d.reason) +
    (d.message && (d.reason === 'banned' || d.reason === 'disconnected_by_admin') ? ' ' + d.message : '');
});

async function afterSignIn() {
  app.account = await client.account();
  if (!app.account.nickname) return redraw();
  await goOnline();
}

async function goOnline() {
  drawHeader();
  if (!app.modes.length) app.modes = (await client.modes()).modes.filter((m) => m.name !== 'test.counter');
  if (!client.ready) {
    app.connection = 'connecting';
    redraw();
    await client.connect();
  } else {
    redraw();
  }
}

async function logout() {
  await client.logout().catch(() => {});
  app.account = null;
  app.room = null;
  app.modeView = null;
  app.party = null;
  app.partyInvitations = [];
  app.match = null;
  app.notice = '';
  redraw();
}

// --- start -------------------------------------------------------------------------------------

i18n.onLanguage(() => {
  document.title = t('ui.title');
  // The mode view keeps its state across a redraw; it draws its own words again.
  app.modeView?.relabel?.();
  redraw();
});

(async () => {
  await i18n.setLanguage(i18n.preferred());
  if (client.signedIn()) {
    try {
      await afterSignIn();
    } catch (e) {
      app.notice = errorText(e);
      if (e.status === 401) await client.logout().catch(() => {});
      redraw();
    }
  } else {
    redraw();
  }
})();
