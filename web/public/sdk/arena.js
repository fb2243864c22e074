// Arena's client side (src/modes/arena/README.md): the state messages in JSON and in the binary
// encoding, the views they build (a delta applies to the view it names as base; every view applied
// is acknowledged), client-side prediction of the own player with the server's movement step in
// the same integer arithmetic (src/modes/arena/sim.cpp, sim::move), reconciliation on each state,
// and interpolation of the others about two snapshot intervals in the past. An ES module over
// maratang.js's Client; no build step, no dependency. The pieces (decodeState, applyState, move,
// Predictor, Interpolator) are usable alone; ArenaGame ties them to a Client.
//
// Units are the server's: positions in sub-units (1/16 world unit), angles 65536 to the turn in
// inputs and 256 to the turn in states, time in ticks of 1/hz s.

/** Input buttons, as bits (sim.hpp `button`). */
export const BUTTON = Object.freeze({up: 1, down: 2, left: 4, right: 8, fire: 16});

/** First bytes of the binary messages (snapshot.hpp). */
export const STATE_TAG = 0xa1;
export const INPUT_TAG = 0x01;
export const ACK_TAG = 0x02;

/** Entity kinds in wire order, and their fields in wire order (snapshot.cpp). */
export const KINDS = Object.freeze(['players', 'bullets', 'pickups']);
export const FIELDS = Object.freeze({
  players: Object.freeze(['x', 'y', 'aim', 'hp', 'alive', 'slot']),
  bullets: Object.freeze(['x', 'y', 'vx', 'vy', 'born', 'owner']),
  pickups: Object.freeze(['x', 'y', 'active']),
});

/** A state that does not fit: malformed bytes, an unknown base or id, a new entity missing a field. */
export class ArenaStateError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ArenaStateError';
  }
}

// --- binary encoding -----------------------------------------------------------------------------

/** Reads LEB128 varints from untrusted bytes (numbers exact up to 2^53). */
class Reader {
  /** @param {Uint8Array} bytes */
  constructor(bytes) {
    this.b = bytes;
    this.pos = 0;
  }
  byte() {
    if (this.pos >= this.b.length) throw new ArenaStateError('truncated');
    return this.b[this.pos++];
  }
  varint() {
    let x = 0;
    // Multiplication, not shifts: JavaScript's shifts are 32-bit.
    for (let scale = 1, i = 0; i < 10; i++, scale *= 128) {
      const b = this.byte();
      x += (b & 0x7f) * scale;
      if (!(b & 0x80)) return x;
    }
    throw new ArenaStateError('overlong varint');
  }
  signed() {
    const z = this.varint();
    return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  }
}

/** @param {number[]} out @param {number} x a non-negative integer */
function putVarint(out, x) {
  while (x >= 0x80) {
    out.push((x % 0x80) | 0x80);
    x = Math.floor(x / 0x80);
  }
  out.push(x);
}

/**
 * A binary state (first byte 0xA1) as the JSON form of arena.state's data, exactly as the server's
 * decode_binary gives it: a full state lists every kind, a delta only the kinds that changed, and
 * `gone` only when something went.
 * @param {Uint8Array} bytes
 * @returns {ArenaStateMessage}
 */
export function decodeState(bytes) {
  const r = new Reader(bytes);
  if (r.byte() !== STATE_TAG) throw new ArenaStateError('not an arena state');
  /** @type {any} */
  const o = {tick: r.varint(), base: r.varint(), seq: r.varint()};
  const gone = {};
  for (const kind of KINDS) {
    const names = FIELDS[kind];
    const n = r.varint();
    if (n > bytes.length) throw new ArenaStateError('entity count past the end');
    const list = [];
    for (let j = 0; j < n; j++) {
      const e = {id: r.signed()};
      const mask = r.byte();
      if (mask >> names.length) throw new ArenaStateError('unknown field bits');
      for (let i = 0; i < names.length; i++) {
        if (mask & (1 << i)) e[names[i]] = r.signed();
      }
      list.push(e);
    }
    const g = r.varint();
    if (g > bytes.length) throw new ArenaStateError('gone count past the end');
    const ids = [];
    for (let j = 0; j < g; j++) ids.push(r.signed());
    if (list.length || o.base === 0) o[kind] = list;
    if (ids.length) gone[kind] = ids;
  }
  if (r.pos !== bytes.length) throw new ArenaStateError('bytes after the end');
  if (Object.keys(gone).length) o.gone = gone;
  return o;
}

