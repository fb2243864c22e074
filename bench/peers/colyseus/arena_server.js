// Colyseus side of the Arena peer comparison (see arena_run.sh and src/modes/arena/README.md,
// "Figures"): the same game as Maratang's Arena, as a Colyseus room with @colyseus/schema state.
//
// One room type "arena". The simulation ticks at 30 Hz (setSimulationInterval) and the state is
// patched at the same rate (setPatchRate; Colyseus's default is 20 Hz). Each client's inputs go
// to a bounded queue (8), one drained a tick, as Maratang does. The movement is Maratang's own
// step (move() from web/public/sdk/arena.js, the port of sim::move on the default map); bullets are
// fired every 6 ticks at most, fly 384 sub-units a tick for 36 ticks, hit within the player's
// radius (the same segment test as sim.cpp), take 20 of 100 health, and the dead respawn 60 ticks
// later. A bullet's fields never change after it is fired (origin, velocity, birth tick), so the
// schema sends it once, as Maratang does. What it leaves out: lag compensation, health pickups,
// interest management (every client gets the whole room, as Colyseus does without a StateView).
//
//   NODE_ENV=production node arena_server.js [PORT [PORT_FILE]]
'use strict';

const path = require('path');
const { Server, Room } = require('@colyseus/core');
const { WebSocketTransport } = require('@colyseus/ws-transport');
const { schema, t } = require('@colyseus/schema');

const HZ = 30;
const SUB = 16;
const RULES = {
  hz: HZ, width: 1600 * SUB, height: 1200 * SUB, radius: 16 * SUB, step: 106, diagStep: 74,
  walls: [[380, 280, 420, 520], [1180, 280, 1220, 520], [380, 680, 420, 920], [1180, 680, 1220, 920],
          [700, 580, 900, 620], [760, 140, 840, 180], [760, 1020, 840, 1060]].map((w) => w.map((v) => v * SUB)),
};
const SPAWNS = [[100, 100], [1500, 100], [100, 1100], [1500, 1100], [800, 80], [800, 1120], [80, 600], [1520, 600]]
  .map(([x, y]) => ({ x: x * SUB, y: y * SUB }));
const BULLET_STEP = 384, BULLET_LIFE = 36, COOLDOWN = 6, DAMAGE = 20, RESPAWN = 60, QUEUE = 8;

const Player = schema({ x: t.int32(), y: t.int32(), aim: t.uint8(), hp: t.uint8(), alive: t.boolean(), seq: t.uint32() }, 'Player');
const Bullet = schema({ x: t.int32(), y: t.int32(), vx: t.int16(), vy: t.int16(), born: t.uint32(), owner: t.string() }, 'Bullet');
const ArenaState = schema({ players: t.map(Player), bullets: t.map(Bullet) }, 'ArenaState');

let move = null; // loaded from the SDK (an ES module) before the server listens

// Whether the segment from `a` by `d` passes within `r` of `c` (sim.cpp, segment_hits).
function segmentHits(a, d, c, r) {
  const fx = c.x - a.x, fy = c.y - a.y;
  const den = d.x * d.x + d.y * d.y;
  const t = den === 0 ? 0 : Math.min(Math.max(fx * d.x + fy * d.y, 0), den);
  const px = den === 0 ? a.x : a.x + Math.trunc((d.x * t) / den);
  const py = den === 0 ? a.y : a.y + Math.trunc((d.y * t) / den);
  return (px - c.x) ** 2 + (py - c.y) ** 2 <= r * r;
}

class ArenaRoom extends Room {
  onCreate(options) {
    this.maxClients = Math.max(2, Math.min(64, Number(options.maxClients) || 8));
    this.autoDispose = true;
    this.setState(new ArenaState());
    this.tick = 0;
    this.nextBullet = 1;
    this.sim = new Map(); // sessionId → {queue, nextFire, respawnAt, pos}
    this.flying = new Map(); // bullet id → {pos, vel, owner, expires}
    this.onMessage('input', (client, m) => {
      const s = this.sim.get(client.sessionId);
      if (!s || !m || typeof m.seq !== 'number' || m.seq <= s.lastSeq || s.queue.length >= QUEUE) return;
      s.lastSeq = m.seq;
      s.queue.push({ seq: m.seq, buttons: m.b & 31, aim: m.aim & 65535 });
    });
    this.setSimulationInterval(() => this.step(), 1000 / HZ);
    this.setPatchRate(1000 / HZ);
  }

