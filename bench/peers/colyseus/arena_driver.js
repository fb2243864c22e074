// Bots of the Arena peer comparison (see arena_run.sh): the same bots for Maratang's Arena and
// for the Colyseus room of arena_server.js. R rooms of S players; every bot sends one input a tick
// at 30 Hz (walking in a direction it changes every second, aim turning, always firing), and
// Maratang's bots acknowledge each state in their next input (binary, as the web page does). After
// a warm-up, for D seconds: the server's CPU time (utime + stime from /proc/PID/stat), the bytes
// every bot receives (WebSocket payloads), and the inputs sent.
//
//   node arena_driver.js --target maratang|colyseus --port PORT --pid SERVER_PID
//                        [--rooms 50] [--players 8] [--duration 10] [--warmup 3] [--json FILE]
'use strict';

const fs = require('fs');
const http = require('http');
const path = require('path');
const WebSocket = require('ws');

function parseArgs(argv) {
  const o = { target: '', port: 0, pid: 0, rooms: 50, players: 8, duration: 10, warmup: 3, json: '' };
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, '');
    if (!(k in o) || argv[i + 1] === undefined) throw new Error(`bad option ${argv[i]}`);
    o[k] = typeof o[k] === 'number' ? Number(argv[i + 1]) : argv[i + 1];
  }
  if (o.target !== 'maratang' && o.target !== 'colyseus') throw new Error('--target maratang|colyseus');
  if (!o.port || !o.pid) throw new Error('--port and --pid are required');
  return o;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const cpuOf = (pid) => {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, clock ticks of 1/100 s
};

async function pool(items, limit, fn) {
  let next = 0;
  const run = async () => { while (next < items.length) { const i = next++; await fn(items[i], i); } };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run));
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
function httpJson(port, method, p, body, token) {
  const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const headers = { 'content-type': 'application/json' };
  if (data) headers['content-length'] = data.length;
  if (token) headers.authorization = `Bearer ${token}`;
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: p, headers, agent, timeout: 10000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        if (res.statusCode >= 300) reject(new Error(`${method} ${p}: ${res.statusCode} ${text}`));
        else resolve(text ? JSON.parse(text) : {});
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${p}: timeout`)));
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

// One bot's behaviour, the same on both servers: a direction for a second, aim turning, firing.
function makeBot(k) {
  return {
    k, seq: 0, bytes: 0, messages: 0, inputs: 0, dir: k % 8, aim: (k * 8192) % 65536,
    buttons(tick) {
      if (tick % 30 === 0) this.dir = (this.dir + 3) % 8;
      const dirs = [1, 1 | 8, 8, 8 | 2, 2, 2 | 4, 4, 4 | 1]; // up, up-right, right, ...
      this.aim = (this.aim + 1000) % 65536;
      return dirs[this.dir] | 16;
    },
  };
}

// ---- Maratang: the SDK's binary input over `ws`, after REST login and the lobby in JSON.
async function setupMaratang(o, sdk) {
  const specs = [];
  for (let r = 0; r < o.rooms; ++r) for (let k = 0; k < o.players; ++k) specs.push({ r, k });
  await pool(specs, 16, async (sp) => {
    const acc = await httpJson(o.port, 'POST', '/v1/auth/device', { device_id: `arena-peer-${process.pid}-${sp.r}-${sp.k}` });
    await httpJson(o.port, 'PUT', '/v1/account/nickname', { nickname: `a${sp.r}x${sp.k}` }, acc.token);
    sp.token = acc.token;
  });
  const connect = (sp) => new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${o.port}/ws?token=${encodeURIComponent(sp.token)}`, { perMessageDeflate: false });
    const bot = makeBot(sp.k);
    bot.ws = ws;
    bot.ack = 0;
    bot.started = null;
    const pending = new Map();
    let id = 0;
    bot.request = (type, data) => new Promise((res, rej) => {
      pending.set(++id, { res, rej });
      ws.send(JSON.stringify({ type, id, data }));
    });
    ws.on('message', (buf, isBinary) => {
      bot.bytes += buf.length;
      bot.messages++;
      if (isBinary && buf[0] === sdk.STATE_TAG) {
        bot.ack = sdk.decodeState(new Uint8Array(buf.buffer, buf.byteOffset, buf.length)).tick;
        return;
      }
      const env = JSON.parse(buf);
      if (env.type === 'arena.started') bot.started = env.data;
      if (env.id !== undefined && pending.has(env.id)) {
        const p = pending.get(env.id);
        pending.delete(env.id);
        if (env.ok) p.res(env.data);
        else p.rej(new Error(`${env.type}: ${JSON.stringify(env.error)}`));
      }
    });
    ws.on('error', reject);
    ws.on('open', () => bot.request('hello', { version: 1, client: 'arena-peer', encoding: 'binary' }).then(() => resolve(bot), reject));
  });
  await pool(specs, 16, async (sp) => { sp.bot = await connect(sp); });
  const rooms = [];
  for (let r = 0; r < o.rooms; ++r) rooms.push(specs.filter((s) => s.r === r).map((s) => s.bot));
  await pool(rooms, 8, async (bots) => {
    const c = await bots[0].request('room.create', {
      mode: 'arena', name: 'peer', capacity: o.players,
      settings: { time_limit_s: o.warmup + o.duration + 60, score_limit: 0 },
    });
    for (const b of bots.slice(1)) {
      await b.request('room.join', { room_id: c.room.id });
      await b.request('room.ready', { ready: true });
    }
    await bots[0].request('room.start', {});
  });
  const all = specs.map((s) => s.bot);
  for (let i = 0; i < 100 && all.some((b) => !b.started); ++i) await sleep(100);
  if (all.some((b) => !b.started)) throw new Error('not every bot saw arena.started');
  for (const b of all) {
    b.send = (tick) => {
      b.seq++;
      b.inputs++;
      const ack = b.ack || null;
      b.ack = 0;
      b.ws.send(sdk.encodeInput({ seq: b.seq, buttons: b.buttons(tick), aim: b.aim, viewTick: null, ack }));
    };
    b.close = () => b.ws.terminate();
  }
  return all;
}

