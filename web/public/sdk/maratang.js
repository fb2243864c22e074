// Maratang's JavaScript SDK: the browser's side of docs/PROTOCOL.md. An ES module, no build step,
// no dependency. One Client holds a session (guest device id or email login, kept in
// localStorage so a reload signs in again), its REST calls (a token that expired is refreshed
// once and the call retried), and one WebSocket to /ws: hello, requests answered by id with
// timeouts, pushed events, time.sync, and reconnection after a dropped network or a reload —
// the server keeps the seat for rooms.reconnect_grace_ms and its hello reply carries the room.
//
// Mode modules (Mafia, Mystery, Arena) live beside this file and use only what it exports.
// protocol.json, beside it, is every message, endpoint and error code as the server declares them
// (`maratang protocol --json`); a test fails when the client names a message not listed there.

/** The protocol version this SDK speaks. */
export const PROTOCOL_VERSION = 1;

/**
 * An error from the server (or the SDK), with a stable code from docs/PROTOCOL.md "Error codes",
 * or one of the SDK's own: `timeout` (no reply in time), `disconnected` (the socket closed while
 * a request waited), `network` (the HTTP request did not complete).
 */
export class MaratangError extends Error {
  /**
   * @param {string} code stable error code
   * @param {string} message text for people (English, from the server)
   * @param {{status?: number, retryAfter?: number, fields?: any[]}} [extra]
   */
  constructor(code, message, extra = {}) {
    super(message || code);
    this.name = 'MaratangError';
    /** @type {string} */ this.code = code;
    /** @type {number} */ this.status = extra.status ?? 0;
    /** @type {number} seconds to wait, when the server said (retry_after_s, Retry-After) */
    this.retryAfter = extra.retryAfter ?? 0;
    /** @type {any[]|undefined} per-field errors (422 of the traces endpoints) */
    this.fields = extra.fields;
  }
}

/**
 * @typedef {object} Session
 * @property {number} account_id
 * @property {string} token
 * @property {string} refresh_token
 * @property {number} expires_at  ms since the epoch
 * @property {'device'|'email'} kind
 */

/**
 * @typedef {object} ClientOptions
 * @property {string} [baseUrl]    http(s)://host:port of the server; default: this page's origin
 * @property {Storage} [storage]   where the session and device id are kept; default localStorage
 * @property {string} [clientName] sent in hello
 * @property {number} [requestTimeoutMs] default wait for a reply (10 s)
 * @property {number} [reconnectMaxMs]   the longest pause between reconnection attempts (10 s)
 * @property {'json'|'binary'} [encoding] asked for in hello: 'binary' makes modes with a binary
 *   encoding (Arena's states) send it in binary WebSocket messages, delivered as `binary` events
 */

const KEY_DEVICE = 'maratang.device_id';
const KEY_SESSION = 'maratang.session';

/** Reasons of session.closed after which reconnecting would be wrong. */
const FINAL_CLOSE = new Set(['replaced', 'logged_out', 'unauthorized', 'token_revoked',
  'disconnected_by_admin', 'banned']);

/**
 * The connection to one Maratang server. Events: `open` (the hello reply's data, after every
 * (re)connection), `close` ({code, reason, willReconnect}), `reconnecting` ({attempt, inMs}),
 * `session` (the session changed or ended: null), and every pushed event by its type
 * (`room.chat`, `mafia.phase`, ...), each with its `data`; `*` receives every event as
 * {type, data}. A binary message that is not JSON (a mode's binary encoding) is a `binary` event
 * with its bytes (Uint8Array).
 */
export class Client {
  /** @param {ClientOptions} [opts] */
  constructor(opts = {}) {
    this.baseUrl = (opts.baseUrl ?? globalThis.location?.origin ?? '').replace(/\/$/, '');
    this.storage = opts.storage ?? globalThis.localStorage;
    this.clientName = opts.clientName ?? 'maratang-web';
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 10000;
    this.reconnectMaxMs = opts.reconnectMaxMs ?? 10000;
    this.encoding = opts.encoding ?? 'json';
    // The WebSocket's path: /ws, or the route of the node holding our room (a `moved` reply).
    this.wsPath = '/ws';
    /** @type {Session|null} */
    this.session = this.#loadSession();
    /** @type {WebSocket|null} */
    this.ws = null;
    /** Whether hello was answered on the current socket. */
    this.ready = false;
    /** The hello reply's data of the current connection. */
    this.hello = null;
    /** Server clock − local clock, ms (from timeSync). */
    this.clockOffset = 0;
    /** Round trip of the best time.sync sample, ms. */
    this.rtt = 0;
    this.#listeners = new Map();
    this.#pending = new Map();
    this.#nextId = 1;
    this.#wantOpen = false;
    this.#attempt = 0;
    this.#timer = null;
    this.#scheduleRefresh();
  }

