// Voice and video for Mafia over a browser mesh (src/modes/mafia/README.md, "Voice and video"):
// one RTCPeerConnection per member the server's media policy connects this player with, signaled
// through mafia.signal. The policy (mafia.media {publish_to, hear}) is applied at every phase
// change and death: this player's camera and microphone go only to `publish_to` (the senders of
// every other connection carry no track), only `hear` is played, and a connection the policy no
// longer allows in either direction is closed. The server relays signaling only between members
// the policy connects, but in a mesh each browser sends its own media: the SFU (Janus) is what
// enforces the policy against a modified client.
//
// Negotiation: the member with the lower id offers, once per connection; a connection is never
// renegotiated (its two transceivers, audio and video, are sendrecv from the start and the policy
// is applied by replaceTrack), so offers cannot collide. Every message carries the connection's
// id (`cid`), so that late candidates of a closed connection are dropped. A page that comes back
// (reload) with no connections sends `bye` to the lower ids it needs, which makes them offer again.

/** Bytes in and out by kind, and the local candidate type of the pair in use, of one connection. */
export async function pcStats(pc) {
  const s = {audio_in: 0, video_in: 0, audio_out: 0, video_out: 0, state: pc.connectionState, path: ''};
  const report = await pc.getStats();
  let pair = null;
  report.forEach((r) => {
    if (r.type === 'inbound-rtp') s[r.kind + '_in'] += r.bytesReceived ?? 0;
    if (r.type === 'outbound-rtp') s[r.kind + '_out'] += r.bytesSent ?? 0;
    if (r.type === 'transport' && r.selectedCandidatePairId) pair = report.get(r.selectedCandidatePairId);
  });
  if (pair) s.path = report.get(pair.localCandidateId)?.candidateType ?? '';
  return s;
}

/** The mesh for one player in one game. Lives as long as the Mafia view. */
export class MeshMedia {
  /**
   * @param {{request: (type: string, data: object) => Promise<any>}} client
   * @param {number} me this member's id
   * @param {() => void} onChange called when something shown changed (state, tiles)
   */
  constructor(client, me, onChange) {
    this.client = client;
    this.me = me;
    this.onChange = onChange;
    this.iceServers = [];
    this.icePolicy = 'all';  // or 'relay': only through TURN (media.ice_transport_policy)
    this.local = null;       // this player's MediaStream, once granted
    this.state = 'off';      // off | asking | on | denied | unavailable
    this.micOn = true;
    this.camOn = true;
    this.policy = {publish_to: new Set(), hear: new Set()};
    this.peers = new Map();  // member id → {pc, cid, stream, audio, video, chain}
    this.closed = false;
  }

  /** Asks for the camera and microphone. A refusal leaves the page listening only. */
  async open() {
    if (!navigator.mediaDevices?.getUserMedia) {
      this.state = 'unavailable';
      this.onChange();
      return;
    }
    this.state = 'asking';
    this.onChange();
    try {
      const stream = await navigator.mediaDevices.getUserMedia({audio: true, video: {width: 320, height: 240, frameRate: 15}});
      if (this.closed) {
        for (const tr of stream.getTracks()) tr.stop();
        return;
      }
      this.local = stream;
      this.state = 'on';
    } catch (e) {
      this.state = e?.name === 'NotAllowedError' || e?.name === 'SecurityError' ? 'denied' : 'unavailable';
    }
    for (const p of this.peers.values()) this.#applyTracks(p);
    this.onChange();
  }

  /** Mutes or unmutes the microphone or the camera (the track stays, sending silence or black). */
  toggle(kind) {
    if (kind === 'audio') this.micOn = !this.micOn;
    else this.camOn = !this.camOn;
    for (const tr of this.local?.getTracks() ?? []) {
      if (tr.kind === kind) tr.enabled = kind === 'audio' ? this.micOn : this.camOn;
    }
    this.onChange();
  }

  /**
   * Applies the server's media policy (mafia.media). `fresh`: this page has just come back (a
   * reload) and its earlier connections are gone, so the lower ids it needs are asked to offer.
   */
  apply(media, fresh = false) {
    if (this.closed) return;
    if (media.ice_servers) this.iceServers = media.ice_servers;
    if (media.ice_transport_policy) this.icePolicy = media.ice_transport_policy;
    this.policy = {publish_to: new Set(media.publish_to ?? []), hear: new Set(media.hear ?? [])};
    const want = new Set([...this.policy.publish_to, ...this.policy.hear]);
    for (const id of [...this.peers.keys()]) {
      if (!want.has(id)) this.#drop(id);
    }
    for (const id of want) {
      const p = this.peers.get(id);
      if (p) this.#applyTracks(p);
      else if (this.me < id) this.#offer(id);
      else if (fresh) this.#send(id, 'bye', {});
    }
    this.onChange();
  }

