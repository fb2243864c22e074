// Unit tests of the SDK (web/public/sdk/maratang.js) with node's own test runner, against fakes of
// what a browser gives it (WebSocket, fetch, localStorage): the paths the browser tests cannot
// provoke at will — a request that times out, requests failed by a dropped socket, reconnection
// with backoff and its end on a final session.closed, one refresh and retry on token_expired,
// the time.sync arithmetic, and binary messages. Run: node --test web/test/ (ctest: web_sdk_test).
import {test} from 'node:test';
import assert from 'node:assert/strict';

// --- fakes ----------------------------------------------------------------------------------------

class FakeStorage {
  constructor() { this.m = new Map(); }
  getItem(k) { return this.m.has(k) ? this.m.get(k) : null; }
  setItem(k, v) { this.m.set(k, String(v)); }
  removeItem(k) { this.m.delete(k); }
}

/** A WebSocket whose server side is the test: `server(ws)` sees each socket as it opens. */
class FakeWebSocket {
  static OPEN = 1;
  static sockets = [];
  static refuse = false;  // the next sockets close before opening (an upgrade refused)
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    FakeWebSocket.sockets.push(this);
    setTimeout(() => {
      if (FakeWebSocket.refuse) return this.serverClose(1006, '');
      this.readyState = 1;
      this.onopen?.();
    }, 1);
  }
  send(text) {
    if (typeof text !== 'string') return void this.sent.push({binary: [...text]});
    const m = JSON.parse(text);
    this.sent.push(m);
    // The fake server answers hello and time.sync; a test answers the rest.
    if (m.type === 'hello') this.reply(m, {version: 1, server_time: Date.now(), account: {id: 7}, room: null});
    if (m.type === 'time.sync') {
      // A server clock 5 s ahead of ours, and 40 ms of network each way.
      const recv = m.data.client_send + 40 + 5000;
      setTimeout(() => this.reply(m, {client_send: m.data.client_send, server_recv: recv, server_send: recv + 2}), 80);
    }
  }
  reply(m, data) { this.push({type: m.type, id: m.id, ok: true, data}); }
  fail(m, code) { this.push({type: m.type, id: m.id, ok: false, error: {code, message: code}}); }
  push(obj) { if (this.readyState === 1) this.onmessage?.({data: JSON.stringify(obj)}); }
  serverClose(code, reason) {
    this.readyState = 3;
    this.onclose?.({code, reason});
  }
  close() { this.readyState = 3; }
  static last() { return FakeWebSocket.sockets[FakeWebSocket.sockets.length - 1]; }
}

globalThis.WebSocket = FakeWebSocket;
let fetches = [];
let fetchAnswer = () => ({status: 200, body: {}});
globalThis.fetch = async (url, init) => {
  fetches.push({url, init, body: init.body ? JSON.parse(init.body) : undefined});
  const a = fetchAnswer(url, init);
  return {
    ok: a.status < 300, status: a.status, statusText: String(a.status),
    headers: {get: (h) => (h.toLowerCase() === 'content-type' ? 'application/json' : a.headers?.[h] ?? null)},
    json: async () => a.body, text: async () => JSON.stringify(a.body),
  };
};

const {Client, MaratangError} = await import('../public/sdk/maratang.js');

const session = (over = {}) => JSON.stringify({account_id: 7, token: 't1', refresh_token: 'r1',
                                               expires_at: Date.now() + 3600e3, kind: 'device', ...over});
function client(opts = {}) {
  const storage = new FakeStorage();
  storage.setItem('maratang.session', session(opts.session));
  FakeWebSocket.sockets = [];
  FakeWebSocket.refuse = false;
  fetches = [];
  return new Client({baseUrl: 'http://game.test', storage, requestTimeoutMs: 100, reconnectMaxMs: 200, ...opts});
}
const once = (c, type) => new Promise((resolve) => { const off = c.on(type, (d) => { off(); resolve(d); }); });

// --- tests ------------------------------------------------------------------------------------------

test('connect says hello with the token, and time.sync measures the server clock', async () => {
  const c = client();
  const hello = await c.connect();
  assert.equal(hello.account.id, 7);
  const ws = FakeWebSocket.last();
  assert.equal(ws.url, 'ws://game.test/ws?token=t1');
  assert.deepEqual(ws.sent[0].data, {version: 1, client: 'maratang-web'});
  const t = await once(c, 'time');
  // ((recv - send) + (send' - recv')) / 2 with 5 s skew and symmetric delays: about 5000.
  assert.ok(Math.abs(t.offset - 5000) < 60, `offset ${t.offset}`);
  assert.ok(Math.abs(c.remaining(Date.now() + 5000 + 1000) - 1000) < 60);
  c.disconnect();
});

test('binary: hello asks for it; a mode\'s bytes are a binary event, JSON in a binary frame is read as JSON; send has no id', async () => {
  const c = client({encoding: 'binary'});
  await c.connect();
  const ws = FakeWebSocket.last();
  assert.equal(ws.binaryType, 'arraybuffer');
  assert.deepEqual(ws.sent[0].data, {version: 1, client: 'maratang-web', encoding: 'binary'});
  const got = once(c, 'binary');
  ws.onmessage({data: Uint8Array.from([0xa1, 5, 0, 0]).buffer});
  assert.deepEqual([...(await got)], [0xa1, 5, 0, 0]);
  const chat = once(c, 'room.chat');
  ws.onmessage({data: new TextEncoder().encode('{"type":"room.chat","data":{"text":"hi"}}').buffer});
  assert.deepEqual(await chat, {text: 'hi'});
  assert.ok(c.send('arena.ack', {tick: 5}));
  assert.deepEqual(ws.sent[ws.sent.length - 1], {type: 'arena.ack', data: {tick: 5}});
  assert.ok(c.sendBinary(Uint8Array.from([2, 5])));
  assert.deepEqual(ws.sent[ws.sent.length - 1], {binary: [2, 5]});
  c.disconnect();
  assert.equal(c.send('arena.ack', {tick: 6}), false, 'not connected');
  assert.equal(c.sendBinary(Uint8Array.from([2, 6])), false);
});