  #listeners;
  #pending;
  #nextId;
  #wantOpen;
  #attempt;
  #timer;
  #refreshing = null;
  #refreshTimer = null;

  // --- events ----------------------------------------------------------------------------------

  /**
   * Calls `fn(data, type)` for each event of `type` ('*' for all). Returns the unsubscriber.
   * @param {string} type
   * @param {(data: any, type: string) => void} fn
   * @returns {() => void}
   */
  on(type, fn) {
    if (!this.#listeners.has(type)) this.#listeners.set(type, new Set());
    this.#listeners.get(type).add(fn);
    return () => this.#listeners.get(type)?.delete(fn);
  }

  /** @param {string} type @param {any} data */
  #emit(type, data) {
    for (const key of [type, '*']) {
      for (const fn of this.#listeners.get(key) ?? []) {
        try {
          fn(data, type);
        } catch (e) {
          console.error('maratang: listener of', type, 'threw', e);
        }
      }
    }
  }

  // --- session and REST --------------------------------------------------------------------------

  /** The device id of this browser (made once, kept in storage). */
  deviceId() {
    let id = this.storage?.getItem(KEY_DEVICE);
    if (!id) {
      id = 'web-' + (globalThis.crypto?.randomUUID?.() ??
                     Math.random().toString(36).slice(2) + Date.now().toString(36));
      this.storage?.setItem(KEY_DEVICE, id);
    }
    return id;
  }

  /** Whether a session is kept (it may still have expired: the first call refreshes it). */
  signedIn() {
    return !!this.session;
  }

  /** Guest login with this browser's device id. @returns {Promise<Session>} */
  async loginGuest() {
    const r = await this.rest('POST', '/v1/auth/device', {device_id: this.deviceId()}, {auth: false});
    return this.#setSession(r, 'device');
  }

  /** @param {string} email @param {string} password @returns {Promise<Session>} */
  async loginEmail(email, password) {
    const r = await this.rest('POST', '/v1/auth/login', {email, password}, {auth: false});
    return this.#setSession(r, 'email');
  }

  /** Creates an email account and signs in. @returns {Promise<Session>} */
  async register(email, password) {
    const r = await this.rest('POST', '/v1/auth/register', {email, password}, {auth: false});
    return this.#setSession(r, 'email');
  }

