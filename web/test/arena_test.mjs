// Unit tests of the Arena SDK (web/public/sdk/arena.js) with node's own test runner. The movement
// step and the state decoding are checked against fixtures made by the server's own code
// (src/modes/arena/client_fixtures_test.cpp writes web/test/fixtures/*.json from sim::step and
// client_snapshots), so the JavaScript is compared with the C++, not with numbers typed twice.
// Run: node --test web/test/ (ctest: web_sdk_test).
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import {
  ArenaGame, ArenaStateError, ArenaViews, BUTTON, Interpolator, Predictor, applyState, decodeState,
  encodeAck, encodeInput, move, rulesFrom,
} from '../public/sdk/arena.js';

const fixture = (name) => JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url)));
const moves = fixture('arena_moves.json');
const states = fixture('arena_states.json');
const fromHex = (s) => Uint8Array.from(Buffer.from(s, 'hex'));

/** A view as plain data, for deepEqual with the server's full view. */
function plain(v) {
  const o = {tick: v.tick, seq: v.seq};
  for (const kind of ['players', 'bullets', 'pickups']) {
    o[kind] = [...v[kind]].sort((a, b) => a[0] - b[0]).map(([id, f]) => ({id, ...f}));
  }
  return o;
}
/** The server's full view (encode_full) the same way. */
function plainFull(full) {
  const o = {tick: full.tick, seq: full.seq};
  for (const kind of ['players', 'bullets', 'pickups']) {
    o[kind] = full[kind].map((e) => ({...e})).sort((a, b) => a.id - b.id);
  }
  return o;
}

// --- movement ------------------------------------------------------------------------------------

test('the movement step equals the server\'s sim::step for a scripted input stream', () => {
  assert.equal(moves.cases.length, 3);
  for (const c of moves.cases) {
    const rules = rulesFrom(c.started);
    let pos = {x: c.start[0], y: c.start[1]};
    assert.equal(c.inputs.length, c.positions.length);
    for (let i = 0; i < c.inputs.length; i++) {
      if (c.inputs[i] >= 0) pos = move(rules, pos, c.inputs[i]);
      assert.deepEqual([pos.x, pos.y], c.positions[i], `hz ${rules.hz}, tick ${i + 1}, buttons ${c.inputs[i]}`);
    }
  }
});

test('the prediction, fed the same inputs, is where the server put the player', () => {
  const c = moves.cases[0];
  const p = new Predictor(rulesFrom(c.started));
  p.reconcile({x: c.start[0], y: c.start[1]}, 0, true);
  let seq = 0;
  for (let i = 0; i < c.inputs.length; i++) {
    if (c.inputs[i] < 0) continue;
    p.apply({seq: ++seq, buttons: c.inputs[i]});
    assert.deepEqual([p.pos.x, p.pos.y], c.positions[i]);
  }
  assert.equal(p.pending.length, seq);
});

// --- states --------------------------------------------------------------------------------------

test('binary states decode to exactly the JSON ones', () => {
  for (const m of states.messages) assert.deepEqual(decodeState(fromHex(m.binary)), m.json);
});

test('deltas applied with lost states and late acks equal the full view, in JSON and binary', () => {
  const msgs = states.messages;
  assert.ok(msgs.length > 150);
  const fulls = msgs.filter((m) => m.json.base === 0).length;
  assert.ok(fulls >= 2 && fulls < msgs.length / 4, `mostly deltas (${fulls} full of ${msgs.length})`);
  assert.ok(msgs.some((m) => m.json.gone), 'some entities went out of view');
  for (const encoding of ['json', 'binary']) {
    const views = new ArenaViews();
    for (const m of msgs) {
      const v = views.receive(encoding === 'json' ? structuredClone(m.json) : fromHex(m.binary));
      assert.ok(v, `tick ${m.json.tick} (base ${m.json.base}) applies`);
      assert.deepEqual(plain(v), plainFull(m.full), `tick ${m.json.tick}, ${encoding}`);
      assert.equal(views.takeAck(), m.json.tick, 'the newest applied state is acknowledged');
    }
    assert.equal(views.refused, 0);
    assert.equal(views.latest.tick, msgs[msgs.length - 1].json.tick);
  }
});

