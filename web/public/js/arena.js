// Arena in the browser (src/modes/arena/README.md): the whole map on a canvas, the own player
// predicted and the others interpolated by the SDK (/sdk/arena.js), moved with WASD or the arrow
// keys, aimed with the mouse and fired with its button; on a touch screen, moved with a thumb
// stick under the map and aimed and fired by touching the map (both at once: pointer events keep
// each finger apart); ping, tick and the prediction error on top; health, kills and deaths beside;
// the standings at the end. The server decides every hit.
import {h, fill} from './dom.js';
import {t} from './i18n.js';
import {ArenaGame} from '/sdk/arena.js';

const KEYS = {
  KeyW: 'up', ArrowUp: 'up', KeyS: 'down', ArrowDown: 'down',
  KeyA: 'left', ArrowLeft: 'left', KeyD: 'right', ArrowRight: 'right',
};
const SETTINGS = [['hz', 10, 60], ['time_limit_s', 0, 3600], ['score_limit', 0, 1000]];

/** A player's colour as a small square (set through the CSSOM: the CSP allows no style attribute). */
function swatch(color) {
  const el = h('span.swatch');
  el.style.backgroundColor = color;
  return el;
}

export class ArenaView {
  static settingsForm() {
    return h('fieldset.arena-settings',
      h('legend', t('arena.settings')),
      SETTINGS.map(([name, min, max]) => h('label', t('arena.setting.' + name),
        h('input', {type: 'number', name, min, max, placeholder: t('arena.default')}))),
      h('details', h('summary', t('arena.advanced')),
        h('label', t('arena.setting.seed'), h('input', {type: 'number', name: 'seed', min: 1, placeholder: t('arena.seed_hint')}))));
  }

  static readSettings(el) {
    const s = {};
    for (const name of [...SETTINGS.map((x) => x[0]), 'seed']) {
      const v = el.querySelector(`[name=${name}]`).value;
      if (v !== '') s[name] = Number(v);
    }
    return s;
  }

  constructor(app, snapshot) {
    this.app = app;
    this.client = app.client;
    this.game = new ArenaGame(this.client);
    this.you = app.account?.id ?? 0;
    this.players = new Map();  // id → {nickname, color, slot, kills, deaths}
    this.bySlot = new Map();   // slot → id
    this.hitHealth = new Map(); // id → {tick, health}: arena.hit can be newer than the last state
    this.held = {up: false, down: false, left: false, right: false, fire: false};
    this.mouse = null;         // the pointer in world sub-units
    this.firePointer = null;   // the pointer (mouse button or finger) holding fire on the map
    this.stickPointer = null;  // the finger on the thumb stick
    this.ended_ = null;
    this.canvas = h('canvas#arena-canvas', {width: 800, height: 600, tabindex: 0});
    this.ctx = this.canvas.getContext('2d');
    this.hud = h('div.row.hud#arena-hud');
    this.scores = h('table.scores#arena-scores');
    this.log = h('ol.log#arena-log');
    this.endCard = h('div#arena-end');
    this.help = h('p.hint#arena-help');
    // The thumb stick: shown where the screen is touched (a phone, a tablet).
    this.touch = navigator.maxTouchPoints > 0 || matchMedia('(pointer: coarse)').matches;
    this.knob = h('div.knob');
    this.stick = h('div.stick#arena-stick', {hidden: !this.touch}, this.knob);
    this.el = h('section.arena#arena',
      this.endCard,
      h('div.card.field', this.hud, this.canvas, this.stick, this.help),
      h('div.card', this.scores, this.log));
    this.listen();
    this.lastPanel = 0;
    this.raf = requestAnimationFrame((now) => this.draw(now));
    if (snapshot) this.restore(snapshot);
    this.relabel();
  }

  // --- input ---------------------------------------------------------------------------------------