/**
 * An arena.input in binary: 0x01, seq, buttons, aim, view_tick + 1 and ack (0: absent).
 * @param {{seq: number, buttons: number, aim: number, viewTick?: number|null, ack?: number|null}} m
 * @returns {Uint8Array}
 */
export function encodeInput(m) {
  const out = [INPUT_TAG];
  putVarint(out, m.seq);
  out.push(m.buttons & 31);
  putVarint(out, m.aim);
  putVarint(out, m.viewTick == null ? 0 : m.viewTick + 1);
  putVarint(out, m.ack == null ? 0 : m.ack);
  return Uint8Array.from(out);
}

/** An arena.ack in binary. @param {number} tick @returns {Uint8Array} */
export function encodeAck(tick) {
  const out = [ACK_TAG];
  putVarint(out, tick);
  return Uint8Array.from(out);
}

// --- views and deltas ----------------------------------------------------------------------------

/**
 * @typedef {object} ArenaStateMessage  arena.state's data (README, "States")
 * @property {number} tick
 * @property {number} base   0: a full view
 * @property {number} seq    the receiver's last applied input
 * @property {object[]} [players]
 * @property {object[]} [bullets]
 * @property {object[]} [pickups]
 * @property {{players?: number[], bullets?: number[], pickups?: number[]}} [gone]
 */

/**
 * What a client knows at one tick: every entity by kind and id, each with all its fields.
 * @typedef {object} ArenaView
 * @property {number} tick
 * @property {number} seq
 * @property {Map<number, {x: number, y: number, aim: number, hp: number, alive: number, slot: number}>} players
 * @property {Map<number, {x: number, y: number, vx: number, vy: number, born: number, owner: number}>} bullets
 * @property {Map<number, {x: number, y: number, active: number}>} pickups
 */

/** @returns {ArenaView} */
function emptyView() {
  return {tick: 0, seq: 0, players: new Map(), bullets: new Map(), pickups: new Map()};
}

const isInt = (x) => Number.isInteger(x);

/**
 * Applies a state message to `base`, the client's own copy of the view the message names (null
 * for a full one), and returns the new view; `base` is not changed. The port of the server's
 * arena::apply_state: throws ArenaStateError on an unknown base, an unknown id in `gone`, or a new
 * entity without every field.
 * @param {ArenaView|null} base
 * @param {ArenaStateMessage} msg
 * @returns {ArenaView}
 */
export function applyState(base, msg) {
  if (!isInt(msg?.tick) || !isInt(msg.base) || !isInt(msg.seq)) {
    throw new ArenaStateError('tick, base and seq needed');
  }
  const v = emptyView();
  if (msg.base !== 0) {
    if (!base || base.tick !== msg.base) throw new ArenaStateError('not my base');
    for (const kind of KINDS) {
      for (const [id, f] of base[kind]) v[kind].set(id, {...f});
    }
  }
  v.tick = msg.tick;
  v.seq = msg.seq;
  for (const kind of KINDS) {
    for (const id of msg.gone?.[kind] ?? []) {
      if (!v[kind].delete(id)) throw new ArenaStateError('gone: unknown id');
    }
    const list = msg[kind];
    if (list === undefined) continue;
    if (!Array.isArray(list)) throw new ArenaStateError('entities: not an array');
    for (const e of list) {
      if (!isInt(e?.id)) throw new ArenaStateError('entity without id');
      let f = v[kind].get(e.id);
      const fresh = !f;
      if (fresh) f = {};
      for (const name of FIELDS[kind]) {
        if (isInt(e[name])) f[name] = e[name];
        else if (fresh) throw new ArenaStateError('a new entity needs every field');
      }
      v[kind].set(e.id, f);
    }
  }
  return v;
}