test('a delta against a view the client does not have is refused, and the next full one applies', () => {
  const msgs = states.messages;
  const i = msgs.findIndex((m, k) => k > 0 && m.json.base !== 0);
  const views = new ArenaViews();
  assert.equal(views.receive(msgs[i].json), null, 'no base: refused, not guessed');
  assert.equal(views.refused, 1);
  assert.equal(views.takeAck(), 0, 'nothing to acknowledge');
  assert.ok(views.receive(msgs[0].json));
  assert.throws(() => applyState(null, {tick: 5, base: 3, seq: 0}), ArenaStateError);
  assert.throws(() => applyState(null, {tick: 5, base: 0, seq: 0, players: [{id: 1, x: 1}]}), /every field/);
  const v = applyState(null, {tick: 5, base: 0, seq: 0, players: [], bullets: [], pickups: []});
  assert.throws(() => applyState(v, {tick: 6, base: 5, seq: 0, gone: {players: [9]}}), /unknown id/);
});

test('malformed binary states throw, never half-apply', () => {
  const good = fromHex(states.messages[0].binary);
  assert.throws(() => decodeState(good.subarray(0, good.length - 1)), ArenaStateError);
  assert.throws(() => decodeState(Uint8Array.from([...good, 0])), /after the end/);
  assert.throws(() => decodeState(Uint8Array.from([0x7b])), /not an arena state/);
  // Random bytes after the tag: an error or a state, never an exception of another kind.
  let seed = 1;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) % 256;
  for (let i = 0; i < 2000; i++) {
    const b = Uint8Array.from({length: 1 + (i % 40)}, (_, k) => (k === 0 ? 0xa1 : rnd()));
    try { decodeState(b); } catch (e) { assert.ok(e instanceof ArenaStateError, String(e)); }
  }
});

test('binary inputs and acks are the server\'s layout (snapshot.cpp encode_input)', () => {
  // 0x01, seq 300 (0xac 0x02), up|fire, aim 65535 (0xff 0xff 0x03), view_tick 9 + 1, ack 127.
  assert.deepEqual([...encodeInput({seq: 300, buttons: BUTTON.up | BUTTON.fire, aim: 65535, viewTick: 9, ack: 127})],
                   [0x01, 0xac, 0x02, 0x11, 0xff, 0xff, 0x03, 10, 127]);
  assert.deepEqual([...encodeInput({seq: 1, buttons: 0, aim: 0})], [0x01, 1, 0, 0, 0, 0]);
  assert.deepEqual([...encodeAck(200)], [0x02, 0xc8, 0x01]);
});

// --- reconciliation ----------------------------------------------------------------------------

