#!/usr/bin/python3
"""Fills and checks a GameDB-compatible server (Maratang or bench/peers/traces_fastapi) through
its URL, for bench/traces_side_by_side.sh. Standard library only; loopback URLs only.

  traces_check.py fill URL N         POSTs N traces (object + message + phantom of 50 points,
                                     as bench/traces_load.cpp fills), failing on any non-200
  traces_check.py post URL           POSTs one trace with a fresh u_uuid; prints the u_uuid
  traces_check.py find URL UUID      GETs /get-objects (gzip) and exits 0 if an object, a message
                                     and a phantom of that u_uuid are listed; prints the counts
"""
import gzip
import http.client
import json
import sys
import urllib.parse
import uuid


def connect(url):
    u = urllib.parse.urlsplit(url)
    if u.hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit(f"traces_check.py: {url} is not a loopback URL")
    return http.client.HTTPConnection(u.hostname, u.port or 80, timeout=10)


def body(u_uuid, i, points=50):
    data = [[f"{i % 1000}.5,{p}.25,3.0", f"0.0,{p % 360}.0,0.0"] for p in range(points)]
    return json.dumps({
        "obj": {"u_uuid": u_uuid, "o_type": i % 50, "o_pos": f"{i}.5,20.0,30.2",
                "o_rot": "0.0,90.0,0.0"},
        "message": {"u_uuid": u_uuid, "part1": "Try jumping", "part2": "but hole",
                    "part3": "ahead"},
        "phantom": {"u_uuid": u_uuid, "data": data},
    })


def post(conn, u_uuid, i):
    conn.request("POST", "/add-object", body(u_uuid, i),
                 {"Content-Type": "application/json"})
    r = conn.getresponse()
    text = r.read()
    if r.status != 200:
        sys.exit(f"traces_check.py: POST /add-object answered {r.status}: {text[:300]!r}")


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    cmd, url = sys.argv[1], sys.argv[2]
    conn = connect(url)
    if cmd == "fill":
        for i in range(int(sys.argv[3])):
            post(conn, f"fill-{i}", i)
    elif cmd == "post":
        u = f"check-{uuid.uuid4()}"
        post(conn, u, 7)
        print(u)
    elif cmd == "find":
        u = sys.argv[3]
        conn.request("GET", "/get-objects", headers={"Accept-Encoding": "gzip"})
        r = conn.getresponse()
        raw = r.read()
        if r.status != 200:
            sys.exit(f"traces_check.py: GET /get-objects answered {r.status}")
        gz = r.getheader("Content-Encoding") == "gzip"
        listing = json.loads(gzip.decompress(raw) if gz else raw)
        counts = {k: len(listing[k]) for k in ("objects", "messages", "phantoms")}
        found = all(any(t.get("u_uuid") == u for t in listing[k])
                    for k in ("objects", "messages", "phantoms"))
        print(f"{counts['objects']} objects, {counts['messages']} messages, "
              f"{counts['phantoms']} phantoms, {len(raw)} bytes{' gzip' if gz else ''}; "
              f"{u} {'listed' if found else 'NOT listed'}")
        sys.exit(0 if found else 1)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