/**
 * The views a client received, by tick, and what to acknowledge. The server sends deltas against
 * the newest view the client acknowledged (it keeps its last 32); this keeps the last `keep`
 * (more than 32), so every base it can be sent is here.
 */
export class ArenaViews {
  /** @param {number} [keep] */
  constructor(keep = 64) {
    this.keep = keep;
    /** @type {Map<number, ArenaView>} */
    this.byTick = new Map();
    /** @type {ArenaView|null} the newest view */
    this.latest = null;
    /** The newest tick applied and not acknowledged yet (0: none). */
    this.ackDue = 0;
    /** The newest tick acknowledged. */
    this.acked = 0;
    /** States that could not be applied (their base was not kept, or they were malformed). */
    this.refused = 0;
  }

  /**
   * Applies one state message (JSON data or binary bytes). Returns the new view, or null when it
   * cannot be applied (counted in `refused`; the server keeps sending against the last view this
   * client acknowledged, so nothing is corrupted and the next state fits).
   * @param {ArenaStateMessage|Uint8Array} msg
   * @returns {ArenaView|null}
   */
  receive(msg) {
    let v;
    try {
      const m = msg instanceof Uint8Array ? decodeState(msg) : msg;
      v = applyState(m.base === 0 ? null : this.byTick.get(m.base) ?? null, m);
    } catch (e) {
      if (!(e instanceof ArenaStateError)) throw e;
      this.refused++;
      return null;
    }
    this.byTick.set(v.tick, v);
    while (this.byTick.size > this.keep) this.byTick.delete(this.byTick.keys().next().value);
    if (!this.latest || v.tick >= this.latest.tick) this.latest = v;
    if (v.tick > this.acked && v.tick > this.ackDue) this.ackDue = v.tick;
    return v;
  }

  /** The tick to acknowledge now (and marks it acknowledged), or 0 when there is none. */
  takeAck() {
    const t = this.ackDue;
    if (t) {
      this.acked = t;
      this.ackDue = 0;
    }
    return t;
  }

  /** Forgets every view (a reconnect: the server's next state is full). */
  reset() {
    this.byTick.clear();
    this.latest = null;
    this.ackDue = 0;
    this.acked = 0;
  }
}

// --- movement: the server's step, in the same integers ---------------------------------------------

/**
 * @typedef {object} ArenaRules  what arena.started says, in sub-units and ticks
 * @property {number} hz
 * @property {number} width
 * @property {number} height
 * @property {number} radius      a player's half-size
 * @property {number} step        straight movement per tick
 * @property {number} diagStep    per axis when moving diagonally
 * @property {number[][]} walls   [x0, y0, x1, y1], half-open
 * @property {number} subUnits    sub-units per world unit (16)
 * @property {number} maxHealth
 * @property {number} historyTicks the lag-compensation window
 */

/**
 * The rules from arena.started's data (or a game snapshot, which has the same fields).
 * @param {any} started
 * @returns {ArenaRules}
 */
export function rulesFrom(started) {
  const r = started.rules;
  return {
    hz: started.hz,
    width: started.map.width,
    height: started.map.height,
    radius: r.player_radius,
    step: r.step,
    diagStep: r.diag_step,
    walls: started.map.walls.map((w) => w.slice()),
    subUnits: r.sub_units ?? 16,
    maxHealth: r.max_health ?? 100,
    historyTicks: r.history_ticks ?? 30,
  };
}

const clamp = (v, lo, hi) => (v < lo ? lo : hi < v ? hi : v);
const overlaps = (w, x0, y0, x1, y1) => x0 < w[2] && w[0] < x1 && y0 < w[3] && w[1] < y1;