  /** Trades the refresh token for new tokens (one call at a time). */
  async refresh() {
    if (!this.session) throw new MaratangError('unauthorized', 'Not signed in.');
    if (!this.#refreshing) {
      const kind = this.session.kind;
      this.#refreshing = this.rest('POST', '/v1/auth/refresh',
                                   {refresh_token: this.session.refresh_token}, {auth: false})
          .then((r) => this.#setSession(r, kind))
          .catch((e) => {
            // A refused refresh token ends the session; a network error keeps it for later.
            if (e.status === 401) this.#clearSession();
            throw e;
          })
          .finally(() => { this.#refreshing = null; });
    }
    return this.#refreshing;
  }

  /** Logs out everywhere (the server revokes the session) and forgets it here. */
  async logout() {
    try {
      if (this.session) await this.rest('POST', '/v1/auth/logout');
    } finally {
      this.disconnect();
      this.#clearSession();
    }
  }

  /**
   * One REST call. Resolves with the parsed JSON body (or text for non-JSON answers); rejects
   * with a MaratangError carrying the server's code. A token that expired is refreshed once and
   * the call retried.
   * @param {string} method
   * @param {string} path  e.g. '/v1/account'
   * @param {any} [body]
   * @param {{auth?: boolean, retried?: boolean}} [opt]
   */
  async rest(method, path, body, opt = {}) {
    const auth = opt.auth ?? true;
    if (auth && this.session && this.#expiring() && !opt.retried) {
      await this.refresh().catch(() => {});
    }
    const headers = {};
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (auth && this.session) headers['Authorization'] = 'Bearer ' + this.session.token;
    let res;
    try {
      res = await fetch(this.baseUrl + path, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new MaratangError('network', String(e?.message ?? e));
    }
    const type = res.headers.get('Content-Type') ?? '';
    const payload = type.includes('json') ? await res.json().catch(() => null) : await res.text();
    if (res.ok) return payload;
    const err = payload?.error ?? {};
    const code = err.code ?? 'internal';
    if (auth && !opt.retried && (code === 'token_expired') && this.session) {
      await this.refresh();
      return this.rest(method, path, body, {...opt, retried: true});
    }
    throw new MaratangError(code, err.message ?? res.statusText, {
      status: res.status, retryAfter: Number(err.retry_after_s ?? res.headers.get('Retry-After') ?? 0),
      fields: err.fields,
    });
  }

  /** GET /v1/account */
  account() { return this.rest('GET', '/v1/account'); }
  /** PUT /v1/account/nickname */
  setNickname(nickname) { return this.rest('PUT', '/v1/account/nickname', {nickname}); }
  /** GET /v1/nicknames/{n}: {nickname, available}; rejects with nickname_invalid. */
  checkNickname(nickname) {
    return this.rest('GET', '/v1/nicknames/' + encodeURIComponent(nickname), undefined, {auth: false});
  }
  /** GET /v1/modes */
  modes() { return this.rest('GET', '/v1/modes', undefined, {auth: false}); }

  #setSession(r, kind) {
    this.session = {
      account_id: r.account_id, token: r.token, refresh_token: r.refresh_token,
      expires_at: r.expires_at, kind,
    };
    this.storage?.setItem(KEY_SESSION, JSON.stringify(this.session));
    this.#scheduleRefresh();
    this.#emit('session', this.session);
    return this.session;
  }

  /** Whether the token expires within 5 s (then it is refreshed before use). */
  #expiring() {
    return this.session.expires_at - 5000 < this.serverNow();
  }

  // Keeps the token fresh while the page is open, so that a reconnection or a REST call never
  // starts with an expired one: refreshed when a third of its life (at most a minute) is left.
  #scheduleRefresh() {
    clearTimeout(this.#refreshTimer);
    if (!this.session) return;
    const left = this.session.expires_at - this.serverNow();
    const wait = Math.max(1000, left - Math.min(60000, left / 3));
    this.#refreshTimer = setTimeout(() => this.refresh().catch(() => {}), wait);
    this.#refreshTimer?.unref?.();  // in Node (bots, tests), a kept session does not keep it alive
  }

  #clearSession() {
    clearTimeout(this.#refreshTimer);
    this.session = null;
    this.storage?.removeItem(KEY_SESSION);
    this.#emit('session', null);
  }

  #loadSession() {
    try {
      const s = JSON.parse(this.storage?.getItem(KEY_SESSION) ?? 'null');
      return s && s.token && s.refresh_token ? s : null;
    } catch {
      return null;
    }
  }

  // --- realtime --------------------------------------------------------------------------------

  /**
   * Opens the WebSocket and says hello; resolves with the hello reply's data (whose `room` is the
   * room this account still has a seat in, or null). From then on the client reconnects by itself
   * until disconnect() or logout(), or until the server ends the session for good (replaced,
   * logged out).
   */
  connect() {
    this.#wantOpen = true;
    return new Promise((resolve, reject) => {
      const off = this.on('open', (h) => { off(); offFail(); resolve(h); });
      const offFail = this.on('close', (c) => {
        if (!c.willReconnect) { off(); offFail(); reject(new MaratangError(c.reason || 'disconnected', 'closed')); }
      });
      this.#open();
    });
  }

  /** Closes the socket and stops reconnecting. */
  disconnect() {
    this.#wantOpen = false;
    clearTimeout(this.#timer);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.onclose = null;
      ws.close(1000, 'bye');
      this.#failPending('disconnected');
      this.ready = false;
      this.#emit('close', {code: 1000, reason: 'bye', willReconnect: false});
    }
  }

