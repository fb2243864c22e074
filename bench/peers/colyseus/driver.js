// Load driver of the chat fan-out peer comparison (see README.md, "Peer: Colyseus").
//
// Drives either server with the same traffic shape: R rooms of S members; in each room the first
// min(S, 10) members are senders that keep W chats in flight (the next chat goes when the server
// acknowledges one: Maratang's reply envelope, the Colyseus room's "ack" message); every member
// counts the chat deliveries it receives (the sender's own copy included, on both servers).
// After a warm-up, deliveries are counted over D seconds, and the server's CPU time over the same
// window is read from /proc/PID/stat (utime + stime, whole process, every thread).
//
//   node driver.js --target maratang|colyseus --port PORT --pid SERVER_PID
//                  [--shapes 100x8,10x100] [--duration 5] [--warmup 1.5] [--window 4]
//                  [--workers 1] [--decode full|header] [--json FILE] [--label NAME]
//
// --decode header (default): both clients tell a delivery from an acknowledgement by a byte or
// two of the frame and decode nothing else (for Colyseus, the SDK's socket handler is replaced
// after the join), so that a client process costs less per message and the servers get closer
// to saturation. --decode full: every message is decoded as an application would (JSON.parse for
// Maratang; the Colyseus SDK's own msgpack decoding and onMessage dispatch).
//
// The main process forks --workers client processes (child_process.fork) and gives each whole
// rooms; it only coordinates, samples counters and reads /proc. Every phase has a deadline, and
// the driver exits (non-zero) when one passes.
'use strict';

const { fork, execFileSync } = require('child_process');
const fs = require('fs');
const http = require('http');

const CHAT_TEXT = 'hello, fan-out';
const CHAT_PREFIX = Buffer.from('{"type":"room.chat","');
const OK_TRUE = Buffer.from('"ok":true');

// ---------------------------------------------------------------------------------------------
// Options

function parseArgs(argv) {
  const o = {
    target: '',
    port: 0,
    pid: 0,
    shapes: '100x8,10x100',
    duration: 5,
    warmup: 1.5,
    window: 4,
    workers: 1,
    decode: 'header',
    json: '',
    label: '',
    setupTimeout: 120,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, '');
    const v = argv[i + 1];
    if (!(k in o) || v === undefined) throw new Error(`bad option ${argv[i]}`);
    o[k] = typeof o[k] === 'number' ? Number(v) : v;
  }
  if (o.target !== 'maratang' && o.target !== 'colyseus') throw new Error('--target maratang|colyseus');
  if (!o.port || !o.pid) throw new Error('--port and --pid are required');
  if (o.decode !== 'full' && o.decode !== 'header') throw new Error('--decode full|header');
  o.shapes = o.shapes.split(',').map((s) => {
    const [r, m] = s.split('x').map(Number);
    if (!(r > 0 && m > 0)) throw new Error(`bad shape ${s} (want ROOMSxSIZE)`);
    return { rooms: r, size: m };
  });
  return o;
}

// ---------------------------------------------------------------------------------------------
// Main process: coordination and measurement

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

function cpuSeconds(pid) {
  const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  // f[0] is field 3 (state); utime is field 14 -> f[11], stime field 15 -> f[12].
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

// Busy CPU-seconds of the whole machine (every core) from /proc/stat.
function machineBusySeconds() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0); // user..steal (guest is inside user)
  return (total - f[3] - f[4]) / CLK_TCK; // minus idle and iowait
}