/**
 * One movement step of a player from `from` with `buttons`, exactly as the server's sim::move:
 * per axis `step` (or `diagStep` when moving on both axes), clamped to the map, then, one axis at
 * a time, flush against any wall the player's square overlaps. Integers in, integers out.
 * @param {ArenaRules} rules
 * @param {{x: number, y: number}} from
 * @param {number} buttons  BUTTON bits
 * @returns {{x: number, y: number}}
 */
export function move(rules, from, buttons) {
  const dx = (buttons & BUTTON.right ? 1 : 0) - (buttons & BUTTON.left ? 1 : 0);
  const dy = (buttons & BUTTON.down ? 1 : 0) - (buttons & BUTTON.up ? 1 : 0);
  const s = dx !== 0 && dy !== 0 ? rules.diagStep : rules.step;
  const r = rules.radius;
  let x = from.x;
  let y = from.y;
  if (dx !== 0) {
    x = clamp(x + dx * s, r, rules.width - r);
    for (const w of rules.walls) {
      if (overlaps(w, x - r, y - r, x + r, y + r)) x = dx > 0 ? w[0] - r : w[2] + r;
    }
  }
  if (dy !== 0) {
    y = clamp(y + dy * s, r, rules.height - r);
    for (const w of rules.walls) {
      if (overlaps(w, x - r, y - r, x + r, y + r)) y = dy > 0 ? w[1] - r : w[3] + r;
    }
  }
  return {x, y};
}

/**
 * Client-side prediction and reconciliation of the own player. Each input is applied at once
 * (apply) and kept until a state says the server applied it; on each state (reconcile) the
 * position starts again from the server's, the result of every input up to the state's `seq`,
 * and the kept inputs after it are replayed. `error` is how far the prediction was off (sub-units);
 * `offset` is that correction still being smoothed away on screen.
 */
export class Predictor {
  /** @param {ArenaRules} rules */
  constructor(rules) {
    this.rules = rules;
    /** @type {{x: number, y: number}|null} the predicted position (null until the first state) */
    this.pos = null;
    /** @type {{seq: number, buttons: number}[]} inputs sent and not yet applied by the server */
    this.pending = [];
    /** The last correction's length, sub-units (0: the prediction was exact). */
    this.error = 0;
    /** The largest correction so far, and how many states corrected anything. */
    this.maxError = 0;
    this.corrections = 0;
    /** What the screen still shows of past corrections (sub-units), decaying to 0. */
    this.offset = {x: 0, y: 0};
  }

  /** Applies an input locally and keeps it. @param {{seq: number, buttons: number}} input */
  apply(input) {
    if (!this.pos) return;
    this.pending.push({seq: input.seq, buttons: input.buttons});
    this.pos = move(this.rules, this.pos, input.buttons);
  }

  /**
   * A state arrived: `server` is the own player's position in it (after every input up to `seq`).
   * Returns the correction's length in sub-units. `jump` (a respawn, the first state, a death):
   * take the server's position without calling it an error and forget the kept inputs.
   * @param {{x: number, y: number}} server
   * @param {number} seq
   * @param {boolean} [jump]
   */
  reconcile(server, seq, jump = false) {
    while (this.pending.length && this.pending[0].seq <= seq) this.pending.shift();
    if (jump || !this.pos) {
      this.pending = [];
      this.pos = {x: server.x, y: server.y};
      this.offset = {x: 0, y: 0};
      this.error = 0;
      return 0;
    }
    let p = {x: server.x, y: server.y};
    for (const input of this.pending) p = move(this.rules, p, input.buttons);
    const ex = this.pos.x - p.x;
    const ey = this.pos.y - p.y;
    this.error = Math.hypot(ex, ey);
    if (this.error > 0) {
      this.corrections++;
      this.maxError = Math.max(this.maxError, this.error);
      this.offset = {x: this.offset.x + ex, y: this.offset.y + ey};
    }
    this.pos = p;
    return this.error;
  }

