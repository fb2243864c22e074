"""GameDB (seed 003) as the seed describes it: FastAPI, asyncpg, Redis, run as two instances
behind nginx. The peer of Maratang's traces endpoints in bench/traces_side_by_side.sh.

Written from the seed's README (shared/seeds/003); every choice where the seed is silent is
listed in README.md beside this file. Debian bookworm packages only (scripts/setup.sh --test):
python3-fastapi 0.92, python3-uvicorn 0.17.6, python3-asyncpg 0.27, python3-redis 4.3.4 (with
python3-uvloop and python3-httptools, which uvicorn uses when they are there).

Run: DATABASE_URL=postgresql://... REDIS_URL=redis://.../1 \
     /usr/bin/python3 -m uvicorn main:app --host 127.0.0.1 --port 8000
"""

import gzip
import json
import os
from typing import List, Optional

import asyncpg
import redis.asyncio as aioredis
from fastapi import FastAPI, HTTPException, Response
from pydantic import BaseModel, root_validator

# The seed: "CACHE_DURATION = 30  # Cache duration in seconds" (in main.py).
CACHE_DURATION = 30
CACHE_KEY = "get-objects:gzip"

DATABASE_URL = os.getenv("DATABASE_URL", "postgresql://username:password@localhost:5432/gamedb")
REDIS_URL = os.getenv("REDIS_URL", "redis://localhost:6379")
# Connections per instance; the seed says "connection pooling" without a size.
POOL_MIN = int(os.getenv("DB_POOL_MIN", "5"))
POOL_MAX = int(os.getenv("DB_POOL_MAX", "10"))

SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    id     SERIAL PRIMARY KEY,
    u_uuid TEXT NOT NULL,
    o_type INTEGER NOT NULL,
    o_pos  TEXT NOT NULL,
    o_rot  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    id     SERIAL PRIMARY KEY,
    u_uuid TEXT NOT NULL,
    part1  TEXT NOT NULL,
    part2  TEXT NOT NULL,
    part3  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS phantoms (
    id     SERIAL PRIMARY KEY,
    u_uuid TEXT NOT NULL,
    data   JSONB NOT NULL
);
"""


class ObjectIn(BaseModel):
    u_uuid: str
    o_type: int
    o_pos: str
    o_rot: str


class MessageIn(BaseModel):
    u_uuid: str
    part1: str
    part2: str
    part3: str


class PhantomIn(BaseModel):
    u_uuid: str
    data: List[List[str]]


class AddObjectIn(BaseModel):
    obj: Optional[ObjectIn] = None
    message: Optional[MessageIn] = None
    phantom: PhantomIn  # "phantom is required"

    @root_validator(skip_on_failure=True)
    def obj_or_message(cls, values):
        # "At least one of obj or message must be provided."
        if values.get("obj") is None and values.get("message") is None:
            raise ValueError("at least one of 'obj' or 'message' must be provided")
        return values


app = FastAPI(title="GameDB")
pool: Optional[asyncpg.Pool] = None
cache: Optional[aioredis.Redis] = None


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


@app.on_event("startup")
async def startup() -> None:
    global pool, cache
    pool = await asyncpg.create_pool(DATABASE_URL, min_size=POOL_MIN, max_size=POOL_MAX,
                                     init=_init_connection)
    # "Database tables created automatically on startup." Both instances start at once: the
    # advisory lock keeps their CREATE TABLE IF NOT EXISTS from racing on the catalog.
    async with pool.acquire() as conn:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(3003)")
            await conn.execute(SCHEMA)
    cache = aioredis.from_url(REDIS_URL, decode_responses=False)


@app.on_event("shutdown")
async def shutdown() -> None:
    if cache is not None:
        await cache.close()
    if pool is not None:
        await pool.close()


@app.get("/health")
async def health():
    return {"status": "healthy"}


def _gzip_response(body: bytes) -> Response:
    return Response(content=body, media_type="application/json",
                    headers={"Content-Encoding": "gzip"})


@app.get("/get-objects")
async def get_objects():
    # "Response is cached for 30 seconds and compressed with gzip."
    try:
        cached = await cache.get(CACHE_KEY)
    except aioredis.RedisError:
        cached = None  # the cache is an optimisation: serve from the database without it
    if cached is not None:
        return _gzip_response(cached)

    async with pool.acquire() as conn:
        objects = await conn.fetch(
            "SELECT id, u_uuid, o_type, o_pos, o_rot FROM objects ORDER BY id DESC LIMIT 200")
        messages = await conn.fetch(
            "SELECT id, u_uuid, part1, part2, part3 FROM messages ORDER BY id DESC LIMIT 200")
        phantoms = await conn.fetch(
            "SELECT id, u_uuid, data FROM phantoms ORDER BY id DESC LIMIT 20")
    body = gzip.compress(json.dumps({
        "objects": [dict(r) for r in objects],
        "messages": [dict(r) for r in messages],
        "phantoms": [dict(r) for r in phantoms],
    }, separators=(",", ":")).encode())
    try:
        await cache.setex(CACHE_KEY, CACHE_DURATION, body)
    except aioredis.RedisError:
        pass
    return _gzip_response(body)


@app.post("/add-object")
async def add_object(item: AddObjectIn):
    ids = {}
    try:
        async with pool.acquire() as conn:
            async with conn.transaction():
                if item.obj is not None:
                    o = item.obj
                    ids["obj"] = await conn.fetchval(
                        "INSERT INTO objects (u_uuid, o_type, o_pos, o_rot) "
                        "VALUES ($1, $2, $3, $4) RETURNING id",
                        o.u_uuid, o.o_type, o.o_pos, o.o_rot)
                if item.message is not None:
                    m = item.message
                    ids["message"] = await conn.fetchval(
                        "INSERT INTO messages (u_uuid, part1, part2, part3) "
                        "VALUES ($1, $2, $3, $4) RETURNING id",
                        m.u_uuid, m.part1, m.part2, m.part3)
                ids["phantom"] = await conn.fetchval(
                    "INSERT INTO phantoms (u_uuid, data) VALUES ($1, $2) RETURNING id",
                    item.phantom.u_uuid, item.phantom.data)
    except (asyncpg.PostgresError, OSError) as e:
        raise HTTPException(status_code=503, detail=f"database unavailable: {e}")
    return {"status": "success", "ids": ids}
