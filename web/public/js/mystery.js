// Mystery in the browser (src/modes/mystery/README.md): the scenario's story as lines (NPC and
// narrator lines stream in; a "thinking" mark while one is pending), the player's place, exits,
// items, inventory, journal and health, whose turn it is with its deadline, and the ending with
// the casebook. Commands are typed (English or Korean) or chosen from buttons (mystery.do).
import {h, fill, clock} from './dom.js';
import {t, errorText, current} from './i18n.js';
import {attempt} from './ui.js';

export class MysteryView {
  static settingsForm(client) {
    const select = h('select', {name: 'scenario'});
    const summary = h('p.hint#scenario-summary');
    const scenarios = [];
    const showSummary = () => {
      const s = scenarios.find((x) => x.id === select.value);
      fill(summary, s ? [s.summary, ' ', t('mystery.players_range', {min: s.players.min, max: s.players.max}),
                         ' · ', t('mystery.minutes', {n: s.minutes ?? '?'})] : '');
    };
    select.addEventListener('change', showSummary);
    client.rest('GET', '/v1/mystery/scenarios', undefined, {auth: false}).then((r) => {
      scenarios.push(...r.scenarios);
      fill(select, r.scenarios.map((s) => h('option', {value: s.id, dataset: {language: s.language}},
        `${s.title} (${s.language})`)));
      // A scenario in the player's language first.
      const mine = r.scenarios.find((s) => s.language === current());
      if (mine) select.value = mine.id;
      showSummary();
    }).catch((e) => fill(summary, errorText(e)));
    return h('fieldset.mystery-settings#scenario-list',
      h('legend', t('mystery.settings')),
      h('label', t('mystery.scenario'), select), summary,
      h('label', t('mystery.turn_seconds'), h('input', {type: 'number', name: 'turn_s', min: 0, max: 3600, placeholder: t('mystery.default')})),
      h('label.check', h('input', {type: 'checkbox', name: 'llm', checked: true}), t('mystery.use_llm')));
  }

  static readSettings(el) {
    const s = {scenario: el.querySelector('[name=scenario]').value};
    const turn = el.querySelector('[name=turn_s]').value;
    if (turn !== '') s.turn_ms = Math.round(Number(turn) * 1000);
    if (!el.querySelector('[name=llm]').checked) s.llm = false;
    return s;
  }

  constructor(app, snapshot) {
    this.app = app;
    this.client = app.client;
    this.state = null;          // the latest mystery.state
    this.turn = null;           // {player, round, ends_at}
    this.lines = new Map();     // line id → its <li>
    this.title = h('h2#mystery-title');
    this.story = h('ol.story#story', {'aria-live': 'polite'});
    this.input = h('input#command', {maxlength: 2000, autocomplete: 'off'});
    this.err = h('div.err#mystery-error');
    this.side = h('div.side#mystery-side');
    this.turnBar = h('p.turn#turn');
    this.quick = h('div.row.quick#quick');
    this.endCard = h('div#mystery-end');
    this.el = h('section.mystery#mystery',
      h('div.card', this.title, this.turnBar),
      this.endCard,
      h('div.cols',
        h('div.card.storybox', this.story,
          h('form.row#command-form', {onsubmit: (e) => { e.preventDefault(); this.send(); }},
            this.input, h('button#command-send', {type: 'submit', dataset: {i18n: 'mystery.act'}}, t('mystery.act'))),
          this.quick, this.err),
        this.side));
    this.timer = setInterval(() => this.drawTurn(), 500);
    if (snapshot) this.restore(snapshot);
    this.relabel();
  }

  destroy() {
    clearInterval(this.timer);
  }