  /** Decays the on-screen correction (to a tenth in about 100 ms). @param {number} dtMs */
  smooth(dtMs) {
    const k = Math.pow(0.1, dtMs / 100);
    this.offset = {x: this.offset.x * k, y: this.offset.y * k};
    if (Math.abs(this.offset.x) + Math.abs(this.offset.y) < 1) this.offset = {x: 0, y: 0};
  }

  /** Where to draw the own player: the prediction plus what is left of the last corrections. */
  shown() {
    return this.pos ? {x: this.pos.x + this.offset.x, y: this.pos.y + this.offset.y} : null;
  }
}

// --- interpolation ---------------------------------------------------------------------------------

/**
 * Shows the others `delayTicks` snapshot intervals behind the newest state, between the two
 * received views around that time. The server's tick is estimated from when states arrive: the
 * earliest arrivals (least delayed) set it, drifting down slowly so that a clock drift or a slower
 * network is followed.
 */
export class Interpolator {
  /** @param {number} hz @param {number} [delayTicks] */
  constructor(hz, delayTicks = 2) {
    this.hz = hz;
    this.delayTicks = delayTicks;
    /** @type {ArenaView[]} by tick, oldest first */
    this.views = [];
    this.offset = null;  // server tick − local ms × hz / 1000
  }

  /** @param {ArenaView} v @param {number} nowMs */
  push(v, nowMs) {
    const sample = v.tick - (nowMs * this.hz) / 1000;
    this.offset = this.offset === null ? sample : Math.max(sample, this.offset - 0.02);
    if (this.views.length && v.tick <= this.views[this.views.length - 1].tick) {
      // A full view after a reconnect may start lower: begin again.
      if (v.tick < this.views[this.views.length - 1].tick) this.views = [];
      else this.views.pop();
    }
    this.views.push(v);
    while (this.views.length > 2 && this.views.length > this.hz * 2) this.views.shift();
  }

  /** The server's tick now (fractional), or 0 before any state. @param {number} nowMs */
  serverTick(nowMs) {
    return this.offset === null ? 0 : (nowMs * this.hz) / 1000 + this.offset;
  }

  /** The tick the others are shown at. @param {number} nowMs */
  renderTick(nowMs) {
    if (!this.views.length) return 0;
    const t = this.serverTick(nowMs) - this.delayTicks;
    return clamp(t, this.views[0].tick, this.views[this.views.length - 1].tick);
  }

  /**
   * The others, bullets and pickups at the render tick.
   * @param {number} nowMs
   * @returns {{tick: number, players: any[], bullets: any[], pickups: any[]}}
   */
  sample(nowMs) {
    const out = {tick: 0, players: [], bullets: [], pickups: []};
    if (!this.views.length) return out;
    const rt = this.renderTick(nowMs);
    out.tick = rt;
    let i = this.views.length - 1;
    while (i > 0 && this.views[i].tick > rt) i--;
    const a = this.views[i];
    const b = this.views[Math.min(i + 1, this.views.length - 1)];
    const f = b.tick > a.tick ? (rt - a.tick) / (b.tick - a.tick) : 0;
    for (const [id, p] of a.players) {
      const q = b.players.get(id);
      // Between two states alive in both; a respawn or a death is not slid across.
      const slide = q && q.alive === p.alive && p.alive;
      out.players.push({
        id, slot: p.slot, hp: p.hp, alive: p.alive,
        x: slide ? p.x + (q.x - p.x) * f : p.x,
        y: slide ? p.y + (q.y - p.y) * f : p.y,
        aim: slide ? lerpAngle256(p.aim, q.aim, f) : p.aim,
      });
    }
    for (const [id, bl] of a.bullets) {
      const age = rt + 1 - bl.born;
      out.bullets.push({id, owner: bl.owner, x: bl.x + bl.vx * age, y: bl.y + bl.vy * age});
    }
    for (const [id, k] of a.pickups) out.pickups.push({id, ...k});
    return out;
  }