  async #open() {
    clearTimeout(this.#timer);
    if (!this.session) {
      this.#wantOpen = false;
      this.#emit('close', {code: 0, reason: 'unauthorized', willReconnect: false});
      return;
    }
    // A browser cannot read why an upgrade was refused: refresh a token about to expire first.
    if (this.#expiring()) {
      try {
        await this.refresh();
      } catch (e) {
        if (!this.session) {
          this.#wantOpen = false;
          this.#emit('close', {code: 0, reason: 'unauthorized', willReconnect: false});
          return;
        }
        return this.#retry();
      }
    }
    const url = this.baseUrl.replace(/^http/, 'ws') + this.wsPath + '?token=' + encodeURIComponent(this.session.token);
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    let opened = false;
    let finalReason = '';
    ws.onopen = () => {
      opened = true;
      const data = {version: PROTOCOL_VERSION, client: this.clientName};
      if (this.encoding !== 'json') data.encoding = this.encoding;
      this.#send({type: 'hello', id: 'hello', data});
    };
    ws.onmessage = (e) => {
      let text = e.data;
      if (typeof text !== 'string') {
        // Binary: JSON when it starts with '{', else a mode's own encoding, for its module.
        const bytes = new Uint8Array(text);
        if (bytes[0] !== 0x7b) {
          this.#emit('binary', bytes);
          return;
        }
        text = new TextDecoder().decode(bytes);
      }
      for (const line of text.split('\n')) {
        if (!line) continue;
        let m;
        try { m = JSON.parse(line); } catch { continue; }
        if (m.type === 'session.closed' && FINAL_CLOSE.has(m.data?.reason)) finalReason = m.data.reason;
        if (m.type === 'server.shutdown') this.#shutdownWait = m.data?.reconnect_after_ms ?? 1000;
        this.#receive(m);
      }
    };
    ws.onclose = async (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.ready = false;
      this.#failPending('disconnected');
      // A node we were sent to (`moved`) that is gone: the next attempt goes through the
      // balancer again, whose hello sends us wherever the seat is now.
      if (!opened) this.wsPath = '/ws';
      // Refused before opening: most likely the token (expired, revoked). Try a refresh.
      if (!opened && this.session) {
        try { await this.refresh(); } catch (err) { if (!this.session) finalReason = 'unauthorized'; }
      }
      const again = this.#wantOpen && !finalReason;
      this.#emit('close', {code: e.code, reason: finalReason || e.reason, willReconnect: again});
      if (again) this.#retry();
      else this.#wantOpen = false;
    };
  }

  #shutdownWait = 0;

