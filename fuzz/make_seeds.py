#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/<target>/ from the repository's own material:
the message tables in docs/PROTOCOL.md, the shipped scenarios, the fake OpenAI server's stream
format, the traces tests' GameDB bodies and example configs. Run from anywhere; idempotent."""
import json
import os
import re
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")


def out(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def reset(target):
    """Removes the generated seeds; inputs that once failed (regress_*) stay."""
    d = os.path.join(CORPUS, target)
    if os.path.isdir(d):
        for f in os.listdir(d):
            if not f.startswith("regress_"):
                os.remove(os.path.join(d, f))


# ---- ws_frame_fuzz: client frames (masked), whole streams
def frame(op, payload, fin=True, mask=b"\x37\xfa\x21\x3d", length=None):
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | op
    if n < 126:
        h = bytes([b0, 0x80 | n])
    elif n <= 0xFFFF:
        h = bytes([b0, 0x80 | 126]) + struct.pack(">H", n)
    else:
        h = bytes([b0, 0x80 | 127]) + struct.pack(">Q", n)
    masked = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
    return h + mask + masked


def ws_seeds():
    t = "ws_frame_fuzz"
    reset(t)
    hello = b'{"type":"hello","id":1,"data":{"version":1}}'
    out(t, "text", frame(1, hello))
    out(t, "binary", frame(2, b"\x00\x01\x02\xff"))
    out(t, "fragmented", frame(1, b'{"type":', fin=False) + frame(0, b'"x"}', fin=False)
        + frame(9, b"ping") + frame(0, b"", fin=True))
    out(t, "ping_pong", frame(9, b"hi") + frame(10, b"") + frame(1, b"ok"))
    out(t, "close", frame(8, struct.pack(">H", 1000) + "bye \u00e9".encode()))
    out(t, "close_bad_code", frame(8, struct.pack(">H", 1005)))
    out(t, "len126", frame(2, bytes(200)))
    out(t, "len127_header", frame(2, b"", length=70000)[:14] + bytes(64))
    out(t, "utf8_split", frame(1, "가나".encode()[:4], fin=False) + frame(0, "가나".encode()[4:]))
    out(t, "bad_utf8", frame(1, b"\xc3\x28"))
    out(t, "unmasked", bytes([0x81, 0x02]) + b"hi")
    out(t, "rsv", bytes([0xC1, 0x80]) + b"\x00\x00\x00\x00")
    out(t, "many", b"".join(frame(1, ('{"n":%d}' % i).encode()) for i in range(20)))


# ---- http_request_fuzz: '0' + a request on the wire, '1' + a bare target [\n Authorization]
def http_seeds():
    t = "http_request_fuzz"
    reset(t)
    reqs = {
        "get_health": "GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
        "get_token": "GET /ws?token=abc%2Bdef&x=1 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
        "post_login": "POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      "Content-Length: 38\r\n\r\n{\"username\":\"ann\",\"password\":\"hunter2\"}"[:0]
                      + "POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                      "\r\nContent-Length: 37\r\n\r\n{\"username\":\"ann\",\"password\":\"hunter\"}",
        "bearer": "GET /v1/account HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer eyJ.a.b\r\n\r\n",
        "chunked": "POST /add-object HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                   "Content-Type: application/json\r\n\r\n5\r\n{\"a\":\r\n2\r\n1}\r\n0\r\n\r\n",
        "encoded_path": "GET /v1/nicknames/%EA%B0%80%20b HTTP/1.1\r\nHost: x\r\n\r\n",
        "near": "GET /v1/traces/areas/default/near?x=1.5&y=2&z=-3&radius=10&limit=5 HTTP/1.1\r\n"
                "Host: x\r\nIf-None-Match: \"abc\"\r\nAccept-Encoding: gzip\r\n\r\n",
    }
    for k, v in reqs.items():
        out(t, k, "0" + v)
    out(t, "bare_query", "1/ws?token=a%20b&token=c&=x&&y\nbEaReR tok")
    out(t, "bare_pct", "1/a/%2e%2e/%zz?%")
    out(t, "bare_abs", "1http://h/x?q")


# ---- envelope_fuzz: a valid request per message of docs/PROTOCOL.md, plus bad ones
def sample(ftype, limits):
    lo, hi = 1, 1
    m = re.match(r"(-?\d+)\s*[–-]\s*(-?\d+)", limits)
    if m:
        lo, hi = int(m.group(1)), int(m.group(2))
    elif limits.startswith("≥"):
        lo = hi = int(re.sub(r"[^\d-]", "", limits) or 0)
    if ftype == "integer":
        return lo
    if ftype == "string":
        return "a" * max(lo, min(hi, 3))
    if ftype == "boolean":
        return True
    if ftype == "object":
        return {}
    if ftype == "array":
        return []
    return None


def envelope_seeds():
    t = "envelope_fuzz"
    reset(t)
    doc = open(os.path.join(ROOT, "docs", "PROTOCOL.md"), encoding="utf-8").read()
    n = 0
    for sec in re.split(r"\n#### ", doc)[1:]:
        m = re.match(r"`([a-z_.]+)`", sec)
        if not m:
            continue
        data = {}
        for row in re.findall(r"^\| `([^`]+)` \| (\w+) \| (yes|no) \| ([^|]*) \|", sec, re.M):
            name, ftype, _req, limits = row
            if "." in name:
                continue
            data[name] = sample(ftype, limits.strip())
        n += 1
        env = {"type": m.group(1), "id": n, "data": data}
        out(t, "%02d_%s" % (n, m.group(1)), json.dumps(env, ensure_ascii=False))
    out(t, "mystery_act", '{"type":"mystery.act","id":"a1","data":{"text":"열쇠 줍기"}}')
    out(t, "mystery_do", '{"type":"mystery.do","id":2,"data":{"verb":"use","object":"key",'
        '"target":"door","text":""}}')
    out(t, "mafia_settings", '{"type":"room.create","id":3,"data":{"mode":"mafia","name":"m",'
        '"capacity":8,"settings":{"day_ms":60000,"night_ms":30000,"tie":"no_lynch"}}}')
    out(t, "mystery_settings", '{"type":"room.create","id":4,"data":{"mode":"mystery",'
        '"name":"m","settings":{"scenario":"gull_rock","turn_ms":0,"llm":false}}}')
    out(t, "bad_id", '{"type":"room.explode","id":12345678901234567890123}')
    out(t, "string_id", '{"type":"no.such.thing","id":"req-7","data":{}}')
    out(t, "data_array", '{"type":"hello","data":[1]}')
    out(t, "deep", '{"type":"x","data":' + '[' * 40 + ']' * 40 + '}')
    out(t, "unicode", '{"type":"room.chat","data":{"text":"\\ud83d\\ude00 가나다"}}')
    out(t, "big_int", '{"type":"time.sync","data":{"client_send":18446744073709551615}}')


# ---- trace_codec_fuzz: GameDB bodies (seed 003, traces tests)
def trace_seeds():
    t = "trace_codec_fuzz"
    reset(t)
    out(t, "seed", """{
  "obj": {"u_uuid": "user-uuid", "o_type": 1, "o_pos": "10.5,20.0,30.2", "o_rot": "0.0,90.0,0.0"},
  "message": {"u_uuid": "user-uuid", "part1": "message text part 1",
              "part2": "message text part 2", "part3": "message text part 3"},
  "phantom": {"u_uuid": "user-uuid", "data": [["pos1", "rot1"], ["pos2", "rot2"]]}
}""")
    out(t, "obj_only", '{"obj":{"u_uuid":"u","o_type":2,"o_pos":"","o_rot":""},'
                       '"phantom":{"u_uuid":"u","data":[]}}')
    out(t, "message_pos", '{"message":{"u_uuid":"u","part1":"a","part2":"","part3":"",'
                          '"pos":" 1 , 2 ,3 "},"phantom":{"u_uuid":"u","data":[["1,2,3",4.5]]}}')
    out(t, "bad_fields", '{"obj":{"u_uuid":"","o_type":"1","o_pos":7},"phantom":{"data":{}}}')
    out(t, "position", "1e308,-0,0x10")
    out(t, "area", "objects")


# ---- sse_stream_fuzz: first line = read sizes, then the SSE body; 'H' + a whole HTTP response
def sse_event(delta, finish=None):
    o = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
         "model": "kanana-8b", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return "data: " + json.dumps(o, ensure_ascii=False) + "\n\n"


def http_chunk(s):
    b = s.encode()
    return b"%x\r\n" % len(b) + b + b"\r\n"


def sse_seeds():
    t = "sse_stream_fuzz"
    reset(t)
    events = [sse_event({"role": "assistant", "content": ""})]
    events += [sse_event({"content": w}) for w in ["The ", "lamp ", "is ", "lit. ", "등대"]]
    events += [sse_event({}, "stop"), "data: [DONE]\n\n"]
    body = "".join(events)
    out(t, "stream", "b" + "\x05\x11\x40\n" + body)
    out(t, "stream_crlf", "b" + "\x07\n" + body.replace("\n", "\r\n"))
    out(t, "comments", "b\n: keep-alive\n\nevent: x\nid: 3\n" + sse_event({"content": "x"})
        + "data:[DONE]\n")
    out(t, "error", "b\n" + 'data: {"error":{"message":"overloaded"}}\n\n')
    out(t, "usage_only", "b\n" + 'data: {"choices":[],"usage":{"total_tokens":3}}\n\n'
        + 'data: not json\n\n')
    resp = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            + b"".join(http_chunk(e) for e in events) + b"0\r\n\r\n")
    out(t, "http_stream", b"H" + resp)
    err = json.dumps({"error": {"message": "model not found"}}).encode()
    out(t, "http_404", b"H" + b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(err) + err)


# ---- scenario_fuzz: a scenario's files joined with "#@@file" lines (docs/examples, scenarios/)
def scenario_seeds():
    t = "scenario_fuzz"
    reset(t)
    dirs = [os.path.join(ROOT, "docs", "examples", "tiny_cellar")]
    sdir = os.path.join(ROOT, "scenarios")
    dirs += [os.path.join(sdir, d) for d in sorted(os.listdir(sdir))
             if os.path.isdir(os.path.join(sdir, d))]
    for d in dirs:
        files = sorted(f for f in os.listdir(d) if f.endswith(".yaml"))
        parts = [open(os.path.join(d, f), encoding="utf-8").read() for f in files]
        name = os.path.basename(d)
        out(t, name, "#@@file\n".join(parts[:4]))
        for f, p in zip(files, parts):
            out(t, name + "_" + f.replace(".yaml", ""), p)
    out(t, "syntax_error", "scenario:\n  id: x\n  title: [unclosed\n")
    out(t, "not_a_map", "- 1\n- 2\n")


# ---- config_fuzz: config file, then "#@@" and env ($NAME=v) / flag (key=v) lines
def config_seeds():
    t = "config_fuzz"
    reset(t)
    out(t, "nested", """{
    // comments are allowed
    "server": {"port": 9001, "host": "127.0.0.1"},
    "rooms.reconnect_grace_ms": 1000,
    "log": {"level": "debug"},
  }""")
    out(t, "env_flags", '{"mafia": {"min_players": 4}}\n#@@\n$MARATANG_SERVER_PORT=9002\n'
        '$VLLM_BASE_URL=http://127.0.0.1:8000/v1\nserver.port=9003\nlog.level=warn\n')
    out(t, "llm", '/* block */ {"llm": {"base_url": "http://h:8000/v1", "api_key": "k"},'
        ' "traces": {"default_area": "a.b-c"}, "storage": {"full_sync": false}}')
    out(t, "bad_types", '{"server": {"port": "x", "threads": 1.5}, "test_modes": true}')
    out(t, "empty", "{}")


# ---- mystery_text_fuzz: player commands (the walkthroughs), LLM intent replies
def mystery_text_seeds():
    t = "mystery_text_fuzz"
    reset(t)
    sdir = os.path.join(ROOT, "scenarios")
    n = 0
    for d in sorted(os.listdir(sdir)):
        wdir = os.path.join(sdir, d, "walkthroughs")
        if not os.path.isdir(wdir):
            continue
        for w in sorted(os.listdir(wdir)):
            for line in open(os.path.join(wdir, w), encoding="utf-8"):
                line = line.split("#")[0].strip()
                if line and n < 60:
                    n += 1
                    out(t, "cmd%02d" % n, line)
    out(t, "intent", '{"verb": "use", "object": "lantern", "target": "door", "text": ""}')
    out(t, "intent_fenced", '```json\n{"verb":"talk","object":"keeper","text":"hello"}\n```')
    out(t, "tags", "say <b>hi</b>\t\x01 to keeper")


def arena_seeds():
    # Arena's binary messages (src/modes/arena/README.md, "Binary encoding"): LEB128 varints.
    t = "arena_binary_fuzz"
    reset(t)
    out(t, "01_input", bytes([0x01, 0x05, 0x11, 0x80, 0x80, 0x01, 0x0D, 0x0B]))
    out(t, "02_input_min", bytes([0x01, 0x01, 0x00, 0x00, 0x00, 0x00]))
    out(t, "03_ack", bytes([0x02, 0x09]))
    out(t, "04_state_full", bytes([0xA1, 0x03, 0x00, 0x02, 0x01, 0x0E, 0x3F, 0x80, 0x19, 0x80,
                                   0x19, 0x00, 0xC8, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
                                   0x02, 0x07, 0x80, 0x19, 0x80, 0x19, 0x02, 0x00]))
    out(t, "05_state_delta", bytes([0xA1, 0x04, 0x03, 0x02, 0x01, 0x0E, 0x01, 0x82, 0x19, 0x00,
                                    0x00, 0x01, 0x0A, 0x00, 0x00]))


if __name__ == "__main__":
    arena_seeds()
    mystery_text_seeds()
    ws_seeds()
    http_seeds()
    envelope_seeds()
    trace_seeds()
    sse_seeds()
    scenario_seeds()
    config_seeds()
    for d in sorted(os.listdir(CORPUS)):
        print(d, len(os.listdir(os.path.join(CORPUS, d))))