// ---- Colyseus: the official SDK, bytes counted on its socket.
async function setupColyseus(o) {
  const { Client } = await import('@colyseus/sdk');
  const client = new Client(`http://127.0.0.1:${o.port}`);
  const all = [];
  const attach = (room, k) => {
    const bot = makeBot(k);
    if (room.reconnection) room.reconnection.enabled = false;
    room.connection.transport.ws.on('message', (buf) => { bot.bytes += buf.byteLength; bot.messages++; });
    room.onStateChange(() => {});
    bot.send = (tick) => {
      bot.seq++;
      bot.inputs++;
      room.send('input', { seq: bot.seq, b: bot.buttons(tick), aim: bot.aim });
    };
    bot.close = () => { try { room.connection.transport.ws.terminate(); } catch { /* closed */ } };
    return bot;
  };
  await pool(Array.from({ length: o.rooms }, (_, r) => r), 8, async () => {
    const first = await client.create('arena', { maxClients: o.players });
    const bots = [attach(first, 0)];
    for (let k = 1; k < o.players; ++k) bots.push(attach(await client.joinById(first.roomId), k));
    all.push(...bots);
  });
  return all;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const sdk = await import(path.resolve(__dirname, '../../../web/public/sdk/arena.js'));
  const bots = o.target === 'maratang' ? await setupMaratang(o, sdk) : await setupColyseus(o);
  // Inputs at 30 Hz from one timer: every bot, every tick (ticks missed by a late timer are made
  // up, at most 3 at once, as the web SDK does).
  let tick = 0;
  const t0 = Date.now();
  const timer = setInterval(() => {
    const due = Math.floor(((Date.now() - t0) * 30) / 1000);
    for (let n = 0; tick < due && n < 3; ++n, ++tick) for (const b of bots) b.send(tick);
    tick = Math.max(tick, due - 3);
  }, 1000 / 60);
  await sleep(o.warmup * 1000);
  const sum = (f) => bots.reduce((s, b) => s + f(b), 0);
  const a = { at: Date.now(), cpu: cpuOf(o.pid), bytes: sum((b) => b.bytes), inputs: sum((b) => b.inputs), me: process.cpuUsage() };
  await sleep(o.duration * 1000);
  const z = { at: Date.now(), cpu: cpuOf(o.pid), bytes: sum((b) => b.bytes), inputs: sum((b) => b.inputs), me: process.cpuUsage(a.me) };
  clearInterval(timer);
  for (const b of bots) b.close();
  const wall = (z.at - a.at) / 1000;
  const util = (z.cpu - a.cpu) / wall;
  const r = {
    target: o.target, rooms: o.rooms, players: o.players, ccu: bots.length, wall,
    serverCoreShare: util,
    ccuPerCore: bots.length / util,
    bytesPerClientPerSec: (z.bytes - a.bytes) / bots.length / wall,
    inputsPerClientPerSec: (z.inputs - a.inputs) / bots.length / wall,
    driverCoreShare: (z.me.user + z.me.system) / 1e6 / wall,
  };
  console.log(`${o.target}: ${r.ccu} players in ${o.rooms} rooms of ${o.players}: server ${(100 * util).toFixed(0)} % of a core ` +
    `-> ${Math.round(r.ccuPerCore)} players per core; ${Math.round(r.bytesPerClientPerSec)} B/s received per client; ` +
    `${r.inputsPerClientPerSec.toFixed(1)} inputs/s per client; bots ${(100 * r.driverCoreShare).toFixed(0)} % of a core`);
  if (r.inputsPerClientPerSec < 29) {
    console.log(`${o.target}: the bots fell behind (${r.inputsPerClientPerSec.toFixed(1)} inputs/s of 30): ` +
      'these figures are not at the intended load');
  }
  if (o.json) fs.writeFileSync(o.json, JSON.stringify(r));
  setTimeout(() => process.exit(0), 200);
}

main().catch((e) => {
  console.error(`arena driver failed: ${(e && e.stack) || e}`);
  process.exit(1);
});