test('a request is answered by its id; an error reply rejects with its stable code and retry_after_s', async () => {
  const c = client();
  await c.connect();
  const ws = FakeWebSocket.last();
  const p = c.request('room.list', {mode: 'mafia'});
  const m = ws.sent.find((x) => x.type === 'room.list');
  ws.push({type: 'room.chat', data: {text: 'interleaved'}});  // an event first: no effect on p
  ws.reply(m, {rooms: []});
  assert.deepEqual(await p, {rooms: []});
  const q = c.request('room.join', {room_id: 'x'});
  ws.fail(ws.sent.find((x) => x.type === 'room.join'), 'unknown_room');
  await assert.rejects(q, (e) => e instanceof MaratangError && e.code === 'unknown_room' && e.retryAfter === 0);
  // An error that says when to try again: retry_after_s becomes retryAfter.
  const r = c.request('room.invite', {player: 2});
  const inv = ws.sent.find((x) => x.type === 'room.invite');
  ws.push({type: inv.type, id: inv.id, ok: false, error: {code: 'rate_limited', message: 'wait', retry_after_s: 42}});
  await assert.rejects(r, (e) => e.code === 'rate_limited' && e.retryAfter === 42);
  c.disconnect();
});

test('a request nobody answers fails with timeout; one in flight when the socket drops fails with disconnected', async () => {
  const c = client();
  await c.connect();
  await assert.rejects(c.request('room.list'), (e) => e.code === 'timeout');
  const p = c.request('room.list');
  FakeWebSocket.last().serverClose(1006, '');
  await assert.rejects(p, (e) => e.code === 'disconnected');
  c.disconnect();
});

test('a dropped socket reconnects with backoff and says hello again', async () => {
  const c = client();
  await c.connect();
  const first = FakeWebSocket.last();
  const closed = once(c, 'close');
  const again = once(c, 'reconnecting');
  first.serverClose(1006, '');
  assert.equal((await closed).willReconnect, true);
  const r = await again;
  assert.equal(r.attempt, 1);
  assert.ok(r.inMs >= 0 && r.inMs <= 250, `first retry after ${r.inMs} ms`);
  await once(c, 'open');
  assert.notEqual(FakeWebSocket.last(), first);
  assert.equal(FakeWebSocket.last().sent[0].type, 'hello');
  c.disconnect();
});

test('session.closed replaced ends the connection for good: no reconnection', async () => {
  const c = client();
  await c.connect();
  const ws = FakeWebSocket.last();
  const closed = once(c, 'close');
  ws.push({type: 'session.closed', data: {reason: 'replaced'}});
  ws.serverClose(1000, '');
  const cl = await closed;
  assert.equal(cl.willReconnect, false);
  assert.equal(cl.reason, 'replaced');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(FakeWebSocket.sockets.length, 1);
});

test('REST: token_expired is refreshed once and the call retried; the new session is stored', async () => {
  const c = client();
  let calls = 0;
  fetchAnswer = (url, init) => {
    if (url.endsWith('/v1/auth/refresh')) {
      return {status: 200, body: {account_id: 7, token: 't2', refresh_token: 'r2', expires_at: Date.now() + 3600e3}};
    }
    calls++;
    if (init.headers.Authorization === 'Bearer t1') return {status: 401, body: {error: {code: 'token_expired', message: 'expired'}}};
    return {status: 200, body: {id: 7, nickname: 'Mina'}};
  };
  assert.deepEqual(await c.account(), {id: 7, nickname: 'Mina'});
  assert.equal(calls, 2);
  assert.deepEqual(fetches.find((f) => f.url.endsWith('/refresh')).body, {refresh_token: 'r1'});
  assert.equal(JSON.parse(c.storage.getItem('maratang.session')).token, 't2');
});

test('REST: an error keeps its code, status and Retry-After; a refused refresh signs out', async () => {
  const c = client();
  fetchAnswer = () => ({status: 429, headers: {'Retry-After': '3'}, body: {error: {code: 'rate_limited', message: 'slow down'}}});
  await assert.rejects(c.loginEmail('a@b.c', 'x'), (e) => e.code === 'rate_limited' && e.status === 429 && e.retryAfter === 3);
  fetchAnswer = () => ({status: 401, body: {error: {code: 'token_revoked', message: 'gone'}}});
  const ended = once(c, 'session');
  await assert.rejects(c.refresh(), (e) => e.code === 'token_revoked');
  assert.equal(await ended, null);
  assert.equal(c.signedIn(), false);
  assert.equal(c.storage.getItem('maratang.session'), null);
});

test('guest login keeps one device id per browser', async () => {
  const c = client();
  fetchAnswer = () => ({status: 201, body: {account_id: 9, token: 'g', refresh_token: 'gr', expires_at: Date.now() + 3600e3, created: true}});
  await c.loginGuest();
  await c.loginGuest();
  const ids = fetches.map((f) => f.body.device_id);
  assert.equal(ids.length, 2);
  assert.equal(ids[0], ids[1]);
  assert.ok(ids[0].length >= 8);
  assert.equal(c.session.token, 'g');
});