test('reconciliation replays the inputs the server has not applied yet', () => {
  const c = moves.cases[0];
  const rules = rulesFrom(c.started);
  const start = {x: c.start[0], y: c.start[1]};
  // The server's positions after each input, from the C++ fixture (ticks with an input only).
  const server = [];
  const buttons = [];
  c.inputs.forEach((b, i) => { if (b >= 0) { buttons.push(b); server.push({x: c.positions[i][0], y: c.positions[i][1]}); } });
  const walk = (from, first, last) => {
    let q = from;
    for (let s = first; s <= last; s++) q = move(rules, q, buttons[s - 1]);
    return q;
  };
  // The input D the server will drop: the first after 30 whose loss changes where the player ends
  // (dropping one pushed into a wall changes nothing); N inputs sent in all.
  let D = 31;
  while (JSON.stringify(walk(server[D - 2], D + 1, D + 9)) === JSON.stringify(server[D + 8])) D++;
  const N = D + 9;
  const p = new Predictor(rules);
  p.reconcile(start, 0, true);
  for (let s = 1; s <= N; s++) p.apply({seq: s, buttons: buttons[s - 1]});
  const predicted = {...p.pos};
  assert.deepEqual(predicted, server[N - 1]);
  // States arrive for inputs 1..D-1 while the rest are in flight: replayed, no error.
  for (let s = 1; s < D; s++) {
    assert.equal(p.reconcile(server[s - 1], s), 0, `state after input ${s}`);
    assert.equal(p.pending.length, N - s);
    assert.deepEqual(p.pos, predicted);
  }
  // The server dropped input D (a full queue): its state for D+1 is one input short. The
  // prediction moves to where the server really is, and says by how much it was off.
  const truth = walk(server[D - 2], D + 1, D + 1);
  const err = p.reconcile(truth, D + 1);
  const replayed = walk(truth, D + 2, N);
  assert.deepEqual(p.pos, replayed);
  assert.ok(err > 0 && err === Math.hypot(predicted.x - replayed.x, predicted.y - replayed.y));
  assert.equal(p.error, err);
  assert.equal(p.corrections, 1);
  assert.equal(p.pending.length, N - D - 1);
  // The screen does not jump: the correction is drawn away over a few frames.
  assert.deepEqual(p.shown(), predicted);
  p.smooth(50);
  const mid = p.shown();
  assert.ok(Math.hypot(mid.x - replayed.x, mid.y - replayed.y) < err);
  p.smooth(1000);
  assert.deepEqual(p.shown(), replayed);
  // A respawn is a jump, not an error.
  assert.equal(p.reconcile({x: 1600, y: 1600}, N, true), 0);
  assert.equal(p.pending.length, 0);
});

// --- interpolation -------------------------------------------------------------------------------

function viewAt(tick, x, extra = {}) {
  return applyState(null, {tick, base: 0, seq: 0,
    players: [{id: 1, x, y: 100, aim: 0, hp: 100, alive: 1, slot: 0}],
    bullets: [{id: 5, x: 0, y: 0, vx: 10, vy: 0, born: 10, owner: 0}], pickups: [], ...extra});
}

test('others are shown about two snapshot intervals back, between the states around that time', () => {
  const it = new Interpolator(30, 2);
  // States at 30 Hz arriving on time (33.3 ms apart), the first at 1000 ms.
  for (let k = 0; k < 10; k++) it.push(viewAt(10 + k, 1000 + 300 * k), 1000 + (k * 1000) / 30);
  const now = 1000 + (9 * 1000) / 30 + 1000 / 60;  // half a tick after tick 19 arrived
  assert.ok(Math.abs(it.serverTick(now) - 19.5) < 1e-9);
  assert.ok(Math.abs(it.renderTick(now) - 17.5) < 1e-9);
  const s = it.sample(now);
  assert.equal(s.players.length, 1);
  assert.ok(Math.abs(s.players[0].x - (1000 + 300 * 7.5)) < 1e-6, `x ${s.players[0].x}`);
  // A bullet: where it was fired plus its velocity for every tick since (README).
  assert.ok(Math.abs(s.bullets[0].x - 10 * (17.5 + 1 - 10)) < 1e-6);
  // A late state does not pull the clock back at once; later ones keep it.
  it.push(viewAt(20, 4000), now + 200);
  assert.ok(it.serverTick(now) > 19.4);
  // Never past the newest state, never before the oldest.
  assert.equal(it.renderTick(now + 10000), 20);
});

// --- ArenaGame over a fake Client -------------------------------------------------------------------

/** A state in the binary layout (players only; enough for the test of the wiring). */
function binaryState(m) {
  const out = [0xa1];
  const varint = (x) => { while (x >= 0x80) { out.push((x % 0x80) | 0x80); x = Math.floor(x / 0x80); } out.push(x); };
  const signed = (x) => varint(x < 0 ? -2 * x - 1 : 2 * x);
  varint(m.tick); varint(m.base); varint(m.seq);
  varint(m.players.length);
  for (const e of m.players) {
    const names = ['x', 'y', 'aim', 'hp', 'alive', 'slot'].filter((n) => n in e);
    signed(e.id);
    out.push(names.reduce((mask, n) => mask | (1 << ['x', 'y', 'aim', 'hp', 'alive', 'slot'].indexOf(n)), 0));
    for (const n of names) signed(e[n]);
  }
  out.push(0, 0, 0, 0, 0);  // no gone players; no bullets, none gone; no pickups, none gone
  return Uint8Array.from(out);
}