  onJoin(client) {
    const at = SPAWNS[this.sim.size % SPAWNS.length];
    this.sim.set(client.sessionId, { queue: [], lastSeq: 0, nextFire: 0, respawnAt: 0 });
    this.state.players.set(client.sessionId, new Player({ x: at.x, y: at.y, aim: 0, hp: 100, alive: true, seq: 0 }));
  }

  onLeave(client) {
    this.sim.delete(client.sessionId);
    this.state.players.delete(client.sessionId);
  }

  step() {
    const tick = ++this.tick;
    for (const [id, s] of this.sim) {
      const p = this.state.players.get(id);
      if (!p.alive && tick >= s.respawnAt) {
        const at = SPAWNS[tick % SPAWNS.length];
        Object.assign(p, { x: at.x, y: at.y, hp: 100, alive: true });
      }
      const input = s.queue.shift();
      if (!input || !p.alive) continue;
      const to = move(RULES, { x: p.x, y: p.y }, input.buttons);
      p.x = to.x;
      p.y = to.y;
      p.aim = input.aim >> 8;
      p.seq = input.seq;
      if (input.buttons & 16 && tick >= s.nextFire) {
        s.nextFire = tick + COOLDOWN;
        const a = (input.aim * 2 * Math.PI) / 65536;
        const vel = { x: Math.round(Math.cos(a) * BULLET_STEP), y: Math.round(Math.sin(a) * BULLET_STEP) };
        const bid = String(this.nextBullet++);
        this.flying.set(bid, { pos: { x: p.x, y: p.y }, vel, owner: id, expires: tick + BULLET_LIFE });
        this.state.bullets.set(bid, new Bullet({ x: p.x, y: p.y, vx: vel.x, vy: vel.y, born: tick, owner: id }));
      }
    }
    for (const [bid, b] of this.flying) {
      let hit = null;
      for (const [id, p] of this.state.players) {
        if (id !== b.owner && p.alive && segmentHits(b.pos, b.vel, p, RULES.radius)) { hit = id; break; }
      }
      if (hit) {
        const t = this.state.players.get(hit);
        t.hp = Math.max(0, t.hp - DAMAGE);
        if (t.hp === 0) {
          t.alive = false;
          this.sim.get(hit).respawnAt = tick + RESPAWN;
          this.sim.get(hit).queue.length = 0;
        }
      }
      b.pos.x += b.vel.x;
      b.pos.y += b.vel.y;
      const out = b.pos.x < 0 || b.pos.y < 0 || b.pos.x >= RULES.width || b.pos.y >= RULES.height;
      const inWall = RULES.walls.some((w) => b.pos.x >= w[0] && b.pos.x < w[2] && b.pos.y >= w[1] && b.pos.y < w[3]);
      if (hit || out || inWall || tick >= b.expires) {
        this.flying.delete(bid);
        this.state.bullets.delete(bid);
      }
    }
  }
}

async function main() {
  ({ move } = await import(path.resolve(__dirname, '../../../web/public/sdk/arena.js')));
  const port = Number(process.argv[2] || 0); // 0: any free port, written to PORT_FILE
  const portFile = process.argv[3];
  const server = new Server({ transport: new WebSocketTransport(), greet: false });
  server.define('arena', ArenaRoom);
  await server.listen(port, '127.0.0.1');
  const bound = server.transport.server.address().port;
  if (portFile) require('fs').writeFileSync(portFile, String(bound));
  else console.log(`colyseus arena listening on 127.0.0.1:${bound}`);
}

main().catch((e) => {
  console.error('colyseus arena server failed:', e);
  process.exit(1);
});