  // Exponential backoff with jitter (a restarted server is not stormed by every client at once),
  // or the wait the server asked for in server.shutdown.
  #retry() {
    this.#attempt++;
    const base = Math.min(this.reconnectMaxMs, 250 * 2 ** Math.min(this.#attempt - 1, 6));
    const inMs = Math.max(this.#shutdownWait, Math.round(base * (0.5 + Math.random() / 2)));
    this.#shutdownWait = 0;
    this.#emit('reconnecting', {attempt: this.#attempt, inMs});
    this.#timer = setTimeout(() => { if (this.#wantOpen) this.#open(); }, inMs);
  }

  #receive(m) {
    if (m.id !== undefined && m.id !== null && 'ok' in m) {
      if (m.id === 'hello') {
        // Several nodes: the seat is on another node; connect there — or, while its node is
        // being recovered, again through the balancer after retry_after_ms. A bounded number of
        // times, so a directory out of date cannot bounce us for ever.
        if (m.ok && m.data?.moved?.ws && this.#moves < 20) {
          this.#moves++;
          this.#moveTo(m.data.moved.ws, m.data.moved.retry_after_ms ?? 0);
          return;
        }
        if (m.ok) {
          this.#moves = 0;
          this.ready = true;
          this.hello = m.data;
          this.#attempt = 0;
          this.#emit('open', m.data);
          this.timeSync().catch(() => {});
        } else {
          this.#emit('error', new MaratangError(m.error.code, m.error.message));
        }
        return;
      }
      const p = this.#pending.get(m.id);
      if (!p) return;
      this.#pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.ok) p.resolve(m.data ?? {});
      else p.reject(new MaratangError(m.error?.code ?? 'internal', m.error?.message ?? '', { retryAfter: m.error?.retry_after_s ?? 0 }));
      return;
    }
    if (m.ok === false) {  // an error the server could not tie to a request
      this.#emit('error', new MaratangError(m.error?.code ?? 'internal', m.error?.message ?? ''));
      return;
    }
    this.#emit(m.type, m.data ?? {});
    // Several nodes: the party's leader took the party into a room of another node; the seat is
    // held there, and the hello there gives the room (the 'open' event's room).
    if (m.type === 'party.room' && m.data?.moved?.ws && this.#moves < 20) {
      this.#moves++;
      this.#moveTo(m.data.moved.ws);
    }
  }

  #moves = 0;

  // Several nodes (docs/PROTOCOL.md, "Several nodes"): closes this socket and opens one at `path`
  // (the node that holds the room), with the same token; its hello resumes the seat.
  #moveTo(path, afterMs = 0) {
    this.wsPath = path;
    const old = this.ws;
    this.ws = null;
    this.ready = false;
    if (old) {
      old.onclose = null;
      old.close(1000, 'moved');
    }
    this.#failPending('disconnected');
    clearTimeout(this.#timer);
    if (afterMs > 0) this.#timer = setTimeout(() => { if (this.#wantOpen) this.#open(); }, afterMs);
    else this.#open();
  }

  // Resolves with the next hello reply's data (after a move), or rejects after `ms`.
  #nextOpen(ms) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { off(); reject(new MaratangError('timeout', 'The room\'s node did not answer.')); }, ms);
      const off = this.on('open', (h) => { clearTimeout(timer); off(); resolve(h); });
    });
  }

  #send(obj) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(obj));
    return true;
  }

  /**
   * Sends a request that has no reply (Arena's inputs and acknowledgements): no id, nothing to
   * wait for; an error, if any, comes as an `error` event. Returns false when not connected.
   * @param {string} type
   * @param {object} [data]
   */
  send(type, data = {}) {
    return this.ready && this.#send({type, data});
  }

  /**
   * Sends a binary message (a mode's binary encoding). Returns false when not connected.
   * @param {Uint8Array} bytes
   */
  sendBinary(bytes) {
    if (!this.ready || !this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(bytes);
    return true;
  }

  #failPending(code) {
    for (const [, p] of this.#pending) {
      clearTimeout(p.timer);
      p.reject(new MaratangError(code, 'The connection closed before the reply.'));
    }
    this.#pending.clear();
  }

  /**
   * Sends a request and resolves with the reply's data; rejects with a MaratangError (the
   * server's code, or `timeout` / `disconnected`).
   * @param {string} type
   * @param {object} [data]
   * @param {{timeoutMs?: number}} [opt]
   * @returns {Promise<any>}
   */
  request(type, data = {}, opt = {}) {
    return new Promise((resolve, reject) => {
      if (!this.ready) {
        reject(new MaratangError('disconnected', 'Not connected.'));
        return;
      }
      const id = this.#nextId++;
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new MaratangError('timeout', `No reply to ${type}.`));
      }, opt.timeoutMs ?? this.requestTimeoutMs);
      // A reply that says `moved` (room.join through another node): follow it, and resolve with
      // the room as the new node's hello gives it.
      const settle = (d) => {
        if (!d?.moved?.ws) return resolve(d);
        const next = this.#nextOpen(opt.timeoutMs ?? this.requestTimeoutMs);
        this.#moveTo(d.moved.ws);
        next.then((h) => resolve({...d, room: h.room}), reject);
      };
      this.#pending.set(id, {resolve: settle, reject, timer});
      if (!this.#send({type, id, data})) {
        this.#pending.delete(id);
        clearTimeout(timer);
        reject(new MaratangError('disconnected', 'Not connected.'));
      }
    });
  }

  // --- time --------------------------------------------------------------------------------------

  /**
   * Measures the server clock's offset with `samples` time.sync round trips and keeps the one
   * with the shortest round trip (NTP's choice). Resolves with the offset (server − local, ms).
   */
  async timeSync(samples = 4) {
    let best = null;
    for (let i = 0; i < samples; i++) {
      const client_send = Date.now();
      const r = await this.request('time.sync', {client_send});
      const client_recv = Date.now();
      const rtt = (client_recv - client_send) - (r.server_send - r.server_recv);
      const offset = ((r.server_recv - client_send) + (r.server_send - client_recv)) / 2;
      if (!best || rtt < best.rtt) best = {rtt, offset};
    }
    this.clockOffset = Math.round(best.offset);
    this.rtt = best.rtt;
    this.#emit('time', {offset: this.clockOffset, rtt: this.rtt});
    return this.clockOffset;
  }

  /** The server's clock now, ms since the epoch (local clock + measured offset). */
  serverNow() {
    return Date.now() + this.clockOffset;
  }

  /** Milliseconds left until the absolute server time `endsAt` (0 when past or none). */
  remaining(endsAt) {
    return endsAt ? Math.max(0, endsAt - this.serverNow()) : 0;
  }
}
