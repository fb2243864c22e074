// Voice and video for Mafia through Janus (an SFU; src/media/janus_sfu.hpp): the same interface
// as MeshMedia (media.js), used when mafia.media says `transport: "sfu"`. The server gives this
// member a Janus token and rooms (`sfu: {url, token, publish, hear: [{player, room}]}`): the
// page publishes its camera and microphone in its own room, and subscribes to each member it may
// hear in theirs, after joining that room as a participant (the room requires it: a subscription
// needs the private_id of a participant that joined with an allowed token). Janus enforces the
// policy: a room the member may no longer hear from is destroyed by the server, and its
// connections with it. Janus's HTTP API, long-polled for events; no trickle (SDP sent whole).

import {pcStats} from './media.js';

const GATHER_MS = 3000;

/** Waits until `pc` has gathered its ICE candidates (at most GATHER_MS). */
function gathered(pc) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(resolve, GATHER_MS);
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') { clearTimeout(t); resolve(); }
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class JanusMedia {
  constructor(client, me, onChange) {
    this.client = client;
    this.me = me;
    this.onChange = onChange;
    this.iceServers = [];
    this.icePolicy = 'all';  // or 'relay': only through TURN (media.ice_transport_policy)
    this.local = null;
    this.state = 'off';
    this.micOn = true;
    this.camOn = true;
    this.policy = {publish_to: new Set(), hear: new Set()};
    this.grant = null;
    this.session = null;     // Promise of the Janus session id
    this.handlers = new Map();  // handle id → fn(event)
    this.pub = null;         // {room, handle, pc}
    this.subs = new Map();   // "player:room" → {player, room, part, handle, pc, stream}
    this.closed = false;
    this.tx = 0;
  }

  async open() {
    if (!navigator.mediaDevices?.getUserMedia) { this.state = 'unavailable'; this.onChange(); return; }
    this.state = 'asking';
    this.onChange();
    try {
      const stream = await navigator.mediaDevices.getUserMedia({audio: true, video: {width: 320, height: 240, frameRate: 15}});
      if (this.closed) { for (const tr of stream.getTracks()) tr.stop(); return; }
      this.local = stream;
      this.state = 'on';
      if (this.pub?.joined && !this.pub.pc) this.#publish(this.pub);
    } catch (e) {
      this.state = e?.name === 'NotAllowedError' || e?.name === 'SecurityError' ? 'denied' : 'unavailable';
    }
    this.onChange();
  }

  toggle(kind) {
    if (kind === 'audio') this.micOn = !this.micOn;
    else this.camOn = !this.camOn;
    for (const tr of this.local?.getTracks() ?? []) {
      if (tr.kind === kind) tr.enabled = kind === 'audio' ? this.micOn : this.camOn;
    }
    this.onChange();
  }

  apply(media) {
    if (this.closed || !media.sfu?.url) return;
    if (media.ice_servers) this.iceServers = media.ice_servers;
    if (media.ice_transport_policy) this.icePolicy = media.ice_transport_policy;
    this.policy = {publish_to: new Set(media.publish_to ?? []), hear: new Set(media.hear ?? [])};
    this.grant = media.sfu;
    if (!this.session) {
      this.session = this.#connect();
      this.session.catch(() => {});
    }
    const g = this.grant;
    if (g.publish && this.pub?.room !== g.publish) {
      if (this.pub) this.#leave(this.pub);
      this.pub = {room: g.publish, handle: 0, pc: null, joined: false};
      this.#joinPublisher(this.pub);
    }
    const want = new Map((g.hear ?? []).map((x) => [`${x.player}:${x.room}`, x]));
    for (const [k, s] of [...this.subs]) {
      if (!want.has(k)) { this.#leaveSub(s); this.subs.delete(k); }
    }
    for (const [k, x] of want) {
      if (this.subs.has(k)) continue;
      const s = {player: x.player, room: x.room, part: 0, handle: 0, pc: null, stream: new MediaStream(), subscribed: false};
      this.subs.set(k, s);
      this.#joinListener(s);
    }
    this.onChange();
  }

  signal() {}  // nothing is relayed through Maratang in this transport

  tiles() {
    return [...this.subs.values()].map((s) => ({id: s.player, stream: s.stream, heard: true,
                                                state: s.pc?.connectionState ?? 'new'}));
  }

  /** As MeshMedia.stats(), per member heard (their subscription's connection). */
  async stats() {
    const out = {};
    for (const s of this.subs.values()) {
      if (s.pc) out[s.player] = await pcStats(s.pc);
    }
    return out;
  }

  close() {
    this.closed = true;
    for (const s of this.subs.values()) this.#leaveSub(s);
    this.subs.clear();
    if (this.pub) this.#leave(this.pub);
    this.pub = null;
    for (const tr of this.local?.getTracks() ?? []) tr.stop();
    this.local = null;
    this.session?.then((id) => this.#post(`/${id}`, {janus: 'destroy'})).catch(() => {});
    if (this.onHide) removeEventListener('pagehide', this.onHide);
  }

  // --- Janus's HTTP API ---

  async #post(path, body) {
    const res = await fetch(this.grant.url + path, {method: 'POST', body: JSON.stringify({...body, token: this.grant.token, transaction: 't' + (++this.tx)})});
    return res.json();
  }

  /** The session, made with this member's token (retried while the server is still adding it). */
  async #connect() {
    for (let i = 0; i < 50 && !this.closed; i++) {
      const r = await this.#post('', {janus: 'create'}).catch(() => null);
      if (r?.janus === 'success') {
        const id = r.data.id;
        this.#poll(id);
        // A page that goes away ends its session at once, so that its seat can join again
        // under the same participant id when it comes back (a reload).
        this.onHide = () => navigator.sendBeacon(`${this.grant.url}/${id}`,
          JSON.stringify({janus: 'destroy', token: this.grant.token, transaction: 'bye'}));
        addEventListener('pagehide', this.onHide);
        return id;
      }
      await sleep(200);
    }
    throw new Error('janus: no session');
  }

  async #poll(id) {
    while (!this.closed) {
      try {
        const res = await fetch(`${this.grant.url}/${id}?maxev=10&token=${encodeURIComponent(this.grant.token)}`);
        const evs = await res.json();
        for (const e of Array.isArray(evs) ? evs : [evs]) this.handlers.get(e.sender)?.(e);
      } catch {
        await sleep(500);
      }
    }
  }

  async #attach(onEvent) {
    const id = await this.session;
    const r = await this.#post(`/${id}`, {janus: 'attach', plugin: 'janus.plugin.videoroom'});
    const h = r.data.id;
    this.handlers.set(h, onEvent);
    return h;
  }

  async #send(handle, body, jsep) {
    const id = await this.session;
    return this.#post(`/${id}/${handle}`, {janus: 'message', body, ...(jsep ? {jsep} : {})});
  }

  #detach(handle) {
    if (!handle) return;
    this.handlers.delete(handle);
    this.session?.then((id) => this.#post(`/${id}/${handle}`, {janus: 'detach'})).catch(() => {});
  }

  /**
   * Joins a room as a participant. The grant can be ahead of Janus (the server tells Janus
   * asynchronously): a room that does not exist yet (426) or a token not yet allowed (433) is
   * tried again, for 5 s.
   */
  async #join(handle, room) {
    for (let i = 0; i < 25 && !this.closed; i++) {
      const fn = this.handlers.get(handle);
      if (!fn) return null;
      const waiter = new Promise((resolve) => { fn.pending = resolve; });
      const r = await this.#send(handle, {request: 'join', ptype: 'publisher', room, id: this.me, token: this.grant.token});
      if (r?.janus !== 'ack' && r?.janus !== 'success') { fn.pending = null; return null; }
      const d = await Promise.race([waiter, sleep(10000).then(() => null)]);
      if (d?.videoroom === 'joined') return d;
      if (d?.error_code !== 426 && d?.error_code !== 433) return null;
      await sleep(200);
    }
    return null;
  }

  // --- publishing ---

  async #joinPublisher(p) {
    const onEvent = (e) => {
      const d = e.plugindata?.data;
      if (onEvent.pending && d && (d.videoroom === 'joined' || d.error_code)) { const f = onEvent.pending; onEvent.pending = null; f(d); return; }
      if (e.jsep && p.pc) p.pc.setRemoteDescription(e.jsep).catch(() => {});
      if (d?.videoroom === 'destroyed' || d?.leaving === 'ok') { p.pc?.close(); p.pc = null; }
    };
    try {
      p.handle = await this.#attach(onEvent);
      const d = await this.#join(p.handle, p.room);
      if (!d || this.pub !== p) return;
      p.joined = true;
      if (this.local) await this.#publish(p);
    } catch { /* the next policy makes another attempt */ }
  }

  async #publish(p) {
    const pc = new RTCPeerConnection({iceServers: this.iceServers, iceTransportPolicy: this.icePolicy});
    p.pc = pc;
    for (const tr of this.local.getTracks()) pc.addTransceiver(tr, {direction: 'sendonly'});
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    if (this.pub !== p) { pc.close(); return; }
    await this.#send(p.handle, {request: 'publish'}, {type: 'offer', sdp: pc.localDescription.sdp});
    this.onChange();
  }

  #leave(p) {
    p.pc?.close();
    this.#detach(p.handle);
  }

  // --- listening ---

  async #joinListener(s) {
    const onPart = (e) => {
      const d = e.plugindata?.data;
      if (onPart.pending && d && (d.videoroom === 'joined' || d.error_code)) { const f = onPart.pending; onPart.pending = null; f(d); return; }
      if (d?.videoroom === 'destroyed') { this.#dropSub(s); return; }
      // The speaker stopped publishing (a reload): their next publication is subscribed anew.
      if (d && (d.unpublished === s.player || d.leaving === s.player) && s.subscribed) {
        s.pc?.close();
        s.pc = null;
        this.#detach(s.handle);
        s.handle = 0;
        s.subscribed = false;
        for (const tr of s.stream.getTracks()) s.stream.removeTrack(tr);
        this.onChange();
        return;
      }
      // A publisher appeared in the room: the speaker began publishing.
      if ((d?.publishers ?? []).some((x) => x.id === s.player)) this.#subscribe(s, s.pvt).catch(() => {});
    };
    try {
      s.part = await this.#attach(onPart);
      const d = await this.#join(s.part, s.room);
      if (!d || this.#gone(s)) return;
      s.pvt = d.private_id;
      if ((d.publishers ?? []).some((x) => x.id === s.player)) await this.#subscribe(s, s.pvt);
    } catch { /* retried at the next policy */ }
  }

  #gone(s) {
    return this.closed || this.subs.get(`${s.player}:${s.room}`) !== s;
  }

  async #subscribe(s, pvt) {
    if (s.subscribed || this.#gone(s)) return;
    s.subscribed = true;
    const onSub = async (e) => {
      const d = e.plugindata?.data;
      if (d?.videoroom === 'destroyed' || d?.error_code) { this.#dropSub(s); return; }
      if (!e.jsep || e.jsep.type !== 'offer') return;
      try {
        const pc = s.pc ?? new RTCPeerConnection({iceServers: this.iceServers, iceTransportPolicy: this.icePolicy});
        if (!s.pc) {
          s.pc = pc;
          pc.ontrack = (t) => { s.stream.addTrack(t.track); this.onChange(); };
          pc.onconnectionstatechange = () => this.onChange();
        }
        await pc.setRemoteDescription(e.jsep);
        await pc.setLocalDescription(await pc.createAnswer());
        await gathered(pc);
        if (this.#gone(s)) return;
        await this.#send(s.handle, {request: 'start'}, {type: 'answer', sdp: pc.localDescription.sdp});
      } catch { /* the connection stays down until the next policy */ }
    };
    s.handle = await this.#attach(onSub);
    await this.#send(s.handle, {request: 'join', ptype: 'subscriber', room: s.room, streams: [{feed: s.player}], private_id: pvt});
  }

  /** Janus ended a subscription (its room was destroyed): forgotten until the next policy. */
  #dropSub(s) {
    this.#leaveSub(s);
    if (!this.#gone(s)) this.subs.delete(`${s.player}:${s.room}`);
    this.onChange();
  }

  #leaveSub(s) {
    s.pc?.close();
    this.#detach(s.handle);
    this.#detach(s.part);
  }
}
