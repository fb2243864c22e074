// Competition in the browser (README "Competition"): the party card and quick play on the lobby,
// and the leaderboards screen. The server keeps the truth: a party (party.*), one matchmaking
// ticket (match.*), ratings computed from stored games (rating.get) and the season's boards
// (GET /v1/leaderboards, leaderboard.get / leaderboard.around). This file keeps only what the page
// shows of them: app.party, app.partyInvitations and app.match, kept current by party.* and
// match.* events (onCompetitionEvent).
import {h, fill, clock} from './dom.js';
import {t} from './i18n.js';
import {attempt} from './ui.js';

// --- state kept from the server's events ---------------------------------------------------------

/** Applies a party.* or match.* event to `app`; true when the lobby should redraw. */
export function onCompetitionEvent(app, type, d) {
  const p = app.party;
  switch (type) {
    case 'party.invitation':
      app.partyInvitations = [...app.partyInvitations.filter((x) => x.party_id !== d.party_id), d].slice(-5);
      return true;
    case 'party.member_joined':
      if (p) p.members = p.members.filter((m) => m.id !== d.member.id).concat([d.member]);
      return true;
    case 'party.member_left':
      if (p) p.members = p.members.filter((m) => m.id !== d.player);
      return true;
    case 'party.leader_changed':
      if (p) p.leader = d.player;
      return true;
    case 'party.presence':
      for (const m of p?.members ?? []) {
        if (m.id === d.player) { m.online = d.online; m.room_id = d.room_id ?? null; }
      }
      return true;
    case 'party.chat':
      if (p) {
        p.chat = [...(p.chat ?? []), d].slice(-50);
        // The chat log is appended in place: a redraw would take the focus from the input.
        app.partyChatLog?.append(partyChatLine(d));
        return false;
      }
      return true;
    case 'party.removed':
      app.party = null;
      app.notice = t('party.removed');
      return true;
    case 'match.searching':
      app.match = {state: 'searching', mode: d.mode, since: Date.now(), ticket: d.ticket};
      return true;
    case 'match.found':
      app.match = {state: 'found', mode: d.mode, found: d, since: app.match?.since ?? Date.now()};
      return true;
    case 'match.requeued':
      app.match = {state: 'searching', mode: app.match?.mode, since: Date.now(), requeued: true};
      return true;
    case 'match.cancelled':
      app.match = null;
      app.notice = t('quick.cancelled.' + d.reason);
      return true;
  }
  return false;
}

/** After a (re)connection: the party as the server has it; a ticket does not outlive a socket. */
export async function loadCompetition(app) {
  app.match = null;
  const r = await app.client.request('party.get');
  app.party = r.party ?? null;
}

function partyChatLine(c) {
  return h('li', h('b', c.nickname + ': '), c.text);
}

// --- the party card ----------------------------------------------------------------------------