  listen() {
    const typing = (e) => /^(INPUT|TEXTAREA|SELECT)$/.test(e.target?.tagName ?? '');
    const key = (down) => (e) => {
      const k = KEYS[e.code];
      if (!k || typing(e) || this.ended_) return;
      e.preventDefault();  // the arrows would scroll the page
      this.held[k] = down;
      this.push();
    };
    const onDown = key(true);
    const onUp = key(false);
    const onBlur = () => { for (const k in this.held) this.held[k] = false; this.stickAt(null); this.push(); };
    // The map: the mouse aims as it moves and fires while its button is held; a finger aims where
    // it touches and fires until it lifts. Pointer events, so that a touch makes no second,
    // emulated mouse press, and a finger on the stick is not taken for the one on the map.
    const onPointerUp = (e) => {
      if (e.pointerId === this.firePointer) {
        this.firePointer = null;
        this.held.fire = false;
        this.push();
      }
      if (e.pointerId === this.stickPointer) this.stickAt(null);
    };
    window.addEventListener('keydown', onDown);
    window.addEventListener('keyup', onUp);
    window.addEventListener('blur', onBlur);
    window.addEventListener('pointerup', onPointerUp);
    window.addEventListener('pointercancel', onPointerUp);
    this.canvas.addEventListener('pointermove', (e) => {
      if (e.pointerType !== 'mouse' && e.pointerId !== this.firePointer) return;
      this.mouse = this.toWorld(e);
      this.push();
    });
    this.canvas.addEventListener('pointerdown', (e) => {
      if ((e.pointerType === 'mouse' && e.button !== 0) || this.ended_) return;
      e.preventDefault();
      this.canvas.focus();
      this.canvas.setPointerCapture(e.pointerId);
      this.firePointer = e.pointerId;
      this.mouse = this.toWorld(e);
      this.held.fire = true;
      this.push();
    });
    this.canvas.addEventListener('contextmenu', (e) => e.preventDefault());
    // The thumb stick: the direction from its centre, past a dead zone, holds up to two of the
    // four directions (eight ways), as the keys would.
    this.stick.addEventListener('pointerdown', (e) => {
      if (this.ended_) return;
      e.preventDefault();
      this.stick.setPointerCapture(e.pointerId);
      this.stickPointer = e.pointerId;
      this.stickAt(e);
    });
    this.stick.addEventListener('pointermove', (e) => { if (e.pointerId === this.stickPointer) this.stickAt(e); });
    this.unlisten = () => {
      window.removeEventListener('keydown', onDown);
      window.removeEventListener('keyup', onUp);
      window.removeEventListener('blur', onBlur);
      window.removeEventListener('pointerup', onPointerUp);
      window.removeEventListener('pointercancel', onPointerUp);
    };
  }

  /** The stick held at a pointer event's place (null: let go): sets the four directions. */
  stickAt(e) {
    let dx = 0, dy = 0;
    if (e) {
      const r = this.stick.getBoundingClientRect();
      dx = (e.clientX - (r.left + r.width / 2)) / (r.width / 2);
      dy = (e.clientY - (r.top + r.height / 2)) / (r.height / 2);
      const len = Math.hypot(dx, dy);
      if (len > 1) { dx /= len; dy /= len; }
    } else {
      this.stickPointer = null;
    }
    const dead = 0.35;
    this.held.left = dx < -dead;
    this.held.right = dx > dead;
    this.held.up = dy < -dead;
    this.held.down = dy > dead;
    const r = this.stick.clientWidth / 2 || 0;
    this.knob.style.transform = `translate(${(dx * r * 0.6).toFixed(1)}px, ${(dy * r * 0.6).toFixed(1)}px)`;
    this.push();
  }

  /** A pointer event's place on the map, in sub-units. */
  toWorld(e) {
    const r = this.canvas.getBoundingClientRect();
    const s = this.scale();
    return {x: ((e.clientX - r.left) * (this.canvas.width / r.width)) / s,
            y: ((e.clientY - r.top) * (this.canvas.height / r.height)) / s};
  }

  /** Canvas pixels per sub-unit. */
  scale() {
    return this.game.rules ? this.canvas.width / this.game.rules.width : 1;
  }

