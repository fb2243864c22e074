// Mafia in the browser (src/modes/mafia/README.md): the role card, the phase with a countdown on
// the server's clock, votes with the live tally, final defense, the verdict, night actions by
// role, the day / mafia / dead channels, deaths, and the end screen with every role. It shows only
// what the server sent this player: nothing here knows another player's role unless told.
import {h, fill, clock} from './dom.js';
import {t} from './i18n.js';
import {attempt} from './ui.js';
import {MeshMedia} from './media.js';
import {JanusMedia} from './janus.js';

const PHASE_FIELDS = ['day_ms', 'vote_ms', 'defense_ms', 'verdict_ms', 'night_ms'];

export class MafiaView {
  /** Inputs for the room's settings (README "Rules and options"); empty means the default. */
  static settingsForm() {
    return h('fieldset.mafia-settings',
      h('legend', t('mafia.settings')),
      PHASE_FIELDS.map((f) => h('label', t('mafia.setting.' + f),
        h('input', {type: 'number', min: 1, max: 3600, step: 'any', name: f, placeholder: t('mafia.seconds_default')}))),
      h('label.check', h('input', {type: 'checkbox', name: 'reveal_on_death'}), t('mafia.setting.reveal_on_death')),
      h('label.check', h('input', {type: 'checkbox', name: 'night_early_end'}), t('mafia.setting.night_early_end')),
      h('label.check', h('input', {type: 'checkbox', name: 'police', checked: true}), t('mafia.setting.police')));
  }

  static readSettings(el) {
    const s = {};
    for (const f of PHASE_FIELDS) {
      const v = el.querySelector(`[name=${f}]`).value;
      if (v) s[f] = Math.round(Number(v) * 1000);
    }
    for (const f of ['reveal_on_death', 'night_early_end']) {
      if (el.querySelector(`[name=${f}]`).checked) s[f] = true;
    }
    if (!el.querySelector('[name=police]').checked) s.police = false;
    return s;
  }

  constructor(app, snapshot) {
    this.app = app;
    this.client = app.client;
    this.s = {phase: 'starting', day: 0, round: 0, ends_at: 0, players: [], me: null, roles: {},
              tally: null, verdict: null, picks: {}, patient: 0, investigations: [], myVote: undefined,
              myVerdict: undefined, ended: null, accused: 0};
    this.err = h('div.err#mafia-error');
    this.roleCard = h('div.card.role-card#role-card');
    this.phaseBar = h('div.card.phase#phase');
    this.countdown = h('span.countdown#countdown');
    this.media = null;  // mafia.media: this player's own voice/video policy
    this.mesh = null;   // voice and video (media.js or janus.js), from the first mafia.media on
    this.mediaStatus = h('p.media-status#media-status');
    this.micButton = h('button.small#mute-mic', {type: 'button', onclick: () => this.mesh?.toggle('audio')});
    this.camButton = h('button.small#mute-cam', {type: 'button', onclick: () => this.mesh?.toggle('video')});
    this.selfView = h('video.self#self-view', {autoplay: true, playsinline: true, muted: true});
    this.selfView.muted = true;
    this.tiles = h('div.tiles#media-tiles');
    this.mediaPanel = h('div.card.media-panel#media-panel',
      h('h3', {dataset: {i18n: 'mafia.video_call'}}, t('mafia.video_call')), this.mediaStatus,
      h('div.row', this.micButton, this.camButton), this.selfView, this.tiles);
    this.players = h('ul.players#mafia-players');
    this.actions = h('div.actions#mafia-actions');
    this.log = h('ol.log#mafia-log');
    this.chat = h('ol.chat#mafia-chat');
    this.chatInput = h('input#mafia-chat-input', {maxlength: 500});
    this.chatHint = h('span.hint#mafia-channel');
    this.chatErr = h('div.err');
    this.endCard = h('div#mafia-end');
    this.el = h('section.mafia#mafia',
      this.endCard, this.roleCard, this.phaseBar, this.mediaPanel,
      h('div.card', h('h3', {dataset: {i18n: 'mafia.players'}}, t('mafia.players')), this.players, this.actions, this.err),
      h('div.card.chatbox',
        h('h3', {dataset: {i18n: 'mafia.chat'}}, t('mafia.chat')), this.chat,
        h('form.row', {onsubmit: (e) => { e.preventDefault(); this.say(); }},
          this.chatInput, h('button#mafia-send', {type: 'submit', dataset: {i18n: 'ui.send'}}, t('ui.send'))),
        this.chatHint, this.chatErr),
      h('div.card', h('h3', {dataset: {i18n: 'mafia.events'}}, t('mafia.events')), this.log));
    this.timer = setInterval(() => this.tick(), 250);
    if (snapshot) this.restore(snapshot);
    this.draw();
  }