  /** A relayed mafia.signal {from, kind, data}. */
  signal({from, kind, data}) {
    if (this.closed) return;
    const d = data ?? {};
    if (kind === 'offer') {
      this.#drop(from);
      this.#answer(from, d);
      return;
    }
    if (kind === 'bye') {
      this.#drop(from);
      const want = this.policy.publish_to.has(from) || this.policy.hear.has(from);
      if (want && this.me < from) this.#offer(from);
      this.onChange();
      return;
    }
    const p = this.peers.get(from);
    if (!p || p.cid !== d.cid) return;  // a closed connection's late message
    if (kind === 'answer') {
      p.chain = p.chain.then(() => p.pc.setRemoteDescription({type: 'answer', sdp: d.sdp})).catch(() => {});
    } else if (kind === 'ice' && d.candidate) {
      p.chain = p.chain.then(() => p.pc.addIceCandidate(d.candidate)).catch(() => {});
    }
  }

  /** The member ids with a connection, and for each its remote stream and whether it is heard. */
  tiles() {
    return [...this.peers.entries()].map(([id, p]) => ({id, stream: p.stream, heard: this.policy.hear.has(id),
                                                       state: p.pc.connectionState}));
  }

  /**
   * Bytes received and sent per member and kind, from getStats, and the type of the local
   * candidate in use (host, srflx, relay): {id: {audio_in, video_in, audio_out, video_out, state,
   * path}}. Shown nowhere; tests read it.
   */
  async stats() {
    const out = {};
    for (const [id, p] of this.peers) out[id] = await pcStats(p.pc);
    return out;
  }

  /** Closes every connection and releases the camera and microphone. */
  close() {
    this.closed = true;
    for (const id of [...this.peers.keys()]) this.#drop(id);
    for (const tr of this.local?.getTracks() ?? []) tr.stop();
    this.local = null;
  }

  #send(to, kind, data) {
    // Refused when the policy has just changed (forbidden) or the member left: nothing to do.
    this.client.request('mafia.signal', {to, kind, data}).catch(() => {});
  }

  #peer(id, cid) {
    const pc = new RTCPeerConnection({iceServers: this.iceServers, iceTransportPolicy: this.icePolicy});
    const p = {id, pc, cid, stream: new MediaStream(), audio: null, video: null, chain: Promise.resolve()};
    pc.onicecandidate = (e) => {
      if (e.candidate && this.peers.get(id) === p) this.#send(id, 'ice', {cid, candidate: e.candidate.toJSON()});
    };
    pc.onconnectionstatechange = () => {
      if (this.peers.get(id) !== p) return;
      // A connection that failed (the other page went away) is made again by its offerer.
      if (pc.connectionState === 'failed' && this.me < id) {
        this.#drop(id);
        this.#offer(id);
      }
      this.onChange();
    };
    this.peers.set(id, p);
    return p;
  }

  #bind(p) {
    for (const tr of p.pc.getTransceivers()) {
      const kind = tr.receiver.track.kind;
      p[kind] = tr;
      p.stream.addTrack(tr.receiver.track);
    }
    this.#applyTracks(p);
  }

  /** This player's tracks go to `p` only if the policy publishes to it. */
  #applyTracks(p) {
    const send = this.policy.publish_to.has(p.id) && this.local;
    for (const kind of ['audio', 'video']) {
      const tr = p[kind];
      if (!tr) continue;
      const track = send ? this.local.getTracks().find((x) => x.kind === kind) ?? null : null;
      if (tr.sender.track !== track) tr.sender.replaceTrack(track).catch(() => {});
    }
  }

  #offer(id) {
    const cid = Math.random().toString(36).slice(2);
    const p = this.#peer(id, cid);
    p.pc.addTransceiver('audio', {direction: 'sendrecv'});
    p.pc.addTransceiver('video', {direction: 'sendrecv'});
    this.#bind(p);
    p.chain = p.chain.then(async () => {
      await p.pc.setLocalDescription(await p.pc.createOffer());
      this.#send(id, 'offer', {cid, sdp: p.pc.localDescription.sdp});
    }).catch(() => {});
    this.onChange();
  }

  #answer(id, d) {
    if (typeof d.sdp !== 'string' || !d.cid) return;
    const p = this.#peer(id, d.cid);
    p.chain = p.chain.then(async () => {
      await p.pc.setRemoteDescription({type: 'offer', sdp: d.sdp});
      for (const tr of p.pc.getTransceivers()) tr.direction = 'sendrecv';
      this.#bind(p);
      await p.pc.setLocalDescription(await p.pc.createAnswer());
      this.#send(id, 'answer', {cid: d.cid, sdp: p.pc.localDescription.sdp});
      this.onChange();
    }).catch(() => {});
  }

  #drop(id) {
    const p = this.peers.get(id);
    if (!p) return;
    this.peers.delete(id);
    p.pc.close();
  }
}