/** The lobby's party card: make or join a party, or the party with its members and chat. */
export function partyCard(app, redraw) {
  const {client} = app;
  const err = h('div.err#party-error');
  const run = (fn) => attempt(err, async () => { await fn(); redraw(); });
  const invitations = app.partyInvitations.map((inv) => h('div.row.party-invitation', {dataset: {party: inv.party_id}},
    h('span', t('party.invitation', {nickname: inv.from.nickname})),
    h('button.accept', {onclick: () => run(async () => {
      app.partyInvitations = app.partyInvitations.filter((x) => x !== inv);
      app.party = (await client.request('party.accept', {party_id: inv.party_id})).party;
    })}, t('ui.join')),
    h('button.dismiss', {onclick: () => { app.partyInvitations = app.partyInvitations.filter((x) => x !== inv); redraw(); }},
      t('ui.dismiss'))));
  const p = app.party;
  if (!p) {
    const code = h('input#party-code', {maxlength: 16, placeholder: t('party.code')});
    return h('div.card#party', h('h2', t('party.title')), h('p.hint', t('party.intro')), invitations,
      h('div.row',
        h('button#party-create', {onclick: () => run(async () => { app.party = (await client.request('party.create')).party; })},
          t('party.create')),
        h('form.row', {onsubmit: (e) => { e.preventDefault(); run(async () => {
          app.party = (await client.request('party.join', {code: code.value.trim()})).party; }); }},
          code, h('button#party-join', {type: 'submit'}, t('party.join')))),
      err);
  }
  const me = app.account.id;
  const leader = p.leader === me;
  const members = h('ul.members#party-members', p.members.map((m) => h('li', {dataset: {player: m.id, online: m.online ? '1' : '0'}},
    h('span.nick', m.nickname),
    m.id === p.leader ? h('span.badge.leader', t('ui.leader')) : null,
    h('span', {class: m.online ? 'badge ok' : 'badge warn'}, m.online ? (m.room_id ? t('party.in_room') : t('party.online')) : t('party.offline')),
    leader && m.id !== me ? h('span.actions',
      h('button.small.kick', {onclick: () => run(() => client.request('party.kick', {player: m.id}))}, t('ui.kick')),
      h('button.small.transfer', {onclick: () => run(() => client.request('party.transfer', {player: m.id}))}, t('ui.make_leader'))) : null)));
  const inviteName = h('input#party-invite-nickname', {maxlength: 64, placeholder: t('ui.nickname')});
  const inviteNote = h('span.hint#party-invite-sent');
  const chatLog = h('ol.chat#party-chat', (p.chat ?? []).map(partyChatLine));
  app.partyChatLog = chatLog;
  const chatInput = h('input#party-chat-input', {maxlength: 500, placeholder: t('ui.say')});
  return h('div.card#party', {dataset: {party: p.id}},
    h('div.row', h('h2', t('party.title')), h('span.hint', t('party.code') + ': ', h('code#party-code-shown', p.code))),
    members,
    h('form.row', {onsubmit: (e) => { e.preventDefault(); const nickname = inviteName.value.trim(); if (!nickname) return;
      attempt(err, async () => { await client.request('party.invite', {nickname}); inviteName.value = ''; inviteNote.textContent = t('ui.invited', {nickname}); }); }},
      inviteName, h('button#party-invite', {type: 'submit'}, t('ui.invite')), inviteNote),
    chatLog,
    h('form.row', {onsubmit: (e) => { e.preventDefault(); const text = chatInput.value; if (!text) return;
      attempt(err, async () => { await client.request('party.chat', {text}); chatInput.value = ''; }); }},
      chatInput, h('button#party-say', {type: 'submit'}, t('ui.send'))),
    h('div.row', h('button#party-leave', {onclick: () => run(async () => { await client.request('party.leave'); app.party = null; })}, t('party.leave'))),
    err);
}

// --- quick play ---------------------------------------------------------------------------------

/** The lobby's quick-play card: queue for a mode (alone or with the party), wait, take the seat
 * (`enterRoom` gets the room's snapshot). */
export function quickPlayCard(app, redraw, enterRoom) {
  const {client} = app;
  const err = h('div.err#quick-error');
  const m = app.match;
  let timer = 0;
  const el = h('div.card#quick-play', {dataset: {state: m?.state ?? 'idle'}}, h('h2', t('quick.title')));
  if (!m) {
    // The mode chosen last stays chosen when the card is drawn again (after a cancel, say).
    const mode = h('select#quick-mode', {onchange: () => { app.quickMode = mode.value; }},
      app.modes.map((x) => h('option', {value: x.name, selected: x.name === app.quickMode}, t('mode.' + x.name))));
    const leaderOnly = app.party && app.party.leader !== app.account.id;
    el.append(
      h('p.hint', app.party ? t('quick.with_party', {n: app.party.members.length}) : t('quick.intro')),
      h('div.row', mode,
        h('button.primary#quick-start', {disabled: leaderOnly, onclick: () => attempt(err, async () => {
          const r = await client.request('match.start', {mode: mode.value});
          app.match = {state: 'searching', mode: r.mode, since: Date.now(), ticket: r.ticket};
          redraw();
        })}, t('quick.start'))),
      leaderOnly ? h('p.hint', t('quick.leader_queues')) : null);
  } else if (m.state === 'searching') {
    const waited = h('span#quick-waited');
    const tick = () => fill(waited, clock(Date.now() - m.since));
    tick();
    timer = setInterval(tick, 1000);
    el.append(
      h('p#quick-searching', m.requeued ? t('quick.requeued') : t('quick.searching', {mode: t('mode.' + m.mode)}), ' ', waited),
      h('button#quick-cancel', {onclick: () => attempt(err, async () => {
        await client.request('match.cancel');
        app.match = null;
        redraw();
      })}, t('ui.cancel')));
  } else {
    const left = h('span#quick-left');
    const tick = () => fill(left, clock(Math.max(0, client.remaining(m.found.join_by))));
    tick();
    timer = setInterval(tick, 500);
    el.append(
      h('p#quick-found', t('quick.found', {mode: t('mode.' + m.mode), n: m.found.players.length}), ' ', left),
      h('button.primary#quick-join', {onclick: () => attempt(err, async () => {
        const r = await client.request('match.join');
        app.match = null;
        enterRoom(r.room);
      })}, t('quick.join')));
  }
  el.append(err);
  return {el, destroy: () => clearInterval(timer)};
}

// --- leaderboards -------------------------------------------------------------------------------

const PAGE = 20;