  destroy() {
    clearInterval(this.timer);
    this.mesh?.close();
    this.mesh = null;
  }

  /**
   * Applies this player's media policy to the mesh, made at the first policy. Players open their
   * camera and microphone (spectators only watch). `fresh`: the page has just been reloaded.
   */
  syncMedia(fresh = false) {
    if (!this.media || this.s.ended) return;
    // The server says how: a mesh through mafia.signal, or Janus (mafia.media.transport).
    const Kind = this.media.transport === 'sfu' ? JanusMedia : MeshMedia;
    if (this.mesh && !(this.mesh instanceof Kind)) {
      this.mesh.close();
      this.mesh = null;
    }
    if (!this.mesh) {
      this.mesh = new Kind(this.client, this.app.account.id, () => this.drawMedia());
      // What the call carries, per member (getStats bytes): for the browser tests.
      this.mediaPanel.stats = () => this.mesh?.stats() ?? Promise.resolve({});
    }
    if (this.s.me && this.mesh.state === 'off') this.mesh.open();
    this.mesh.apply(this.media, fresh);
  }

  /** The call: status, mute buttons, this player's picture and one tile per member heard. */
  drawMedia() {
    const m = this.mesh;
    this.mediaPanel.hidden = !m;
    if (!m) {
      this.selfView.srcObject = null;
      fill(this.tiles);
      return;
    }
    const st = this.s.me ? m.state : 'watching';
    this.mediaStatus.dataset.state = st;
    this.mediaStatus.textContent = st === 'on' ? '' : t('mafia.media_state.' + st);
    this.mediaStatus.hidden = st === 'on';
    this.micButton.hidden = this.camButton.hidden = st !== 'on';
    this.micButton.textContent = t(m.micOn ? 'mafia.mute_mic' : 'mafia.unmute_mic');
    this.micButton.setAttribute('aria-pressed', String(!m.micOn));
    this.camButton.textContent = t(m.camOn ? 'mafia.camera_off' : 'mafia.camera_on');
    this.camButton.setAttribute('aria-pressed', String(!m.camOn));
    if (this.selfView.srcObject !== m.local) this.selfView.srcObject = m.local;
    this.selfView.hidden = !m.local;
    const heard = m.tiles().filter((x) => x.heard);
    const keep = new Set(heard.map((x) => String(x.id)));
    for (const el of [...this.tiles.children]) if (!keep.has(el.dataset.peer)) el.remove();
    for (const x of heard) {
      let el = this.tiles.querySelector(`[data-peer="${x.id}"]`);
      if (!el) {
        el = h('figure.tile', {dataset: {peer: x.id}}, h('video', {autoplay: true, playsinline: true}), h('figcaption'));
        this.tiles.append(el);
      }
      const v = el.querySelector('video');
      if (v.srcObject !== x.stream) {
        v.srcObject = x.stream;
        v.play().catch(() => {});
      }
      el.dataset.state = x.state;
      el.querySelector('figcaption').textContent = this.name(x.id);
    }
  }