// Write system calls of the process so far (/proc/PID/io syscw: write, writev; not sendmsg).
function writeSyscalls(pid) {
  const m = /syscw:\s*(\d+)/.exec(fs.readFileSync(`/proc/${pid}/io`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

// Maratang's own counters: messages queued to WebSocket clients, and the sendmsg calls that
// carried them (it writes with sendmsg, which syscw does not count).
function maratangWrites(port) {
  return new Promise((resolve) => {
    http
      .get({ host: '127.0.0.1', port, path: '/metrics', timeout: 5000 }, (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => {
          const num = (name) => {
            const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'm').exec(text);
            return m ? Number(m[1]) : NaN;
          };
          resolve({ messages: num('maratang_messages_out_total'), writes: num('maratang_ws_writes_total') });
        });
      })
      .on('error', () => resolve({ messages: NaN, writes: NaN }));
  });
}

function withTimeout(promise, seconds, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timeout: ${what} (${seconds} s)`)), seconds * 1000);
    }),
  ]).finally(() => clearTimeout(timer));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

class Worker {
  constructor(index, opts) {
    this.child = fork(__filename, ['--worker'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.index = index;
    this.waiters = new Map();
    this.seq = 0;
    this.exited = false;
    this.child.on('message', (m) => {
      const w = this.waiters.get(m.seq);
      if (!w) return;
      this.waiters.delete(m.seq);
      if (m.error) w.reject(new Error(`worker ${index}: ${m.error}`));
      else w.resolve(m);
    });
    this.child.on('exit', (code) => {
      this.exited = true;
      for (const w of this.waiters.values()) w.reject(new Error(`worker ${index} exited (${code})`));
      this.waiters.clear();
    });
  }
  call(cmd, args = {}) {
    if (this.exited) return Promise.reject(new Error(`worker ${this.index} is gone`));
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      this.waiters.set(seq, { resolve, reject });
      this.child.send({ seq, cmd, ...args });
    });
  }
  kill() {
    if (!this.exited) this.child.kill('SIGKILL');
  }
}

async function runShape(o, shape, shapeIndex) {
  const nWorkers = Math.max(1, Math.min(o.workers, shape.rooms));
  const workers = [];
  for (let i = 0; i < nWorkers; ++i) workers.push(new Worker(i, o));
  try {
    // Whole rooms per worker, dealt round-robin.
    const senders = Math.min(shape.size, 10);
    await withTimeout(
      Promise.all(
        workers.map((w, i) => {
          const rooms = [];
          for (let r = i; r < shape.rooms; r += nWorkers) rooms.push(r);
          return w.call('setup', {
            target: o.target,
            port: o.port,
            rooms,
            size: shape.size,
            senders,
            window: o.window,
            decode: o.decode,
            tag: `s${shapeIndex}`,
          });
        }),
      ),
      o.setupTimeout,
      'accounts, connections and rooms',
    );
    await withTimeout(Promise.all(workers.map((w) => w.call('start'))), 10, 'start');
    await sleep(o.warmup * 1000);

    const sample = async () => {
      const io =
        o.target === 'maratang' ? await maratangWrites(o.port) : { messages: NaN, writes: writeSyscalls(o.pid) };
      const cpu = cpuSeconds(o.pid);
      const busy = machineBusySeconds();
      const own = process.cpuUsage();
      const t = process.hrtime.bigint();
      const rs = await withTimeout(Promise.all(workers.map((w) => w.call('sample'))), 10, 'sample');
      return {
        io,
        cpu,
        busy,
        own: (own.user + own.system) / 1e6,
        t,
        deliveries: rs.reduce((a, r) => a + r.deliveries, 0),
        acks: rs.reduce((a, r) => a + r.acks, 0),
        clientCpu: rs.reduce((a, r) => a + r.cpu, 0),
      };
    };
    const a = await sample();
    await sleep(o.duration * 1000);
    const b = await sample();
    const wall = Number(b.t - a.t) / 1e9;
    const deliveries = b.deliveries - a.deliveries;
    const serverCpu = b.cpu - a.cpu;
    const res = await withTimeout(Promise.all(workers.map((w) => w.call('stop'))), 15, 'stop');
    const errors = res.reduce((a2, r) => a2 + r.errors, 0);
    return {
      rooms: shape.rooms,
      size: shape.size,
      senders,
      window: o.window,
      workers: nWorkers,
      wall,
      deliveries,
      chats: b.acks - a.acks,
      deliveriesPerSec: deliveries / wall,
      serverCpu,
      serverUtil: serverCpu / wall,
      deliveriesPerServerCpuSec: deliveries / Math.max(serverCpu, 1e-9),
      clientUtil: (b.clientCpu - a.clientCpu + b.own - a.own) / wall,
      // Everything else on the machine in the window: other processes, interrupts.
      otherUtil: (b.busy - a.busy - serverCpu - (b.clientCpu - a.clientCpu) - (b.own - a.own)) / wall,
      decode: o.decode,
      // Messages sent to clients per write system call: Maratang's counters; for Colyseus every
      // delivery and acknowledgement over the process's write calls.
      messagesPerWrite:
        o.target === 'maratang'
          ? (b.io.messages - a.io.messages) / (b.io.writes - a.io.writes)
          : (deliveries + b.acks - a.acks) / (b.io.writes - a.io.writes),
      errors,
    };
  } finally {
    for (const w of workers) w.kill();
  }
}

async function mainProcess() {
  const o = parseArgs(process.argv.slice(2));
  const label = o.label || o.target;
  const results = [];
  for (let i = 0; i < o.shapes.length; ++i) {
    const r = await runShape(o, o.shapes[i], i);
    results.push(r);
    console.log(
      `${label}: ${r.rooms} rooms of ${r.size} (${r.senders} senders, ${r.window} in flight): ` +
        `${Math.round(r.deliveriesPerSec)} deliveries/s; server CPU ${r.serverCpu.toFixed(2)} s in ` +
        `${r.wall.toFixed(2)} s (${Math.round(100 * r.serverUtil)} % of a core) -> ` +
        `${Math.round(r.deliveriesPerServerCpuSec)} deliveries per server CPU-second; ` +
        `${(r.deliveries / Math.max(1, r.chats)).toFixed(2)} deliveries per acknowledged chat; ` +
        `${r.messagesPerWrite.toFixed(1)} messages per write call; ` +
        `client ${Math.round(100 * r.clientUtil)} % of a core in ${r.workers} process(es); ` +
        `rest of the machine ${Math.round(100 * r.otherUtil)} %` +
        (r.errors ? `; ${r.errors} client errors` : ''),
    );
  }
  if (o.json) fs.writeFileSync(o.json, JSON.stringify({ target: o.target, label, results }, null, 2));
}

// ---------------------------------------------------------------------------------------------
// Worker process: the clients

const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

function httpJson(port, method, path, body, token) {
  const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const headers = { 'content-type': 'application/json' };
  if (data) headers['content-length'] = data.length;
  if (token) headers.authorization = `Bearer ${token}`;
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method, path, headers, agent, timeout: 10000 },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          if (res.statusCode >= 300) reject(new Error(`${method} ${path}: ${res.statusCode} ${text}`));
          else resolve(text ? JSON.parse(text) : {});
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timeout`)));
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