  /** The language changed: the fixed labels (marked data-i18n), then everything draw() writes. */
  relabel() {
    for (const el of this.el.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
    this.input.placeholder = t('mystery.command_placeholder');
    this.draw();
  }

  restore(g) {
    this.title.textContent = g.scenario?.title ?? '';
    fill(this.story);
    this.lines.clear();
    if (g.intro) this.story.append(h('li.intro', g.intro));
    for (const l of g.recent_lines ?? []) this.line(l);
    this.state = g;
    if (g.turn) this.turn = {player: g.turn, round: g.round, ends_at: g.turn_ends_at};
    this.draw();
  }

  name(id) {
    return this.app.nicknameOf(id);
  }

  /** Adds or extends a line: pending ones show a thinking mark until their words arrive. */
  line(d) {
    let li = this.lines.get(d.line);
    if (!li) {
      li = h('li.line', {dataset: {line: d.line, kind: d.kind ?? 'narration'}},
        d.npc_name ? h('b.speaker', d.npc_name + ': ') : null, h('span.text'), h('span.thinking', {title: t('mystery.thinking')}, ' …'));
      this.lines.set(d.line, li);
      this.story.append(li);
    }
    const text = li.querySelector('.text');
    if (d.delta) text.textContent += d.delta;
    if (d.text !== undefined && (d.done || d.pending === undefined)) text.textContent = d.text;
    if (d.done || d.source === 'offline' || d.text !== undefined) {
      li.dataset.done = '1';
      li.dataset.source = d.source ?? '';
      li.querySelector('.thinking')?.remove();
    }
    this.story.scrollTop = this.story.scrollHeight;
  }

  event(type, d) {
    switch (type) {
      case 'mystery.started':
        this.title.textContent = d.scenario.title;
        this.story.append(h('li.intro', d.intro));
        this.players = d.players;
        break;
      case 'mystery.pending':
        this.line({...d, pending: true});
        break;
      case 'mystery.line':
        this.line(d);
        break;
      case 'mystery.state':
        this.state = d;
        break;
      case 'mystery.turn':
        this.turn = d;
        fill(this.err);  // an "out of turn" refusal is old news once the turn moves
        break;
      case 'mystery.rejected':
        fill(this.err, h('p.error', {dataset: {code: d.code}}, errorText(d)));
        break;
      case 'mystery.ended':
        this.ending = d;
        // A line still pending when the game ends gets no final frame from the server (the mode
        // is gone): stop showing it as thinking.
        for (const li of this.story.querySelectorAll('li.line:not([data-done])')) {
          li.dataset.done = '0';
          li.querySelector('.thinking')?.remove();
        }
        break;
      case 'mystery.casebook':
        this.loadCasebook(d);
        break;
      default:
        return;
    }
    this.draw();
  }

  ended() {
    this.draw();
  }

  async loadCasebook(d) {
    this.casebook = {loading: true};
    this.draw();
    try {
      const r = await this.client.rest('GET', `/v1/games/${encodeURIComponent(d.game_id)}/casebook`);
      this.casebook = {markdown: r.markdown, title: r.title, author: r.author};
    } catch (e) {
      this.casebook = {error: errorText(e)};
    }
    this.draw();
  }

  send() {
    const text = this.input.value.trim();
    if (!text) return;
    this.story.append(h('li.me', '> ' + text));
    attempt(this.err, async () => {
      this.input.value = '';
      await this.client.request('mystery.act', {text});
    });
  }

  do(verb, object) {
    attempt(this.err, () => this.client.request('mystery.do', object ? {verb, object} : {verb}));
  }

  drawTurn() {
    const tr = this.turn;
    if (!tr || !tr.player || this.ending) {
      fill(this.turnBar, this.state?.round ? t('mystery.round_n', {n: this.state.round}) : '');
      return;
    }
    const mine = tr.player === this.app.account.id;
    const left = this.client.remaining(tr.ends_at);
    fill(this.turnBar, h('span#whose-turn', {dataset: {mine: mine ? '1' : '0'}},
      mine ? t('mystery.your_turn') : t('mystery.turn_of', {name: this.name(tr.player)})),
      ' · ', t('mystery.round_n', {n: tr.round}),
      tr.ends_at ? h('span.countdown', ' ' + clock(left)) : null);
  }

  draw() {
    const s = this.state;
    this.drawTurn();
    const over = !!this.ending;
    this.input.disabled = over;
    fill(this.quick, over ? null : [
      ['look', 'mystery.look'], ['inventory', 'mystery.inventory'], ['journal', 'mystery.journal'],
      ['hint', 'mystery.hint'], ['pass', 'mystery.pass'],
    ].map(([verb, key]) => h('button.small', {dataset: {verb}, onclick: () => this.do(verb)}, t(key))),
    !over ? (s?.exits ?? []).map((e) => h('button.small.exit', {dataset: {exit: e.direction}, onclick: () => this.do('go', e.direction)},
      t('mystery.go', {dir: e.direction, to: e.to}) + (e.locked ? ' 🔒' : ''))) : null);
    if (s) {
      fill(this.side,
        h('div.card#place', h('h3', t('mystery.place')), h('p#place-name', s.location?.name ?? ''),
          s.health !== undefined ? h('p#health', t('mystery.health', {n: s.health, max: s.max_health})) : null,
          s.alive === false ? h('p.dead', t('mystery.you_died')) : null,
          list(t('mystery.items_here'), 'items-here', s.items, (i) => i.name),
          list(t('mystery.people_here'), 'npcs-here', s.npcs, (n) => n.name)),
        h('div.card', list(t('mystery.inventory'), 'inventory', s.inventory, (i) => i.name)),
        h('div.card', list(t('mystery.journal'), 'journal', s.journal, (c) => [h('b', c.title), ' ', c.text])));
    }
    if (over) {
      const e = this.ending;
      const cb = this.casebook;
      fill(this.endCard, h('div.card.end#ending', {dataset: {ending: e.ending, kind: e.kind}},
        h('h2', e.title), h('p', e.text),
        h('h3', t('mystery.casebook')),
        !cb || cb.loading ? h('p.hint#casebook-wait', t('mystery.casebook_writing'))
          : cb.error ? h('p.error', cb.error)
          : h('div#casebook', {dataset: {author: cb.author}}, h('p.hint', t('mystery.casebook_by.' + cb.author)), h('pre.casebook', cb.markdown)),
        h('button.primary#back-to-room', {onclick: () => this.app.backToRoom()}, t('mafia.back_to_room'))));
    }
  }
}

function list(title, id, items, show) {
  return h('div', h('h4', title), items?.length ? h('ul#' + id, items.map((i) => h('li', show(i)))) : h('p.empty#' + id, '—'));
}