class FakeClient {
  constructor(encoding) {
    this.encoding = encoding;
    this.session = {account_id: 1};
    this.sent = [];
    this.handlers = new Map();
  }
  on(type, fn) { this.handlers.set(type, fn); return () => this.handlers.delete(type); }
  send(type, data) { this.sent.push({type, data}); return true; }
  sendBinary(bytes) { this.sent.push({bytes}); return true; }
  push(type, data) { this.handlers.get(type)?.(data); }
}

for (const encoding of ['json', 'binary']) {
  test(`a game sends one input a tick, predicts it, and reconciles with no error (${encoding})`, () => {
    const c = moves.cases[0];
    const client = new FakeClient(encoding);
    let now = 0;
    const g = new ArenaGame(client, {now: () => now});
    g.start({...c.started, you: 1});
    g.stop();  // the test drives the ticks
    const server = {x: c.start[0], y: c.start[1]};
    const full = {tick: 1, base: 0, seq: 0, players: [{id: 1, x: server.x, y: server.y, aim: 0, hp: 100, alive: 1, slot: 0}],
                  bullets: [], pickups: []};
    client.push('arena.state', full);
    g.setInput({right: true, down: true, aim: 16384});
    for (let k = 0; k < 5; k++) { now += 34; g.update(now); }
    assert.equal(client.sent.length, 5, 'one input a tick');
    const first = client.sent[0];
    if (encoding === 'json') {
      assert.equal(first.type, 'arena.input');
      assert.deepEqual(first.data, {seq: 1, aim: 16384, view_tick: 1, down: true, right: true, ack: 1});
      assert.equal(client.sent[1].data.ack, undefined, 'acknowledged once');
    } else {
      assert.deepEqual([...first.bytes], [...encodeInput({seq: 1, buttons: BUTTON.down | BUTTON.right, aim: 16384, viewTick: 1, ack: 1})]);
    }
    // The server applies inputs 1..3 and says so: the prediction keeps inputs 4 and 5 on top.
    let p = server;
    for (let s = 0; s < 3; s++) p = move(g.rules, p, BUTTON.down | BUTTON.right);
    const delta = {tick: 4, base: 1, seq: 3, players: [{id: 1, x: p.x, y: p.y}]};
    if (encoding === 'json') client.push('arena.state', delta);
    else client.push('binary', binaryState(delta));
    assert.equal(g.predictor.pending.length, 2);
    assert.equal(g.predictionError().last, 0);
    let expect = p;
    for (let s = 0; s < 2; s++) expect = move(g.rules, expect, BUTTON.down | BUTTON.right);
    assert.deepEqual(g.frame(now).me && {x: g.frame(now).me.x, y: g.frame(now).me.y}, expect);
    assert.ok(g.ping > 0);
    // Nothing held, the aim unchanged: no input (the server would not move the player either),
    // only the acknowledgement of the newest state.
    g.setInput({});
    const before = client.sent.length;
    for (let k = 0; k < 3; k++) { now += 34; g.update(now); }
    assert.equal(client.sent.length, before + 1);
    const last = client.sent[client.sent.length - 1];
    if (encoding === 'json') assert.deepEqual(last, {type: 'arena.ack', data: {tick: 4}});
    else assert.deepEqual([...last.bytes], [0x02, 4]);
    g.destroy();
  });
}

test('the dead send no input, only acknowledgements', () => {
  const client = new FakeClient('json');
  let now = 0;
  const g = new ArenaGame(client, {now: () => now});
  g.start({...moves.cases[0].started, you: 1});
  g.stop();
  client.push('arena.state', {tick: 3, base: 0, seq: 0, players: [{id: 1, x: 500, y: 500, aim: 0, hp: 0, alive: 0, slot: 0}],
                              bullets: [], pickups: []});
  for (let k = 0; k < 3; k++) { now += 34; g.update(now); }
  assert.deepEqual(client.sent, [{type: 'arena.ack', data: {tick: 3}}]);
});