  /** Hands what is held, and the aim towards the pointer, to the SDK. */
  push() {
    const me = this.game.frame().me;
    let aim;
    if (me && this.mouse) aim = (Math.atan2(this.mouse.y - me.y, this.mouse.x - me.x) / (2 * Math.PI)) * 65536;
    this.game.setInput({...this.held, aim});
  }

  // --- server events -------------------------------------------------------------------------------

  /** arena.started, or the game snapshot after a reload ({...the same, you}). */
  restore(g) {
    this.players.clear();
    this.bySlot.clear();
    for (const p of g.players ?? []) {
      this.players.set(p.player, {nickname: p.nickname, color: p.color, slot: p.slot, kills: p.kills ?? 0, deaths: p.deaths ?? 0});
      this.bySlot.set(p.slot, p.player);
    }
    this.canvas.height = Math.round((this.canvas.width * g.map.height) / g.map.width);
    this.game.start({...g, you: g.you ?? this.you});
    this.drawPanel();
  }

  event(type, d) {
    switch (type) {
      case 'arena.started':
        this.restore(d);
        break;
      case 'arena.hit':
        this.hitHealth.set(d.target, {tick: d.tick, health: d.health});
        this.line('hit', t('arena.hit_line', {shooter: this.name(d.shooter), target: this.name(d.target), health: d.health}),
                  {health: d.health, target: d.target});
        break;
      case 'arena.kill': {
        const k = this.players.get(d.killer);
        const v = this.players.get(d.victim);
        if (k) k.kills = d.kills;
        if (v) v.deaths = d.deaths;
        this.line('kill', t('arena.kill_line', {killer: this.name(d.killer), victim: this.name(d.victim)}));
        break;
      }
      case 'arena.heal':
        this.line('heal', t('arena.heal_line', {player: this.name(d.player), amount: d.amount}));
        break;
      default:
        return;
    }
    this.drawPanel();
  }

  /** room.game_ended: the standings. */
  ended(d) {
    this.ended_ = d;
    this.game.stop();
    for (const k in this.held) this.held[k] = false;
    this.drawPanel();
  }

  destroy() {
    cancelAnimationFrame(this.raf);
    this.unlisten?.();
    this.game.destroy();
  }

  relabel() {
    this.help.textContent = this.touch ? t('arena.help_touch') : t('arena.help');
    this.drawPanel();
  }

  name(id) {
    return this.players.get(id)?.nickname ?? this.app.nicknameOf(id);
  }

  line(kind, text, data = {}) {
    this.log.prepend(h('li', {dataset: {kind, ...data}}, text));
    while (this.log.children.length > 30) this.log.lastChild.remove();
  }

  // --- drawing -------------------------------------------------------------------------------------