// Runs fn over items with at most `limit` in flight.
async function pool(items, limit, fn) {
  let next = 0;
  const run = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run));
}

const state = {
  members: [], // { send(), close(), sender, deliveries, acks }
  sending: false,
  errors: 0,
};

// Each member object: `onAck()` sends the next chat while running; `prime()` sends the window.
function makeMember(sender, window) {
  return {
    sender,
    window,
    deliveries: 0,
    acks: 0,
    nextId: 1,
    sendChat: null,
    close: null,
    onAck() {
      this.acks++;
      if (state.sending) this.sendChat(this.nextId++);
    },
    prime() {
      if (!this.sender) return;
      for (let i = 0; i < this.window; ++i) this.sendChat(this.nextId++);
    },
  };
}

// ---- Maratang: `ws` client speaking the JSON envelope.
async function setupMaratang(m) {
  const WebSocket = require('ws');
  const port = m.port;
  const members = [];
  // Accounts, connections and hello, per member.
  const specs = [];
  for (const r of m.rooms) for (let k = 0; k < m.size; ++k) specs.push({ room: r, k });
  await pool(specs, 16, async (sp) => {
    const device = `peer-${m.tag}-${process.pid}-${sp.room}-${sp.k}`;
    const acc = await httpJson(port, 'POST', '/v1/auth/device', { device_id: device });
    await httpJson(port, 'PUT', '/v1/account/nickname', { nickname: `p${m.tag}r${sp.room}m${sp.k}` }, acc.token);
    sp.token = acc.token;
  });
  const connect = (sp) =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?token=${encodeURIComponent(sp.token)}`, {
        perMessageDeflate: false,
        skipUTF8Validation: true,
      });
      const member = makeMember(sp.k < m.senders, m.window);
      member.ws = ws;
      member.pending = new Map(); // request id -> resolve, during setup
      let reqId = 0;
      member.request = (type, data) =>
        new Promise((res, rej) => {
          const id = ++reqId;
          member.pending.set(id, { res, rej });
          ws.send(JSON.stringify({ type, id, data }));
        });
      // Chats carry string ids ("c1", "c2", ...) so that their replies are told apart from setup
      // replies without parsing more than the envelope.
      member.sendChat = (n) => ws.send(`{"type":"room.chat","id":"c${n}","data":{"text":"${CHAT_TEXT}"}}`);
      member.close = () => ws.terminate();
      ws.on('message', (buf) => {
        // --decode header: an event is {"type":"room.chat","data":..., a chat's reply
        // {"type":"room.chat","id":"c..","ok":true,...; anything else is decoded in full.
        if (m.decode === 'header' && buf.length > CHAT_PREFIX.length &&
            buf.compare(CHAT_PREFIX, 0, CHAT_PREFIX.length, 0, CHAT_PREFIX.length) === 0) {
          const c = buf[CHAT_PREFIX.length];
          if (c === 0x64 /* d */) {
            member.deliveries++;
            return;
          }
          if (c === 0x69 /* i */ && buf[CHAT_PREFIX.length + 5] === 0x63 /* id":"c */) {
            if (buf.includes(OK_TRUE)) member.onAck();
            else state.errors++;
            return;
          }
        }
        // Every other message, and every message with --decode full, is decoded as a client would.
        const env = JSON.parse(buf);
        if (env.type === 'room.chat') {
          if (env.ok === undefined) member.deliveries++;
          else if (env.ok) member.onAck();
          else state.errors++;
          return;
        }
        if (env.id !== undefined && member.pending.has(env.id)) {
          const p = member.pending.get(env.id);
          member.pending.delete(env.id);
          if (env.ok) p.res(env.data);
          else p.rej(new Error(`${env.type}: ${JSON.stringify(env.error)}`));
        }
      });
      ws.on('error', (e) => {
        state.errors++;
        reject(e);
      });
      ws.on('open', () => {
        member
          .request('hello', { version: 1, client: 'peer-driver' })
          .then(() => resolve(member), reject);
      });
    });
  await pool(specs, 16, async (sp) => {
    sp.member = await connect(sp);
  });
  // Rooms: the first member creates, the others join.
  const byRoom = new Map();
  for (const sp of specs) {
    if (!byRoom.has(sp.room)) byRoom.set(sp.room, []);
    byRoom.get(sp.room).push(sp.member);
  }
  await pool([...byRoom.values()], 8, async (ms) => {
    const created = await ms[0].request('room.create', { mode: 'test.counter', name: 'fan', capacity: m.size });
    const id = created.room.id;
    for (let i = 1; i < ms.length; ++i) await ms[i].request('room.join', { room_id: id });
  });
  for (const sp of specs) members.push(sp.member);
  return members;
}

// ---- Colyseus: the official client SDK.
async function setupColyseus(m) {
  const { Client } = await import('@colyseus/sdk');
  const client = new Client(`http://127.0.0.1:${m.port}`);
  const members = [];
  const attach = (room, k) => {
    const member = makeMember(k < m.senders, m.window);
    member.room = room;
    // The driver ends its connections itself: no automatic reconnection.
    if (room.reconnection) room.reconnection.enabled = false;
    member.sendChat = (n) => room.send('chat', { text: CHAT_TEXT, id: n });
    member.close = () => {
      try {
        room.connection.transport.ws.terminate();
      } catch {
        /* already closed */
      }
    };
    room.onMessage('chat', () => {
      member.deliveries++;
    });
    room.onMessage('ack', () => member.onAck());
    room.onError(() => state.errors++);
    if (m.decode === 'header') {
      // A room message is [13 (ROOM_DATA), msgpack string type, msgpack payload]: "chat" starts
      // a4 63, "ack" a3 61. The SDK's socket handler is replaced; anything else is an error here.
      const ws = room.connection.transport.ws;
      ws.onmessage = null;
      ws.binaryType = 'nodebuffer';
      ws.on('message', (b) => {
        if (b[0] === 13 && b[1] === 0xa4 && b[2] === 0x63) member.deliveries++;
        else if (b[0] === 13 && b[1] === 0xa3 && b[2] === 0x61) member.onAck();
        else state.errors++;
      });
    }
    return member;
  };
  await pool(m.rooms, 8, async (r) => {
    const first = await client.create('chat', { maxClients: m.size, nickname: `p${m.tag}r${r}m0` });
    const ms = [attach(first, 0)];
    for (let k = 1; k < m.size; ++k) {
      const room = await client.joinById(first.roomId, { nickname: `p${m.tag}r${r}m${k}` });
      ms.push(attach(room, k));
    }
    members.push(...ms);
  });
  return members;
}