  /** The language changed: the fixed labels (marked data-i18n), then everything draw() writes. */
  relabel() {
    for (const el of this.el.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
    this.draw();
  }

  /** A room snapshot's game (after a reload or a dropped network). */
  restore(g) {
    const s = this.s;
    Object.assign(s, {phase: g.phase, day: g.day, round: g.round, ends_at: g.ends_at,
                      players: g.players ?? [], accused: g.accused ?? 0, rules: g.rules});
    s.me = g.me ?? null;
    s.tally = g.tally ?? null;
    s.verdict = g.verdict ?? null;
    s.roles = {};
    if (s.me) s.roles[s.me.player] = s.me.role;
    for (const m of s.me?.team ?? []) s.roles[m.player] = m.role;
    for (const r of g.roles ?? []) s.roles[r.player] = r.role;
    s.picks = {};
    for (const p of g.mafia_picks ?? []) s.picks[p.player] = p.target;
    s.patient = g.patient ?? 0;
    s.investigations = g.investigations ?? [];
    this.media = g.media ?? null;
    this.syncMedia(!this.mesh);
    fill(this.chat);
    for (const c of g.chat ?? []) this.chatLine(c);
    this.draw();
  }

  name(id) {
    return this.s.players.find((p) => p.player === id)?.nickname ?? this.app.nicknameOf(id);
  }

  alive(id) {
    return !!this.s.players.find((p) => p.player === id)?.alive;
  }

  note(text, kind = '') {
    this.log.append(h('li', {dataset: {kind}}, text));
    this.log.scrollTop = this.log.scrollHeight;
  }

  chatLine(c) {
    this.chat.append(h('li', {dataset: {channel: c.channel}},
      h('span.channel', t('mafia.channel.' + c.channel)), ' ', h('b', c.nickname + ': '), c.text));
    this.chat.scrollTop = this.chat.scrollHeight;
  }

  event(type, d) {
    const s = this.s;
    switch (type) {
      case 'mafia.started':
        s.players = d.players.map((p) => ({...p, alive: true}));
        s.rules = d.rules;
        this.note(t('mafia.started', {mafia: d.counts.mafia, doctor: d.counts.doctor, police: d.counts.police, citizen: d.counts.citizen}));
        break;
      case 'mafia.role':
        s.me = {player: d.player, role: d.role, team: d.team, alive: true};
        s.roles[d.player] = d.role;
        for (const m of d.team ?? []) s.roles[m.player] = m.role;
        this.syncMedia();
        break;
      case 'mafia.phase':
        Object.assign(s, {phase: d.phase, day: d.day, round: d.round, ends_at: d.ends_at, accused: d.accused ?? 0});
        if (d.phase === 'vote') { s.tally = {tally: [], abstained: []}; s.myVote = undefined; }
        if (d.phase === 'verdict') { s.verdict = {yes: 0, no: 0}; s.myVerdict = undefined; }
        if (d.phase === 'night') { s.picks = {}; s.patient = 0; }
        this.note(t('mafia.phase_began', {phase: t('mafia.phase.' + d.phase), day: d.day}), 'phase');
        break;
      case 'mafia.vote_tally':
        s.tally = d;
        break;
      case 'mafia.vote_result':
        this.note(d.accused ? t('mafia.accused', {name: this.name(d.accused)}) : t('mafia.no_accused'), 'vote');
        break;
      case 'mafia.verdict_tally':
        s.verdict = d;
        break;
      case 'mafia.verdict_result':
        this.note(t(d.executed ? 'mafia.executed' : 'mafia.spared', {name: this.name(d.player), yes: d.yes, no: d.no}), 'verdict');
        break;
      case 'mafia.kill_pick':
        s.picks[d.player] = d.target;
        break;
      case 'mafia.heal_pick':
        s.patient = d.target;
        break;
      case 'mafia.investigation':
        s.investigations.push(d);
        this.note(t(d.is_mafia ? 'mafia.is_mafia' : 'mafia.not_mafia', {name: this.name(d.player)}), 'investigation');
        break;
      case 'mafia.night_result':
        this.note(d.killed ? t('mafia.killed_at_night', {name: this.name(d.killed)}) : t('mafia.nobody_died'), 'night');
        break;
      case 'mafia.death':
        for (const p of s.players) if (p.player === d.player) p.alive = false;
        if (d.role) s.roles[d.player] = d.role;
        if (s.me && d.player === s.me.player) s.me.alive = false;
        this.note(t('mafia.death.' + d.cause, {name: this.name(d.player)}) +
                  (d.role ? ' ' + t('mafia.was_role', {role: t('mafia.role.' + d.role)}) : ''), 'death');
        break;
      case 'mafia.roles':
        for (const r of d.roles) s.roles[r.player] = r.role;
        break;
      case 'mafia.chat':
        this.chatLine(d);
        return;
      case 'mafia.media':
        this.media = d;
        this.syncMedia();
        break;
      case 'mafia.signal':
        this.mesh?.signal(d);
        return;
      default:
        return;
    }
    this.draw();
  }

  /** room.game_ended: the end screen with every role. */
  ended(d) {
    const r = d.result ?? {};
    this.s.ended = r;
    this.s.phase = 'over';
    for (const p of r.players ?? []) this.s.roles[p.player] = p.role;
    this.mesh?.close();
    this.mesh = null;
    this.draw();
  }

  tick() {
    const left = this.client.remaining(this.s.ends_at);
    this.countdown.textContent = this.s.ended || !this.s.ends_at ? '' : clock(left);
  }

  async say() {
    const text = this.chatInput.value;
    if (!text) return;
    await attempt(this.chatErr, async () => {
      await this.client.request('room.chat', {text});
      this.chatInput.value = '';
    });
  }

  act(type, data) {
    return attempt(this.err, async () => {
      const r = await this.client.request(type, data);
      if (type === 'mafia.vote') this.s.myVote = r.target ?? null;
      if (type === 'mafia.verdict') this.s.myVerdict = r.yes;
      this.draw();
    });
  }

  /** Who hears this player and whom they hear now (the server's media policy). */
  mediaLine() {
    const m = this.media;
    if (!m || this.s.ended) return null;
    const names = (ids) => (ids.length ? ids.map((i) => this.name(i)).join(', ') : t('mafia.nobody'));
    return h('p.media#media', {dataset: {hear: m.hear.length, heard: m.publish_to.length}},
      '🎙 ', t('mafia.heard_by', {names: names(m.publish_to)}), ' · 🔈 ', t('mafia.you_hear', {names: names(m.hear)}));
  }

  /** The channel the server would put this player's words in now (a hint; the server decides). */
  channel() {
    const s = this.s;
    if (s.ended) return null;
    if (!s.me || !s.me.alive) return 'dead';
    if (s.phase === 'night') return s.me.role === 'mafia' ? 'mafia' : null;
    if (s.phase === 'defense') return s.accused === s.me.player ? 'day' : null;
    return 'day';
  }

  draw() {
    const s = this.s;
    const me = s.me;
    // The role card: only the player's own role (and the mafia's team).
    fill(this.roleCard,
      me ? [h('h3', t('mafia.your_role')),
            h('p.role-name#role-name', {dataset: {role: me.role}}, t('mafia.role.' + me.role)),
            h('p.hint', t('mafia.role_help.' + me.role)),
            me.team?.length > 1 ? h('p#team', t('mafia.team') + ': ', me.team.map((m) => this.name(m.player)).join(', ')) : null,
            !me.alive ? h('p.dead#you-are-dead', t('mafia.you_are_dead')) : null]
         : h('p', t('mafia.spectating')));
    this.roleCard.dataset.role = me?.role ?? '';
    fill(this.phaseBar,
      h('span.phase-name#phase-name', {dataset: {phase: s.phase}}, t('mafia.phase.' + s.phase)),
      s.day ? h('span', ' ' + t('mafia.day_n', {day: s.day}) + (s.round > 1 ? ' · ' + t('mafia.round_n', {round: s.round}) : '')) : null,
      ' ', this.countdown,
      this.mediaLine(),
      s.accused && (s.phase === 'defense' || s.phase === 'verdict') ? h('p#accused', {dataset: {player: s.accused}}, t('mafia.on_trial', {name: this.name(s.accused)})) : null);
    this.phaseBar.dataset.phase = s.phase;
    this.phaseBar.dataset.day = String(s.day);
    this.tick();
    this.drawMedia();

    // Tallies and picks belong to their phase: gone once it is over.
    const votes = {};
    if (s.phase === 'vote') for (const e of s.tally?.tally ?? []) votes[e.target] = e.voters;
    const picks = s.phase === 'night' ? s.picks : {};
    const patient = s.phase === 'night' ? s.patient : 0;
    const alive = me?.alive && !s.ended;
    const night = s.phase === 'night' && alive;
    fill(this.players, s.players.map((p) => {
      const role = s.roles[p.player];
      const mine = me && p.player === me.player;
      const buttons = [];
      if (alive && p.alive && !mine && s.phase === 'vote') {
        buttons.push(h('button.small.vote', {onclick: () => this.act('mafia.vote', {target: p.player}), class: s.myVote === p.player ? 'small vote on' : 'small vote'}, t('mafia.vote')));
      }
      if (night && p.alive && me.role === 'mafia' && role !== 'mafia') {
        buttons.push(h('button.small.kill', {onclick: () => this.act('mafia.kill', {target: p.player})}, t('mafia.kill')));
      }
      if (night && p.alive && me.role === 'doctor' && (!mine || s.rules?.doctor_self_heal !== false)) {
        buttons.push(h('button.small.heal', {onclick: () => this.act('mafia.heal', {target: p.player})}, t('mafia.heal')));
      }
      if (night && p.alive && me.role === 'police' && !mine) {
        buttons.push(h('button.small.investigate', {onclick: () => this.act('mafia.investigate', {target: p.player})}, t('mafia.investigate')));
      }
      const pickers = Object.entries(picks).filter(([, tg]) => tg === p.player).map(([m]) => this.name(Number(m)));
      return h('li', {dataset: {player: p.player, alive: p.alive ? '1' : '0', role: role ?? ''}},
        h('span.nick', p.nickname), mine ? h('span.badge', t('mafia.you')) : null,
        !p.alive ? h('span.badge.dead', t('mafia.dead')) : null,
        role ? h('span.badge.role', t('mafia.role.' + role)) : null,
        votes[p.player] ? h('span.votes', {dataset: {votes: votes[p.player].length}}, t('mafia.votes_n', {n: votes[p.player].length})) : null,
        pickers.length ? h('span.badge.pick', t('mafia.mafia_pick', {names: pickers.join(', ')})) : null,
        patient === p.player ? h('span.badge.pick', t('mafia.patient')) : null,
        buttons);
    }));

    const acts = [];
    if (alive && s.phase === 'vote') {
      acts.push(h('button#abstain', {onclick: () => this.act('mafia.vote', {})}, t('mafia.abstain')));
      acts.push(h('p#tally', t('mafia.abstained_n', {n: s.tally?.abstained?.length ?? 0})));
    }
    if (alive && s.phase === 'verdict' && s.accused !== me.player) {
      acts.push(h('button#verdict-yes', {onclick: () => this.act('mafia.verdict', {yes: true})}, t('mafia.execute')));
      acts.push(h('button#verdict-no', {onclick: () => this.act('mafia.verdict', {yes: false})}, t('mafia.spare')));
    }
    if (s.phase === 'verdict') acts.push(h('p#verdict-tally', {dataset: {yes: s.verdict?.yes ?? 0, no: s.verdict?.no ?? 0}}, t('mafia.verdict_counts', {yes: s.verdict?.yes ?? 0, no: s.verdict?.no ?? 0})));
    if (night && me.role === 'citizen') acts.push(h('p.hint', t('mafia.night_wait')));
    for (const i of (me?.role === 'police' || !me?.alive) ? s.investigations : []) {
      acts.push(h('p.investigation', {dataset: {player: i.player, mafia: i.is_mafia ? '1' : '0'}},
        t(i.is_mafia ? 'mafia.is_mafia' : 'mafia.not_mafia', {name: this.name(i.player)})));
    }
    fill(this.actions, acts);

    const ch = this.channel();
    this.chatHint.textContent = ch ? t('mafia.speaking_in', {channel: t('mafia.channel.' + ch)})
                                   : s.ended ? '' : t('mafia.silent');
    this.chatHint.dataset.channel = ch ?? '';

    if (s.ended) {
      const r = s.ended;
      fill(this.endCard, h('div.card.end',
        h('h2#winner', {dataset: {winner: r.winner}}, t('mafia.winner.' + r.winner)),
        h('table#final-roles',
          h('tr', h('th', t('mafia.player')), h('th', t('mafia.role_col')), h('th', t('mafia.alive_col')), h('th', t('mafia.result_col'))),
          (r.players ?? []).map((p) => h('tr', {dataset: {player: p.player, role: p.role}},
            h('td', p.nickname), h('td', t('mafia.role.' + p.role)), h('td', p.alive ? '✓' : '✗'),
            h('td', p.won ? t('mafia.won') : t('mafia.lost'))))),
        h('button.primary#back-to-room', {onclick: () => this.app.backToRoom()}, t('mafia.back_to_room'))));
    } else {
      fill(this.endCard);
    }
  }
}