/** A board's name in the player's language (the server's summary for boards we have no words for). */
function boardLabel(b) {
  if (b.name.startsWith('mystery.escape.')) return t('boards.mystery_escape', {scenario: b.name.slice('mystery.escape.'.length)});
  const key = 'boards.' + b.name.replaceAll('.', '_');
  const s = t(key);
  return s === key ? (b.summary || b.name) : s;
}

/** A rating key (mafia, arena, arena_1v1, ...) in the player's language. */
function keyLabel(k) {
  const key = 'boards.keys.' + k;
  const s = t(key);
  return s === key ? k : s;
}

/** A board's value as the board means it: ratings and counts as numbers, escape times as m:ss. */
function boardValue(board, v) {
  if (board.startsWith('mystery.escape.')) return clock(v);
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

/** The leaderboards screen: the season's boards, a page of a board, my rank, my ratings. */
export class LeaderboardsView {
  constructor(app, close) {
    this.app = app;
    this.client = app.client;
    this.offset = 0;
    this.board = null;
    this.boards = [];
    this.select = h('select#board', {onchange: () => { this.board = this.select.value; this.offset = 0; this.load(); }});
    this.season = h('p.hint#season');
    this.table = h('table.board#board-entries');
    this.pager = h('div.row');
    this.mine = h('div#board-me');
    this.ratings = h('table.board#my-ratings');
    this.err = h('div.err#boards-error');
    this.el = h('section#leaderboards',
      h('div.card',
        h('div.row', h('h2', t('boards.title')), h('button#close-boards', {onclick: close}, t('traces.back'))),
        this.season,
        h('label', t('boards.board'), this.select),
        this.table, this.pager,
        h('div.row', h('button#board-around', {onclick: () => this.around()}, t('boards.around_me'))),
        this.mine, this.err),
      h('div.card', h('h3', t('boards.my_ratings')), this.ratings));
    this.start();
  }

  async start() {
    await attempt(this.err, async () => {
      const r = await this.client.rest('GET', '/v1/leaderboards');
      this.boards = r.boards;
      const ends = r.season.ends_at ? new Date(r.season.ends_at).toISOString().slice(0, 10) : '—';
      fill(this.season, t('boards.season', {start: new Date(r.season.starts_at).toISOString().slice(0, 10), end: ends}));
      fill(this.select, this.boards.map((b) => h('option', {value: b.name}, boardLabel(b))));
      this.board = this.boards[0]?.name ?? null;
      await this.load();
    });
    await attempt(this.err, async () => {
      const r = await this.client.request('rating.get');
      const keys = Object.keys(r.ratings);
      fill(this.ratings, keys.length
        ? [h('tr', h('th', t('boards.rating_key')), h('th', t('boards.rating')), h('th', t('boards.games'))),
           ...keys.map((k) => h('tr', {dataset: {key: k}}, h('td', keyLabel(k)), h('td.num', Math.round(r.ratings[k].display)),
                                  h('td.num', r.ratings[k].games)))]
        : h('tr', h('td', t('boards.no_ratings'))));
    });
  }

  rows(entries) {
    const me = this.app.account.id;
    return [h('tr', h('th', '#'), h('th', t('ui.nickname')), h('th', t('boards.value'))),
      ...entries.map((e) => h('tr', {dataset: {rank: e.rank, account: e.account_id, me: e.account_id === me ? '1' : '0'}},
        h('td.num', e.rank), h('td', e.nickname ?? '#' + e.account_id), h('td.num', boardValue(this.board, e.value))))];
  }

  async load() {
    if (!this.board) return fill(this.table, h('tr', h('td', t('boards.none'))));
    await attempt(this.err, async () => {
      const r = await this.client.request('leaderboard.get', {board: this.board, offset: this.offset, limit: PAGE});
      fill(this.table, r.entries.length ? this.rows(r.entries) : h('tr', h('td#board-empty', t('boards.empty'))));
      fill(this.pager,
        this.offset > 0 ? h('button#board-prev', {onclick: () => { this.offset = Math.max(0, this.offset - PAGE); this.load(); }}, t('boards.prev')) : null,
        h('span.hint', t('boards.total', {n: r.total})),
        this.offset + PAGE < r.total ? h('button#board-next', {onclick: () => { this.offset += PAGE; this.load(); }}, t('boards.next')) : null);
      fill(this.mine);
    });
  }

  async around() {
    await attempt(this.err, async () => {
      const r = await this.client.request('leaderboard.around', {board: this.board, radius: 5});
      fill(this.mine, r.me
        ? [h('p#board-my-rank', t('boards.my_rank', {rank: r.me.rank, total: r.total})), h('table.board', this.rows(r.entries))]
        : h('p#board-my-rank', t('boards.not_ranked')));
    });
  }
}