  reset() {
    this.views = [];
    this.offset = null;
  }
}

function lerpAngle256(a, b, f) {
  let d = (((b - a) % 256) + 384) % 256 - 128;
  return (a + d * f + 256) % 256;
}

// --- a game over a Client ----------------------------------------------------------------------

/**
 * @typedef {object} ArenaFrame  what to draw now
 * @property {number} tick        the render tick of the others
 * @property {number} serverTick  the newest state's tick
 * @property {{x: number, y: number, hp: number, alive: number, slot: number}|null} me
 * @property {any[]} others       players but me, interpolated
 * @property {any[]} bullets
 * @property {any[]} pickups
 */

/**
 * One Arena game seen from one Client: sends an input each tick at the server's rate while the
 * player does something (applied at once by the predictor, carrying the acknowledgement of the
 * newest state and the tick shown of the others), takes states in JSON or binary, reconciles, and
 * interpolates the others.
 * The page sets the buttons and aim (setInput) and draws frame(); nothing else.
 */
export class ArenaGame {
  /**
   * @param {import('./maratang.js').Client} client
   * @param {{now?: () => number, binary?: boolean, delayTicks?: number}} [opts]
   */
  constructor(client, opts = {}) {
    this.client = client;
    this.now = opts.now ?? (() => performance.now());
    this.binary = opts.binary ?? client.encoding === 'binary';
    this.delayTicks = opts.delayTicks ?? 2;
    /** @type {ArenaRules|null} */ this.rules = null;
    this.started = null;
    this.you = client.session?.account_id ?? 0;
    this.views = new ArenaViews();
    /** @type {Predictor|null} */ this.predictor = null;
    /** @type {Interpolator|null} */ this.interp = null;
    this.seq = 0;
    this.buttons = 0;
    this.aim = 0;
    this.sentAim = 0;  // the server's aim until an input changes it
    this.acc = 0;
    this.last = 0;
    /** Smoothed time from sending an input to the state showing it applied, ms (0: none yet). */
    this.ping = 0;
    this.sentAt = new Map();  // seq → local ms, for ping
    this.inputsSent = 0;
    this.statesReceived = 0;
    this.timer = null;
    this.offs = [
      client.on('arena.state', (d) => this.onState(d)),
      client.on('binary', (bytes) => { if (bytes[0] === STATE_TAG) this.onState(bytes); }),
    ];
  }

  /** The match's map and rules (arena.started, or a game snapshot after a reload). */
  start(started) {
    this.started = started;
    this.rules = rulesFrom(started);
    if (started.you) this.you = started.you;
    this.predictor = new Predictor(this.rules);
    this.interp = new Interpolator(this.rules.hz, this.delayTicks);
    this.views.reset();
    this.last = this.now();
    this.acc = 0;
    clearInterval(this.timer);
    // Twice the tick rate: the accumulator decides when a tick is due.
    this.timer = setInterval(() => this.update(this.now()), 500 / this.rules.hz);
  }

  /** Stops sending (the game ended, or the page left it). */
  stop() {
    clearInterval(this.timer);
    this.timer = null;
  }

  destroy() {
    this.stop();
    for (const off of this.offs) off();
  }

  /**
   * What the player holds now; sent with the next tick's input.
   * @param {{up?: boolean, down?: boolean, left?: boolean, right?: boolean, fire?: boolean, aim?: number}} s
   */
  setInput(s) {
    this.buttons = (s.up ? BUTTON.up : 0) | (s.down ? BUTTON.down : 0) | (s.left ? BUTTON.left : 0) |
                   (s.right ? BUTTON.right : 0) | (s.fire ? BUTTON.fire : 0);
    if (s.aim !== undefined) this.aim = ((Math.round(s.aim) % 65536) + 65536) % 65536;
  }

  /** The own player in the newest state (null: not in the game, or before the first state). */
  mine() {
    return this.views.latest?.players.get(this.you) ?? null;
  }