function workerProcess() {
  process.on('message', async (msg) => {
    const reply = (extra) => process.send({ seq: msg.seq, ...extra });
    try {
      if (msg.cmd === 'setup') {
        state.members = msg.target === 'maratang' ? await setupMaratang(msg) : await setupColyseus(msg);
        reply({ members: state.members.length });
      } else if (msg.cmd === 'start') {
        state.sending = true;
        for (const mb of state.members) mb.prime();
        reply({});
      } else if (msg.cmd === 'sample') {
        let deliveries = 0;
        let acks = 0;
        for (const mb of state.members) {
          deliveries += mb.deliveries;
          acks += mb.acks;
        }
        const u = process.cpuUsage();
        reply({ deliveries, acks, cpu: (u.user + u.system) / 1e6 });
      } else if (msg.cmd === 'stop') {
        state.sending = false;
        await sleep(200); // let chats in flight land before closing
        for (const mb of state.members) mb.close();
        reply({ errors: state.errors });
        setTimeout(() => process.exit(0), 100);
      }
    } catch (e) {
      reply({ error: String((e && e.stack) || e) });
    }
  });
  process.on('disconnect', () => process.exit(0));
}

// ---------------------------------------------------------------------------------------------

if (process.argv[2] === '--worker') {
  workerProcess();
} else {
  mainProcess().catch((e) => {
    console.error(`driver failed: ${(e && e.message) || e}`);
    process.exit(1);
  });
}