  /** The words and numbers around the canvas (a few times a second, not every frame). */
  drawPanel() {
    const g = this.game;
    const f = g.frame();
    const err = g.predictionError();
    fill(this.hud,
      h('span#arena-ping', t('arena.ping', {ms: Math.round(g.ping)})),
      h('span#arena-tick', {dataset: {tick: f.serverTick}}, t('arena.tick', {tick: f.serverTick})),
      h('span#arena-error', {dataset: {error: err.last, max: err.max}},
        t('arena.error', {last: err.last.toFixed(1), max: err.max.toFixed(1)})),
      f.me && !f.me.alive && !this.ended_ ? h('b.dead#arena-dead', t('arena.respawning')) : null);
    const latest = g.views.latest;
    const rows = [...this.players.entries()].sort((a, b) => b[1].kills - a[1].kills || a[1].deaths - b[1].deaths);
    fill(this.scores,
      h('tr', h('th', t('arena.player')), h('th', t('arena.hp')), h('th', t('arena.kills')), h('th', t('arena.deaths'))),
      rows.map(([id, p]) => {
        const s = latest?.players.get(id);
        // The game's last tick sends no state (it ends first): its hits are known from arena.hit.
        const hit = this.hitHealth.get(id);
        const hp = hit && (!s || hit.tick > latest.tick) ? hit.health : s?.hp;
        const at = id === this.you ? f.me : f.others.find((o) => o.id === id);
        const sub = g.rules?.subUnits ?? 16;
        return h('tr', {dataset: {player: id, hp: hp ?? '', kills: p.kills, deaths: p.deaths,
                                  x: at ? Math.round(at.x / sub) : '', y: at ? Math.round(at.y / sub) : '',
                                  me: id === this.you ? '1' : ''}},
          h('td', swatch(p.color), ' ', p.nickname, id === this.you ? ' ' + t('arena.you') : ''),
          h('td', hp === undefined ? '—' : String(hp)), h('td', String(p.kills)), h('td', String(p.deaths)));
      }));
    if (this.ended_) {
      const r = this.ended_.result ?? {};
      fill(this.endCard, h('div.card.end', {dataset: {game: this.ended_.game_id ?? '', reason: r.reason ?? ''}},
        h('h2#arena-result', t('arena.over.' + (r.reason ?? 'time'))),
        h('table#arena-standings',
          h('tr', h('th', '#'), h('th', t('arena.player')), h('th', t('arena.kills')), h('th', t('arena.deaths'))),
          (r.standings ?? []).map((s) => h('tr', {dataset: {player: s.player, kills: s.kills, deaths: s.deaths, placement: s.placement}},
            h('td', String(s.placement)), h('td', s.nickname), h('td', String(s.kills)), h('td', String(s.deaths))))),
        h('button.primary#back-to-room', {onclick: () => this.app.backToRoom()}, t('arena.back_to_room'))));
    } else {
      fill(this.endCard);
    }
  }

  draw(now) {
    this.raf = requestAnimationFrame((n) => this.draw(n));
    if (now - this.lastPanel > 200) {
      this.lastPanel = now;
      this.drawPanel();
    }
    const c = this.ctx;
    const g = this.game;
    c.fillStyle = '#20242c';
    c.fillRect(0, 0, this.canvas.width, this.canvas.height);
    if (!g.rules) return;
    const s = this.scale();
    const f = g.frame();
    c.fillStyle = '#59606e';
    for (const [x0, y0, x1, y1] of g.rules.walls) c.fillRect(x0 * s, y0 * s, (x1 - x0) * s, (y1 - y0) * s);
    for (const k of f.pickups) {
      if (!k.active) continue;
      c.fillStyle = '#3cb44b';
      c.fillRect(k.x * s - 6, k.y * s - 2, 12, 4);
      c.fillRect(k.x * s - 2, k.y * s - 6, 4, 12);
    }
    for (const b of this.ended_ ? [] : f.bullets) {
      c.fillStyle = this.players.get(this.bySlot.get(b.owner))?.color ?? '#fff';
      c.beginPath();
      c.arc(b.x * s, b.y * s, 3, 0, 2 * Math.PI);
      c.fill();
    }
    const r = g.rules.radius * s;
    const body = (p, aimTurns, me) => {
      const info = this.players.get(p.id ?? this.you);
      c.globalAlpha = p.alive ? 1 : 0.25;
      c.fillStyle = info?.color ?? '#ccc';
      c.beginPath();
      c.arc(p.x * s, p.y * s, r, 0, 2 * Math.PI);
      c.fill();
      if (me) {
        c.strokeStyle = '#fff';
        c.lineWidth = 2;
        c.stroke();
      }
      c.strokeStyle = '#fff';
      c.beginPath();
      c.moveTo(p.x * s, p.y * s);
      c.lineTo(p.x * s + Math.cos(aimTurns * 2 * Math.PI) * r * 1.6, p.y * s + Math.sin(aimTurns * 2 * Math.PI) * r * 1.6);
      c.stroke();
      c.fillStyle = '#fff';
      c.font = '11px system-ui, sans-serif';
      c.textAlign = 'center';
      c.fillText(`${info?.nickname ?? ''} ${p.hp}`, p.x * s, p.y * s - r - 4);
      c.globalAlpha = 1;
    };
    for (const o of f.others) body(o, o.aim / 256, false);
    if (f.me) body({...f.me, id: this.you}, g.aim / 65536, true);
  }
}