  /** @param {ArenaStateMessage|Uint8Array} msg */
  onState(msg) {
    if (!this.rules) return;
    const before = this.mine();
    const v = this.views.receive(msg);
    if (!v) return;
    this.statesReceived++;
    const now = this.now();
    this.interp.push(v, now);
    for (const [seq, at] of this.sentAt) {
      if (seq > v.seq) break;
      const sample = now - at;
      this.ping = this.ping ? this.ping * 0.8 + sample * 0.2 : sample;
      this.sentAt.delete(seq);
    }
    const me = v.players.get(this.you);
    if (!me) return;
    // Nothing to predict across a death or a respawn: the server's position, as it is.
    const jump = !before || !me.alive || !before.alive;
    this.predictor.reconcile(me, v.seq, jump);
  }

  /**
   * Runs the ticks due by `nowMs` (at most 3 at once: a page that slept does not flood the
   * server, whose per-tick arrivals are bounded). Called by the timer; tests call it directly.
   * @param {number} nowMs
   */
  update(nowMs) {
    if (!this.rules) return;
    const period = 1000 / this.rules.hz;
    this.acc += nowMs - this.last;
    this.predictor.smooth(nowMs - this.last);
    this.last = nowMs;
    let n = 0;
    while (this.acc >= period) {
      this.acc -= period;
      if (++n <= 3) this.tick(nowMs);
    }
  }

  /**
   * One client tick: the input, or only the acknowledgement when the player cannot act or does
   * nothing (no button held, the aim unchanged: without an input the server does not move the
   * player either, so the prediction stays exact and an idle player costs no upstream messages).
   */
  tick(nowMs) {
    const me = this.mine();
    const idle = this.buttons === 0 && this.aim === this.sentAim;
    if (!me || !me.alive || idle) {
      const ack = this.views.takeAck();
      if (!ack) return;
      if (this.binary) this.client.sendBinary(encodeAck(ack));
      else this.client.send('arena.ack', {tick: ack});
      return;
    }
    const seq = ++this.seq;
    const viewTick = Math.max(0, Math.floor(this.interp.renderTick(nowMs)));
    const ack = this.views.takeAck() || null;
    this.predictor.apply({seq, buttons: this.buttons});
    this.sentAim = this.aim;
    this.sentAt.set(seq, nowMs);
    if (this.sentAt.size > 256) this.sentAt.delete(this.sentAt.keys().next().value);
    this.inputsSent++;
    if (this.binary) {
      this.client.sendBinary(encodeInput({seq, buttons: this.buttons, aim: this.aim, viewTick, ack}));
      return;
    }
    const data = {seq, aim: this.aim, view_tick: viewTick};
    for (const [name, bit] of Object.entries(BUTTON)) if (this.buttons & bit) data[name] = true;
    if (ack) data.ack = ack;
    this.client.send('arena.input', data);
  }

  /** What to draw at `nowMs`: the own player predicted, the others interpolated. @returns {ArenaFrame} */
  frame(nowMs = this.now()) {
    const s = this.interp ? this.interp.sample(nowMs) : {tick: 0, players: [], bullets: [], pickups: []};
    const latest = this.views.latest;
    const mine = this.mine();
    const shown = this.predictor?.shown();
    return {
      tick: s.tick,
      serverTick: latest?.tick ?? 0,
      me: mine && shown ? {...mine, x: mine.alive ? shown.x : mine.x, y: mine.alive ? shown.y : mine.y} : null,
      others: s.players.filter((p) => p.id !== this.you),
      bullets: s.bullets,
      pickups: s.pickups,
    };
  }

  /** The prediction error for a page: the last correction and the largest, in world units. */
  predictionError() {
    const sub = this.rules?.subUnits ?? 16;
    const p = this.predictor;
    return {last: p ? p.error / sub : 0, max: p ? p.maxError / sub : 0, corrections: p?.corrections ?? 0,
            pending: p?.pending.length ?? 0};
  }
}
