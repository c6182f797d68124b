"""Lua scripts: every multi-key change of a job happens atomically in one of these.

Each script is ``PRELUDE + body``. Every script declares one key, ``KEYS[1]``: the queue's
key base (``<prefix>:{<queue>}:``, see keys.py). It builds every key it touches from that
base, so all of them carry the queue's hash tag and live in the base's Cluster slot; the
declared key is what lets a client (redis-py's ``RedisCluster`` too) send the script to
the node that owns that slot. BullMQ's scripts take their queue's key prefix the same way.
Nothing global (outside the queue's tag) is written by any script.

In the bodies, ``ARGV[1]`` still names the base (``BASE`` below puts ``KEYS[1]`` in front
of the arguments), so ``ARGV[2]`` is the first argument the caller passes.

Times are integer milliseconds since the epoch, passed in by the caller (ARGV) so that the
scripts stay deterministic.
"""

from __future__ import annotations

# The key base first, then the caller's arguments: see the module docstring.
BASE = "local ARGV = {KEYS[1], unpack(ARGV)}\n"

# The search index (see search.py for what it holds). ``p`` is the key base. A job's
# number n maps back to its id in ix:n:<n // 128> (field n % 128: a hash small enough to
# stay a listpack). Token t's postings are ix:w:<t>:<c>, c = n // 512: sets of the jobs'
# offsets o = n % 512 in their chunk (below 32768: Redis packs them as 16-bit integers,
# 2 bytes a job); ix:d:<t> lists the chunks that have postings of t, as a sorted set
# (member c, score c), which lets a search walk them newest first a few at a time. A
# chunk where t has one posting only keeps it inline, in the score (c + (o + 1) / 1024,
# exact in a double), with no set: a word of one job (an email, an order number) costs
# one small key, not two. ix:c:<c> lists the tokens that have postings in chunk c (a
# token, once, when ix:d:<t> gains c); ix:s:<c> holds those that have a set there. On
# the hot path, one command a token (SADD, or ZADD for a word new to the chunk) and one
# SMISMEMBER of ix:s:<c> for all of them.
# ix:id holds every id in ASCII lower case (score 0) for prefix lookups, with a tab and
# the id itself when they differ.
# Lazy deletion: a job leaving the index (purge, or added again under a new number) is
# taken out of ix:n and ix:id, and its offset goes to ix:x:<c>, the chunk's dead set
# (ix:xd: the chunks that have one); its postings stay, and a search leaves them out (a
# count subtracts the dead set, a listing reads ix:n). Once every job of a chunk is gone
# and no new number can fall in it, the chunk goes to ix:gc and gc() drops its postings
# in bounded steps, from ix:c:<c>. So a purge costs a few commands, not two a token.
INDEX = r"""
-- A number given to redis.call is formatted with "%.17g" (about 3,600 instructions
-- more than a string argument, measured under callgrind): the index passes strings,
-- formatted once a job. spot(): a chunk number and offset as those texts (and, once
-- post_new() needs it, the inline score c + (o + 1) / 1024).
local function spot(c, o)
  return {c = c, o = o, cs = string.format('%d', c), os = string.format('%d', o)}
end
-- Post token tok at the spot (see spot()) where it has no set (new: a list gathering the
-- tokens new to the chunk, for one RPUSH by the caller; nil: pushed here).
local function post_new(tok, at, new)
  local k, d = p .. 'ix:w:' .. tok .. ':' .. at.cs, p .. 'ix:d:' .. tok
  at.inl = at.inl or string.format('%.17g', at.c + (at.o + 1) / 1024)
  if redis.call('zadd', d, 'NX', at.inl, at.cs) == 1 then  -- the chunk's first: inline
    if new then new[#new + 1] = tok else redis.call('rpush', p .. 'ix:c:' .. at.cs, tok) end
    return
  end
  local had = math.floor((tonumber(redis.call('zscore', d, at.cs)) - at.c) * 1024 + 0.5) - 1
  if had == at.o then return end
  if had >= 0 then redis.call('sadd', k, had, at.os) else redis.call('sadd', k, at.os) end
  redis.call('zadd', d, 'XX', at.cs, at.cs)  -- a set now
  redis.call('sadd', p .. 'ix:s:' .. at.cs, tok)
end
-- Post token tok for job number n.
local function post(tok, n, new)
  local at = spot(math.floor(n / 512), n % 512)
  local k = p .. 'ix:w:' .. tok .. ':' .. at.cs
  if redis.call('exists', k) == 1 then redis.call('sadd', k, at.os) else post_new(tok, at, new) end
end
-- Exact removal of one posting (a job leaving a finished state: its ~s:<state> token).
local function unpost(tok, n)
  local c, o = math.floor(n / 512), n % 512
  local k, d = p .. 'ix:w:' .. tok .. ':' .. c, p .. 'ix:d:' .. tok
  if redis.call('srem', k, o) == 1 then
    if redis.call('exists', k) == 0 then
      redis.call('zrem', d, c)
      redis.call('srem', p .. 'ix:s:' .. c, tok)
    end
  elseif tonumber(redis.call('zscore', d, c) or '-1') == c + (o + 1) / 1024 then
    redis.call('zrem', d, c)
  end
end
local function id_member(id)
  local low = string.lower(id)
  if low == id then return id end
  return low .. '\t' .. id
end
-- A raw frame of the job's blob (compact.py): kind, 4-byte length, '=' and the text.
local function frame(kind, text)
  local n = #text + 1
  return kind .. string.char(math.floor(n / 16777216) % 256, math.floor(n / 65536) % 256,
                             math.floor(n / 256) % 256, n % 256) .. '=' .. text
end
-- Post the tokens (space-separated) of job number n: ix:s:<c> (the tokens that have a set
-- in chunk c) tells in one read which of them are one SADD each: about one command a
-- token, not two.
local function post_all(n, toks)
  local list, new = {}, {}
  for tok in string.gmatch(toks, '%S+') do list[#list + 1] = tok end
  if #list == 0 then return end
  local at = spot(math.floor(n / 512), n % 512)
  local held = redis.call('smismember', p .. 'ix:s:' .. at.cs, unpack(list))
  local pw, cs = p .. 'ix:w:', ':' .. at.cs
  for i, tok in ipairs(list) do
    if held[i] == 1 then redis.call('sadd', pw .. tok .. cs, at.os) else post_new(tok, at, new) end
  end
  if #new > 0 then redis.call('rpush', p .. 'ix:c:' .. at.cs, unpack(new)) end
end
-- Index a new job: number n, tokens (space-separated).
local function index_job(id, n, toks)
  post_all(n, toks)
  redis.call('hset', p .. 'ix:n:' .. string.format('%d', math.floor(n / 128)),
             string.format('%d', n % 128), id)
  redis.call('zadd', p .. 'ix:id', 0, id_member(id))
end
-- Job number n leaves the index (its postings stay: lazy deletion, see above).
local function unindex(n)
  local c = math.floor(n / 512)
  local h = p .. 'ix:n:' .. math.floor(n / 128)
  if redis.call('hdel', h, n % 128) == 0 then return end
  redis.call('sadd', p .. 'ix:x:' .. c, n % 512)
  redis.call('sadd', p .. 'ix:xd', c)
  if redis.call('exists', h) == 0 then
    local b = p .. 'ix:n:'
    if redis.call('exists', b .. 4 * c, b .. (4 * c + 1), b .. (4 * c + 2), b .. (4 * c + 3)) == 0 then
      redis.call('zadd', p .. 'ix:gc', c, c)
    end
  end
end
-- Whether chunk c holds no live job (none of its numbers is in ix:n).
local function dead_chunk(c)
  local b = p .. 'ix:n:'
  return redis.call('exists', b .. 4 * c, b .. (4 * c + 1), b .. (4 * c + 2), b .. (4 * c + 3)) == 0
end
-- Drop the postings of dead chunk c, at most ``budget`` tokens' worth; true when done.
local function drop_chunk(c, budget)
  local toks = redis.call('lpop', p .. 'ix:c:' .. c, budget)
  if toks then
    local keys = {}
    for i, t in ipairs(toks) do
      keys[i] = p .. 'ix:w:' .. t .. ':' .. c
      redis.call('zrem', p .. 'ix:d:' .. t, c)
    end
    redis.call('del', unpack(keys))
    if #toks == budget then return false end
  end
  redis.call('del', p .. 'ix:x:' .. c, p .. 'ix:c:' .. c, p .. 'ix:s:' .. c)
  redis.call('srem', p .. 'ix:xd', c)
  redis.call('zrem', p .. 'ix:gc', c)
  return true
end
-- Drop the postings of the oldest dead chunk, at most ``budget`` tokens' worth. A chunk
-- that new numbers may still fall in (the sequence's) waits: a posting there while it
-- is half dropped would be lost. One that got live jobs again (it died while it was the
-- sequence's) leaves ix:gc until it dies again.
local function gc(budget)
  local first = redis.call('zrange', p .. 'ix:gc', 0, 0)
  if #first == 0 then return end
  local c = tonumber(first[1])
  if c >= math.floor((tonumber(redis.call('get', p .. 'seq')) or 0) / 512) then return end
  if not dead_chunk(c) then redis.call('zrem', p .. 'ix:gc', c); return end
  drop_chunk(c, budget)
end
"""

# Shared local functions (FUNCS), after the key base (PRELUDE). Every call of a script
# builds them again (Lua closures and tables), which costs as much as a few commands: the
# consumer's per-job script (FINISH) writes its common path out and includes FUNCS only in
# the branches that need them.
PRELUDE_HEAD = BASE + "local p = ARGV[1]\n"

FUNCS = INDEX + r"""
local FINISHED = {completed=true, failed=true, revoked=true, expired=true, canceled=true,
                  interrupted=true, locked=true, rate_limited=true}
local FAILURES = {failed=true, locked=true, rate_limited=true}
-- States with a per-task index (records.TASK_INDEXED_STATES).
local INDEXED = {failed=true, revoked=true, expired=true, canceled=true, interrupted=true,
                 locked=true, rate_limited=true}

local function rk(id) return p .. 'j:' .. id end

-- Take a job out of the sets of its current state. Only INDEXED states have a per-task
-- index: pending jobs move too often, completed ones are too many, for it to pay. A
-- finished state is also a search token (n: the job's number, read when not given;
-- gone: the job leaves the index, whose lazy deletion covers that posting too).
local function leave(id, st, task, n, gone)
  if st then
    redis.call('zrem', p .. st, id)
    if task and INDEXED[st] then redis.call('zrem', p .. 't:' .. st .. ':' .. task, id) end
    if FINISHED[st] and not gone then
      n = n or tonumber(redis.call('hget', rk(id), 'n'))
      if n then unpost('~s:' .. st, n) end
    end
  end
end

-- Put a job in the sets of a state.
local function enter(id, st, task, score, n)
  redis.call('zadd', p .. st, score, id)
  if task and INDEXED[st] then redis.call('zadd', p .. 't:' .. st .. ':' .. task, score, id) end
  if n and FINISHED[st] then post('~s:' .. st, n) end
end

-- The frames of a blob string (compact.py): a list of {kind, frame}.
local function frames(s)
  local out, i = {}, 1
  while i + 4 <= #s do
    local b1, b2, b3, b4 = string.byte(s, i + 1, i + 4)
    local len = ((b1 * 256 + b2) * 256 + b3) * 256 + b4
    out[#out + 1] = {string.sub(s, i, i), string.sub(s, i, i + 4 + len)}
    i = i + 5 + len
  end
  return out
end

-- A job's blob as stored ('' for none, or for a key of another type).
local function blob(id)
  local s = redis.pcall('get', p .. 'x:' .. id)
  if type(s) ~= 'string' then return '' end
  return s
end

-- Put frames into a job's blob (old: its current content): the frames of the new kinds
-- and of the kinds in drop ({kind=true}) go; attempts ('t') accumulate, the newest 25 kept.
local function xput(id, old, new, drop)
  if new == '' and not drop then return end
  local gone = drop or {}
  local incoming = frames(new)
  for _, f in ipairs(incoming) do if f[1] ~= 't' then gone[f[1]] = true end end
  local out, attempts = {}, {}
  for _, f in ipairs(frames(old)) do
    if f[1] == 't' then attempts[#attempts + 1] = f[2]
    elseif not gone[f[1]] then out[#out + 1] = f[2] end
  end
  for _, f in ipairs(incoming) do
    if f[1] == 't' then attempts[#attempts + 1] = f[2] else out[#out + 1] = f[2] end
  end
  for i = math.max(1, #attempts - 24), #attempts do out[#out + 1] = attempts[i] end
  local s = table.concat(out)
  if s == '' then redis.call('del', p .. 'x:' .. id) else redis.call('set', p .. 'x:' .. id, s) end
end

-- Add tokens (an error's words) to an indexed job (a token it holds already: a no-op).
local function more_tokens(n, toks)
  if n and toks ~= '' then post_all(n, toks) end
end

-- An error text for the record (at most 64 bytes: the record stays a listpack) and, when
-- it had to be cut, the frame that keeps it whole.
local function err_fields(text)
  if #text <= 64 then return text, '' end
  return string.sub(text, 1, 61) .. '...', frame('e', text)
end

-- Histogram bucket of a duration: about 2 buckets per doubling (factor sqrt 2).
local function bucket(ms)
  if ms < 1 then return 0 end
  return math.floor(2 * math.log(ms) / math.log(2)) + 1
end

-- Add to the per-minute counters. fields: {name, amount, name, amount, ...}
-- Daily rollups are made off the hot path by the ROLLUP script (heartbeat).
local function metric(now, fields)
  local minute = math.floor(now / 60000)
  local mk = p .. 'mx:' .. minute
  local created = false
  for i = 1, #fields, 2 do
    if redis.call('hincrby', mk, fields[i], fields[i + 1]) == fields[i + 1] then created = true end
    -- the hour series (keys.hour_series): finished jobs per minute, trimmed by ROLLUP
    if fields[i] == 'done' or fields[i] == 'fail' then
      redis.call('hincrby', p .. 'hs', minute .. fields[i], fields[i + 1])
    end
  end
  -- a field seen for the first time may be the hash's first: give it its 48 h TTL then
  if created then redis.call('expire', mk, 173000) end
end

-- Delete a job and everything it owns, whatever its state.
local function purge(id)
  local rec = rk(id)
  local f = redis.pcall('hmget', rec, 'st', 'task', 'nxt', 'n')
  if f.err then f = {} end  -- a key of another type under the record's name: delete it too
  local n = tonumber(f[4])
  if f[1] then leave(id, f[1], f[2] or nil, n, true) end
  if n then  -- out of the search index (its postings: lazy deletion, see INDEX)
    unindex(n)
    redis.call('zrem', p .. 'ix:id', id_member(id))
  end
  if f[3] then  -- pipeline children that never ran hold only a stub ('par')
    for child in string.gmatch(f[3], '[^,]+') do
      if redis.call('hexists', rk(child), 'st') == 0 then redis.call('del', rk(child)) end
    end
  end
  -- Huey's result (field = job id) and revoke flag go with the job: the result store
  -- follows the job's retention instead of growing for ever.
  redis.call('hdel', p .. 'results', id, 'r:' .. id)
  return redis.call('del', rec, p .. 'm:' .. id, p .. 'x:' .. id, p .. 'l:' .. id, p .. 'v:' .. id)
end

-- Retention: drop the oldest beyond max_count and those older than max_age, at most
-- 16 of each per call. Called on every finish, so the work is amortised O(1); so is the
-- index's garbage (gc: a chunk's ~600 tokens per 512 jobs purged, 64 a call).
local function trim(key, now, max_age, max_count)
  local purged = false
  if max_count >= 0 then
    local excess = redis.call('zcard', key) - max_count
    if excess > 0 then
      for _, id in ipairs(redis.call('zrange', key, 0, math.min(excess, 16) - 1)) do purge(id) end
      purged = true
    end
  end
  if max_age > 0 then
    for _, id in ipairs(redis.call('zrangebyscore', key, '-inf', now - max_age, 'LIMIT', 0, 16)) do
      purge(id); purged = true
    end
  end
  if purged then gc(64) end
end

local function event(id, now, kind, text)
  local k = p .. 'v:' .. id
  redis.call('rpush', k, cjson.encode({now, kind, text}))
  redis.call('ltrim', k, -50, -1)
end

-- Wake a consumer blocked on the empty queue (storage.dequeue BRPOPs this list). Blocked
-- consumers take tokens at once, so a list already holding a few means none is waiting:
-- under a backlog the push (a write) is skipped for a read.
local function wake()
  if redis.call('llen', p .. 'wake') < 8 then redis.call('lpush', p .. 'wake', '1') end
end

-- Put a job at the back of its priority in the waiting set.
local function to_waiting(id, st, task, now, pri)
  local rec = rk(id)
  if pri == nil then pri = tonumber(redis.call('hget', rec, 'pri') or '0') or 0 end
  local seq = redis.call('incr', p .. 'seq')
  leave(id, st, task)
  enter(id, 'waiting', task, -pri * 1000000000000 + seq)
  redis.call('hset', rec, 'st', 'waiting', 'rdy', now)
  wake()
end

-- Put a job back at the head of its priority (a stalled or interrupted job was taken
-- before everything still waiting behind it): just below the lowest score of its band.
local function to_head(id, st, task, now)
  local rec = rk(id)
  local pri = tonumber(redis.call('hget', rec, 'pri') or '0') or 0
  local band = -pri * 1000000000000
  local first = redis.call('zrangebyscore', p .. 'waiting', band - 999999999999, band + 999999999999,
                           'WITHSCORES', 'LIMIT', 0, 1)
  local score = band
  if #first > 0 then score = math.min(band, tonumber(first[2]) - 1) end
  leave(id, st, task)
  enter(id, 'waiting', task, score)
  redis.call('hset', rec, 'st', 'waiting', 'rdy', now)
  wake()
end

-- Fencing. Each delivery of a job gets a token from DEQUEUE: its attempt number 'att',
-- which only grows. An end, retry or put-back from a consumer counts only while its
-- delivery still holds the job: active under that token, or put back as stalled and not
-- handed out again. Anything else is a late end from a delivery that lost its lease (a
-- consumer paused past its lease, a partition): it changes no state and no count; it
-- is kept as an event and counted as a duplicate run (once: count = false for the
-- retry that follows a late failed attempt). token '' = not from a delivery.
local function stale(id, token, now, what, count, f)
  if token == '' then return false end
  -- f: the record's {st, att, task} when the caller has read them already
  f = f or redis.call('hmget', rk(id), 'st', 'att', 'task')
  if not f[1] then return false end
  if f[2] == token then
    if f[1] == 'active' or f[1] == 'waiting' then return false end
    -- This delivery's own end, already recorded: the reply was lost (a dropped
    -- connection) and the call sent again. A no-op, and no duplicate run.
    return true
  end
  -- Once per delivery: a late end whose reply was lost, or refused by WAIT in durable
  -- mode after it ran, is sent again (the outbox) and must not count again ('lte').
  if count and redis.call('hget', rk(id), 'lte') ~= token then
    redis.call('hset', rk(id), 'lte', token)
    event(id, now, 'late end', 'late ' .. what .. ' from a delivery that had lost its lease (attempt ' ..
          token .. '; the job is ' .. f[1] .. ' now): ignored')
    metric(now, {'dup', 1, 'dup|' .. (f[3] or '?'), 1})
  end
  return true
end

-- Move a job to a finished state; retention given as {q_age, q_count, t_age, t_count}.
-- Frames for a blob (more), less the 'W' frame: the words to add to the job's tokens.
local function added_tokens(more)
  if not string.find(more, 'W', 1, true) then return more, '' end
  local keep, toks = {}, ''
  for _, f in ipairs(frames(more)) do
    if f[1] == 'W' then toks = string.sub(f[2], 7) else keep[#keep + 1] = f[2] end
  end
  return table.concat(keep), toks
end

-- more: frames for the blob (the whole result or error, the attempt; a 'W' frame: the
-- error's words, added to the job's tokens)
-- f: the record's {st, task, sta, per, src, n} when the caller has read them already;
-- counted: the caller counts this end in the minute's metrics itself (counters.py).
local function finish(id, state, now, fields, more, keep_msg, retention, f, counted)
  local rec = rk(id)
  f = f or redis.call('hmget', rec, 'st', 'task', 'sta', 'per', 'src', 'n')
  local st, task, n = f[1], f[2], tonumber(f[6])
  if not st then return 0 end
  if not task then task = nil end
  leave(id, st, task, n)
  enter(id, state, task, now, n)
  local h = {'st', state, 'fin', now}
  local run = nil
  if f[3] and (st == 'active') then
    run = now - tonumber(f[3])
    if run < 0 then run = 0 end
    h[#h + 1] = 'run'; h[#h + 1] = run
  end
  for i = 1, #fields, 2 do
    if fields[i + 1] ~= '' then h[#h + 1] = fields[i]; h[#h + 1] = fields[i + 1] end
  end
  redis.call('hset', rec, unpack(h))
  if more ~= '' then
    local toks = ''
    more, toks = added_tokens(more)
    more_tokens(n, toks)
    xput(id, blob(id), more)
  end
  if not keep_msg then redis.call('del', p .. 'm:' .. id) end
  if not counted then
    local name = state
    if state == 'completed' then name = 'done' elseif FAILURES[state] then name = 'fail' end
    local m = {name, 1}
    if task then m[#m + 1] = name .. '|' .. task; m[#m + 1] = 1 end
    if run then
      -- the bucket and the sum ('rs': ms) of run times: the Prometheus histograms
      local b = bucket(run)
      m[#m + 1] = 'r:' .. b; m[#m + 1] = 1; m[#m + 1] = 'rs'; m[#m + 1] = run
      if task then
        m[#m + 1] = 'r|' .. task .. '|' .. b; m[#m + 1] = 1
        m[#m + 1] = 'rs|' .. task; m[#m + 1] = run
      end
    end
    metric(now, m)
  end
  if f[4] and task then
    redis.call('hset', p .. 'pl', task, state .. '|' .. now .. '|' .. id .. '|' .. (f[5] or ''))
  end
  if retention then
    trim(p .. state, now, retention[1], retention[2])
    if task and (retention[3] > 0 or retention[4] >= 0) then
      trim(p .. 't:' .. state .. ':' .. task, now, retention[3], retention[4])
    end
  end
  return 1
end
"""

PRELUDE = PRELUDE_HEAD + FUNCS


# The new-job path as a function, shared by ENQUEUE and ENQUEUE_MANY (after INDEX; it
# needs nothing else of the PRELUDE). Returns 'new', 'paused', 'duplicate', or nil when
# the job exists (the caller then goes the slower way). ``b`` is nil for one job; for a
# batch, a table that gathers the per-batch work done once at its end: {seq = next
# sequence number, woken = jobs made waiting, enq = {task = count}}.
ENQUEUE_NEW = r"""
-- The blob's frames travel in front of the message (their length: m[17]).
local function split_msg(msg, m)
  if (m[17] or 0) > 0 then return string.sub(msg, 1, m[17]), string.sub(msg, m[17] + 1) end
  return '', msg
end
local function enqueue_new(p, msg, m, b)
  local id, now, task, pri, eta = m[1], m[2], m[3], m[4], m[5]
  local periodic, children, toks = m[9], m[11], m[16] or ''
  local rec = p .. 'j:' .. id
  if periodic == '1' then
    if redis.call('sismember', p .. 'pp', task) == 1 then return 'paused' end
    -- One enqueue per schedule tick, however many consumers run a scheduler: the first
    -- to claim the minute wins (the others get 'duplicate').
    if m[14] and m[14] ~= '' then
      if tonumber(m[14]) <= tonumber(redis.call('hget', p .. 'ptick', task) or '0') then
        return 'duplicate'
      end
      redis.call('hset', p .. 'ptick', task, m[14])
    end
  end
  if redis.call('hexists', rec, 'enq') == 1 then return nil end
  local xb
  xb, msg = split_msg(msg, m)
  -- A new job (or a pipeline child's stub, which holds only 'par'). A read, then one
  -- HSET: cheaper than HSETNX + HSET, and atomic all the same inside the script.
  local now_s = string.format('%d', now)  -- formatted once (see spot() in INDEX)
  local h = {'enq', now_s, 'task', task, 'pri', pri == 0 and '0' or string.format('%d', pri)}
  if m[6] ~= '' then h[#h + 1] = 'args'; h[#h + 1] = m[6] end
  if m[7] ~= '' then h[#h + 1] = 'kw'; h[#h + 1] = m[7] end
  if m[8] ~= '' then h[#h + 1] = 'opt'; h[#h + 1] = m[8] end
  if periodic ~= '0' then h[#h + 1] = 'per'; h[#h + 1] = '1' end
  if m[15] and m[15] ~= '' then h[#h + 1] = 'src'; h[#h + 1] = m[15] end
  if children ~= '' then h[#h + 1] = 'nxt'; h[#h + 1] = children end
  if m[18] and m[18] ~= '' then h[#h + 1] = 'tp'; h[#h + 1] = m[18] end  -- trace (jobboard.otel)
  if m[20] then
    -- A flow member: its pipeline/chord/group, and an index from the chord or group id
    -- to its members (and from a chord's callback to the chord), which expire with the
    -- longest a flow is shown (30 days).
    h[#h + 1] = 'flow'; h[#h + 1] = m[20]
    if m[21] ~= '' then
      redis.call('hset', p .. 'fl:' .. m[21], m[22], id)
      redis.call('expire', p .. 'fl:' .. m[21], 2592000)
      if m[23] ~= '' then redis.call('set', p .. 'fcb:' .. m[23], m[21], 'EX', 2592000) end
    end
  end
  -- Waiting, whatever its eta, as with Huey: a consumer takes a job whose eta is ahead
  -- and Huey's execute() puts it in the schedule (SCHEDULE), emitting SIGNAL_SCHEDULED
  -- there; until then len(huey) and pending() count it. TAKE hands such a job out as a
  -- scheduling take (no attempt counted). 'eta' tells the Board when it is due.
  -- A negative eta: jobboard's own API (Board.enqueue), which puts a job due later
  -- straight in the schedule, as its answer says.
  local seq, seq_s = nil, nil
  if eta < 0 and -eta > now then
    local eta_s = string.format('%d', -eta)
    redis.call('zadd', p .. 'scheduled', eta_s, id)
    h[#h + 1] = 'st'; h[#h + 1] = 'scheduled'; h[#h + 1] = 'eta'; h[#h + 1] = eta_s
  else
    if b then seq = b.seq; b.seq = seq + 1; b.woken = b.woken + 1
    else seq = redis.call('incr', p .. 'seq') end
    seq_s = string.format('%d', seq)
    redis.call('zadd', p .. 'waiting', pri == 0 and seq_s or
               string.format('%d', -pri * 1000000000000 + seq), id)
    h[#h + 1] = 'st'; h[#h + 1] = 'waiting'; h[#h + 1] = 'rdy'; h[#h + 1] = now_s
    if eta > now then h[#h + 1] = 'eta'; h[#h + 1] = string.format('%d', eta) end
    -- wake() inlined (a batch wakes once, at its end)
    if not b and redis.call('llen', p .. 'wake') < 8 then redis.call('lpush', p .. 'wake', '1') end
  end
  if toks ~= '' then  -- the job's number in the search index: the queue's sequence
    if not seq then
      if b then seq = b.seq; b.seq = seq + 1 else seq = redis.call('incr', p .. 'seq') end
      seq_s = string.format('%d', seq)
    end
    h[#h + 1] = 'n'; h[#h + 1] = seq_s
    index_job(id, seq, toks)
  end
  redis.call('hset', rec, unpack(h))
  redis.call('set', p .. 'm:' .. id, msg)
  if xb ~= '' then redis.call('set', p .. 'x:' .. id, xb) end
  if m[12] == '1' then redis.call('sadd', p .. 'tasks', task) end
  if b then
    b.enq[task] = (b.enq[task] or 0) + 1
  elseif m[19] ~= '1' then  -- '1': the producer counts it itself (counters.py)
    -- metric() inlined: the minute hash gets its 48 h TTL when this field is its first
    local mk = p .. 'mx:' .. math.floor(now / 60000)
    if redis.call('hincrby', mk, 'enq|' .. task, '1') == 1 then redis.call('expire', mk, '173000') end
  end
  if children ~= '' then
    for child in string.gmatch(children, '[^,]+') do
      local crec = p .. 'j:' .. child
      if redis.call('hexists', crec, 'st') == 0 then redis.call('hset', crec, 'par', id) end
    end
  end
  if periodic ~= '0' then
    redis.call('hset', p .. 'pl', task, 'waiting|' .. now_s .. '|' .. id .. '|' .. (m[15] or ''))
  end
  return 'new'
end
"""

# An existing job added again (after the PRELUDE: it uses its functions). Returns 'exists',
# 'again' or 'stale'.
ENQUEUE_AGAIN = r"""
local function enqueue_again(msg, m)
  local id, now, task, pri, eta = m[1], m[2], m[3], m[4], m[5]
  local toks = m[16] or ''
  local rec = rk(id)
  local xb
  xb, msg = split_msg(msg, m)
  if m[10] == '1' then return 'exists' end
  if m[13] and stale(id, m[13], now, 'retry', false) then return 'stale' end
  local st = redis.call('hget', rec, 'st')
  if not m[13] or m[13] == '' then
    -- Not Huey's retry of a running job: a second add of an id. While that job is pending
    -- it is a no-op returning the existing job (BullMQ's rule): the record describes what
    -- runs. A finished job added again runs again, with the new call's arguments.
    if st == 'waiting' or st == 'scheduled' or st == 'active' then return 'exists' end
    redis.call('hdel', rec, 'fin', 'res', 'run', 'stl', 'err', 'args', 'kw', 'opt')
    local h = {'task', task}
    if m[6] ~= '' then h[#h + 1] = 'args'; h[#h + 1] = m[6] end
    if m[7] ~= '' then h[#h + 1] = 'kw'; h[#h + 1] = m[7] end
    if m[8] ~= '' then h[#h + 1] = 'opt'; h[#h + 1] = m[8] end
    redis.call('hset', rec, unpack(h))
    -- The blob: the new call's payloads and tokens; the last run's result and error go,
    -- its failed attempts stay (they are history).
    -- In the index, the job gets a new number (the newest, as a new job's): the old
    -- number's postings go by lazy deletion, its finished state's token with them.
    local n = tonumber(redis.call('hget', rec, 'n'))
    if n then
      leave(id, st, task, n, true)
      st = nil
      unindex(n)
      redis.call('hdel', rec, 'n')
    end
    if toks ~= '' then
      n = redis.call('incr', p .. 'seq')
      redis.call('hset', rec, 'n', n)
      index_job(id, n, toks)
    end
    xput(id, blob(id), xb, {a=true, k=true, r=true, e=true, w=true})
    event(id, now, 'enqueued', 'added again with the same id')
  end
  redis.call('set', p .. 'm:' .. id, msg)
  redis.call('hset', rec, 'pri', pri)
  if m[18] and m[18] ~= '' then redis.call('hset', rec, 'tp', m[18]) end  -- a traced retry
  if eta < 0 and -eta > now then  -- jobboard's own API: straight in the schedule
    leave(id, st, task)
    enter(id, 'scheduled', task, -eta)
    redis.call('hset', rec, 'st', 'scheduled', 'eta', -eta)
    return 'again'
  end
  to_waiting(id, st, task, now, pri)
  -- An eta ahead: waiting all the same, as a new job (see enqueue_new).
  if eta > now then redis.call('hset', rec, 'eta', eta) else redis.call('hdel', rec, 'eta') end
  return 'again'
end
"""

# Record a job as enqueued (new) or re-enqueued (Huey's retry without delay, or a
# finished job added again by id; a pending job added again is a no-op: 'exists').
# ARGV: base, msg, and a JSON array (tracking.message_argv) of:
#       id, now, task, priority, eta_ms (0 = now; a job due later waits, as with Huey,
#       for a consumer's take to put it in the schedule; negative, from jobboard's own
#       API: straight in the schedule), args preview, kwargs preview, options
#       JSON, periodic ('0' no, '1' periodic run by the scheduler, '2' periodic "run now"),
#       only_new ('1': do nothing if the job exists: idempotent submission),
#       children ids joined by ',' ('' none), add task to the task set ('1'/'0': a
#       producer sends '1' once per task name per process), and, for Huey's re-enqueue of
#       a retry, the delivery token (see stale(); absent otherwise)
#       then the minute of a periodic run's schedule tick ('' none), the consumer
#       whose scheduler enqueued it ('' none), the job's search tokens, space-separated
#       ('' when the queue keeps no search index; see search.py), and the length of the
#       frames for the job's blob that come in front of msg (0 none: the whole args /
#       kwargs JSON when their previews are cut; compact.py), and, only when needed, the
#       W3C traceparent of the enqueue's span ('' untraced; record field 'tp', see
#       jobboard.otel) and '1' when the producer counts a new job in the minute's metrics
#       itself (counters.py; else counted here)
#       then, only for a job in a flow (tracking.flow_argv; fields 18 and 19 are then
#       sent, '' when unused): its flow JSON, the id of its chord or group ('' none), its
#       place in it, and its chord's callback id ('' none)
# Returns 'new', 'again', 'exists', 'paused' (a paused periodic task, not enqueued),
# 'duplicate' (that periodic tick was already enqueued by another scheduler) or
# 'stale' (the retry of a delivery that lost its lease: ignored).
#
# The new-job path is the producer's hot path, measured against a bare ZADD by
# bench/bench_throughput.py. It runs before the PRELUDE (whose tables and closures cost
# as much as a command) and inlines the little it needs: 5 writes and 2 reads, plus the
# search index's (two per token, and two more). The fields come as one JSON argument
# because redis-py's packing of 14 separate arguments cost more than the JSON encoding
# and cjson decoding together.
ENQUEUE = "local p = KEYS[1]\n" + INDEX + ENQUEUE_NEW + r"""
local m = cjson.decode(ARGV[2])
local done = enqueue_new(p, ARGV[1], m, nil)
if done then return done end
if m[10] == '1' then return 'exists' end
do
""" + PRELUDE + ENQUEUE_AGAIN + r"""
return enqueue_again(ARGV[2], m)
end
"""

# Many jobs in one call, atomically (nothing else runs in between): a producer's bulk
# enqueue (Huey's ``enqueue_many`` / ``task.map``, the JSON API's bulk submit).
# ARGV: base, then msg, fields (as ENQUEUE's) for each job.
# Returns ENQUEUE's answer for each job, in order.
#
# What ENQUEUE does per job and a batch needs once is done once at the end: one INCRBY of
# the sequence, one HINCRBY per task of the minute's counters, one wake push per waiting
# job up to what blocked consumers can take.
ENQUEUE_MANY = PRELUDE + ENQUEUE_NEW + ENQUEUE_AGAIN + r"""
local n = (#ARGV - 1) / 2
local b = {seq = redis.call('incrby', p .. 'seq', n) - n + 1, woken = 0, enq = {}}
local out, now = {}, nil
for i = 2, #ARGV, 2 do
  local msg, m = ARGV[i], cjson.decode(ARGV[i + 1])
  now = m[2]
  local r = enqueue_new(p, msg, m, b)
  if not r then r = enqueue_again(msg, m) end
  out[#out + 1] = r
end
if now then
  local mk = p .. 'mx:' .. math.floor(now / 60000)
  local created = false
  for task, count in pairs(b.enq) do
    if redis.call('hincrby', mk, 'enq|' .. task, count) == count then created = true end
  end
  if created then redis.call('expire', mk, 173000) end
end
if b.woken > 0 then
  local room = 8 - redis.call('llen', p .. 'wake')
  if room > 0 then
    local tokens = {}
    for _ = 1, math.min(room, b.woken) do tokens[#tokens + 1] = '1' end
    redis.call('lpush', p .. 'wake', unpack(tokens))
  end
end
return out
"""

# Take the next job for a consumer, unless the queue is paused: waiting -> active under a
# lease until ``deadline``. A block of code (not a function: FUNCS only where needed),
# given locals p, now, deadline and who; it sets ``taken`` to {id, msg, task, revoke flag
# of the job, revoke flag of its task, delivery token, wait ms} ('' when a flag is unset:
# Huey's revoke check is answered from these instead of another round trip), or false when
# there is nothing to take (now_s, deadline_s: the same as strings, as the caller was sent
# them: see spot() in INDEX). The caller declares the locals ``taken`` and ``revokes`` (the
# revoke marker ``rv`` as read, true when not read) and counts the wait in its metrics.
TAKE = r"""
taken = false
revokes = true  -- unknown until read: assume flags may exist
for i = 1, 10 do
  local popped = redis.call('zpopmin', p .. 'waiting')
  if #popped == 0 then
    -- Nothing waiting: the wake tokens left by enqueues nobody waited for mean nothing
    -- now. Dropping them lets the consumer's next wait block instead of spinning.
    redis.call('del', p .. 'wake')
    break
  end
  local nid = popped[1]
  local nrec = p .. 'j:' .. nid
  -- The pause flag, the message and the revoke marker in one read (MGET: nil for a
  -- missing key or one of another type, never an error). Paused: the job goes back.
  local got = redis.call('mget', p .. 'paused', p .. 'm:' .. nid, p .. 'rv')
  revokes = got[3]
  if i == 1 and got[1] then
    redis.call('zadd', p .. 'waiting', popped[2], nid)
    break
  end
  local msg = got[2]
  -- pcall: a key of the wrong type must not abort the script after the ZPOPMIN above
  -- (a script's writes are not rolled back), which would leave a record in no set.
  local g = redis.pcall('hmget', nrec, 'task', 'rdy', 'att', 'eta')
  if msg and not g.err and g[1] then
    redis.call('zadd', p .. 'active', deadline_s, nid)
    local wait, att
    if tonumber(g[4] or 0) > now then
      -- A scheduling take: the eta is ahead, so Huey's execute() will only put the job in
      -- the schedule (SCHEDULE). Under a lease like any take (a consumer dying in between
      -- loses nothing), but no attempt: the token is the attempt number as it was, and
      -- wait -1 tells the consumer not to count a take.
      wait, att = -1, g[3] or '0'
      redis.call('hset', nrec, 'st', 'active', 'by', who, 'att', att)
    else
      wait = now - (tonumber(g[2]) or now)
      if wait < 0 then wait = 0 end
      att = string.format('%d', (tonumber(g[3]) or 0) + 1)
      redis.call('hset', nrec, 'st', 'active', 'sta', now_s, 'by', who,
                 'wait', wait == 0 and '0' or string.format('%d', wait), 'att', att)
    end
    -- Huey's revoke flags of the job and of its task, if the queue may have any
    local rv = {}
    if revokes then rv = redis.call('hmget', p .. 'results', 'r:' .. nid, 'rt:' .. g[1]) end
    taken = {nid, msg, g[1], rv[1] or '', rv[2] or '', att, wait}
    break
  end
  if g.err or g[1] then
    do
""" + FUNCS + r"""
    if g.err then
      -- Not a job record (another program's key?): keep it untouched and list the id as
      -- failed, where it shows as undecodable and can be removed.
      enter(nid, 'failed', nil, now)
    else
      local kind = redis.call('type', p .. 'm:' .. nid).ok
      local why = 'message key ' .. p .. 'm:' .. nid .. ' is missing'
      if kind ~= 'none' then why = 'message key ' .. p .. 'm:' .. nid .. ' holds a ' ..
        kind .. ', not a Huey message' end
      local attempt = cjson.encode({at = now, error_class = 'UndecodableMessage', message = why,
                                    traceback = '', consumer = who, n = tonumber(g[3] or 0) + 1})
      local err, whole = err_fields('UndecodableMessage: ' .. why)
      finish(nid, 'failed', now, {'err', err}, frame('t', attempt) .. whole, true, nil)
    end
    end
  end
  -- A record that vanished under us (removed by an operator): skip the stray id.
end
"""


# Take the next job for a consumer, unless the queue is paused: waiting -> active.
# ARGV: base, now, lease_deadline, consumer label ("host:pid/Worker-1")
# Returns TAKE's ``taken`` (see above), or false.
DEQUEUE = PRELUDE_HEAD + r"""
local now, deadline, who = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local now_s, deadline_s = ARGV[2], ARGV[3]
local taken, revokes
""" + TAKE + r"""
return taken
"""

# Take one given waiting job: Huey's execute() of a task that read_schedule() handed
# back (a caller running due tasks itself, as Huey's tests do, rather than the consumer's
# scheduler, which enqueues them for the workers). read_schedule() left the job waiting
# (PROMOTE_DUE, so that a scheduler dying loses nothing); running it this way takes it
# out, or it would run a second time. ARGV: base, id, now, lease deadline, consumer label.
# Returns {delivery token, wait ms}, or false when the job is not waiting any more.
CLAIM = PRELUDE_HEAD + r"""
local id, now, deadline, who = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local rec = p .. 'j:' .. id
if redis.call('zrem', p .. 'waiting', id) == 0 then return false end
redis.call('zadd', p .. 'active', deadline, id)
local g = redis.call('hmget', rec, 'rdy', 'att')
local wait = now - (tonumber(g[1]) or now)
if wait < 0 then wait = 0 end
local att = tostring((tonumber(g[2]) or 0) + 1)
redis.call('hset', rec, 'st', 'active', 'sta', now, 'by', who, 'wait', wait, 'att', att)
return {att, wait}
"""

# Put a job in the schedule (retry with delay, or an eta not reached yet).
# ARGV: base, id, msg, now, eta, task, event text ('' for none), delivery token ('' when
#       not a retry from a running delivery). Returns 1, or 2 for a late retry (ignored).
SCHEDULE = PRELUDE + r"""
local id, msg, now, eta, task = ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
if stale(id, ARGV[8] or '', now, 'retry', false) then return 2 end
local rec = rk(id)
local st = redis.call('hget', rec, 'st')
if not st then
  redis.call('hset', rec, 'task', task, 'enq', now, 'pri', 0, 'att', 0)
  redis.call('sadd', p .. 'tasks', task)
end
redis.call('set', p .. 'm:' .. id, msg)
leave(id, st, task)
enter(id, 'scheduled', task, eta)
redis.call('hset', rec, 'st', 'scheduled', 'eta', eta)
if ARGV[7] ~= '' then event(id, now, 'scheduled', ARGV[7])
else redis.call('hdel', rec, 'by') end  -- a scheduling take: nobody runs it yet
return 1
"""

# Move due scheduled jobs to waiting, inside Redis (a scheduler killed mid-tick loses
# nothing). ARGV: base, now, limit.
# Returns {how many moved, their messages...}: the scheduler hands them to Huey, which
# emits SIGNAL_ENQUEUED for each, as its own scheduler does.
PROMOTE_DUE = PRELUDE + r"""
local now, limit = tonumber(ARGV[2]), tonumber(ARGV[3])
local ids = redis.call('zrangebyscore', p .. 'scheduled', '-inf', now, 'LIMIT', 0, limit)
local out = {#ids}
for _, id in ipairs(ids) do
  local task = redis.call('hget', rk(id), 'task')
  if not task then task = nil end
  to_waiting(id, 'scheduled', task, now)
  out[#out + 1] = redis.call('get', p .. 'm:' .. id) or ''
end
return out
"""

# A job reached a finished state.
# ARGV: base, id, state, now, result preview, error preview (at most 64 bytes each: see
#       compact.py), frames for the job's blob ('' none: the attempt, the whole result
#       or error when their previews are cut), keep message ('1'/'0'), q_age, q_count,
#       t_age, t_count, result-store field to delete ('' none: Huey's revoke flag,
#       deferred to save a round trip), event text, delivery token ('' for none; see
#       stale()), then, from a consumer that counts its ends itself (counters.py; absent:
#       counted here): the task name, the delivery's start (ms, '' unknown), periodic
#       ('1'/'0'); then, to take the next job (BullMQ's moveToFinished fetches the next job
#       the same way: one round trip per job), its lease deadline and the consumer label
#       (absent: take nothing)
# Returns 1 done, 0 no such job, 2 a late end (ignored, counted as a duplicate run); when
# asked to take: {that number, TAKE's ``taken``...}.
#
# The take comes first (the script is atomic: the order is not seen): its read of the
# revoke marker tells whether the end has a Huey revoke flag to delete. The common end
# (completed, by the delivery that holds the job, nothing else to write) is written out
# without FUNCS, whose closures and tables cost as much as a few commands per call; any
# other end, and a trim that retention asks for, run with them.
FINISH = PRELUDE_HEAD + r"""
local id, state, now, token = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[15]
-- The take first (the script is atomic: the order is not seen): its read of the revoke
-- marker tells whether the end has a flag to delete.
local revokes = true
local taken = false
if ARGV[19] then
  local deadline, who = tonumber(ARGV[19]), ARGV[20]
  local now_s, deadline_s = ARGV[4], ARGV[19]
""" + TAKE + r"""
end
local counted = ARGV[16] ~= nil and ARGV[16] ~= ''
local rec = p .. 'j:' .. id
local q_age, q_count = tonumber(ARGV[9]), tonumber(ARGV[10])
local f = redis.call('hmget', rec, 'st', 'att', 'n')
local done, slow, trim_now, slow_post = 1, true, false, nil
local started = tonumber(ARGV[17] or '')
if counted and started and state == 'completed' and token ~= '' and f[1] == 'active'
    and f[2] == token and ARGV[7] == '' and ARGV[14] == '' and ARGV[18] == '0'
    and tonumber(ARGV[11]) <= 0 and tonumber(ARGV[12]) < 0 then
  slow = false
  if ARGV[13] ~= '' and revokes then redis.call('hdel', p .. 'results', ARGV[13]) end
  redis.call('zrem', p .. 'active', id)
  redis.call('zadd', p .. 'completed', ARGV[4], id)
  local n = tonumber(f[3])
  if n then  -- the finished state is a search token (~s:completed): post() of INDEX
    local k = p .. 'ix:w:~s:completed:' .. string.format('%d', math.floor(n / 512))
    if redis.call('exists', k) == 1 then redis.call('sadd', k, string.format('%d', n % 512))
    else slow_post = n end
  end
  local run = now - started
  if run < 0 then run = 0 end
  -- strings, not numbers, as redis.call arguments (see spot() in INDEX)
  local h = {'st', 'completed', 'fin', ARGV[4], 'run', run == 0 and '0' or string.format('%d', run)}
  if ARGV[5] ~= '' then h[#h + 1] = 'res'; h[#h + 1] = ARGV[5] end
  redis.call('hset', rec, unpack(h))
  if ARGV[8] ~= '1' then redis.call('del', p .. 'm:' .. id) end
  trim_now = (q_count >= 0 and redis.call('zcard', p .. 'completed') > q_count) or
    (q_age > 0 and #redis.call('zrangebyscore', p .. 'completed', '-inf', now - q_age,
                                'LIMIT', 0, 1) > 0)
end
if slow or trim_now or slow_post then
do
""" + FUNCS + r"""
if slow_post then post('~s:completed', slow_post) end
if slow then
  done = 2
  local g = redis.call('hmget', rec, 'task', 'sta', 'per', 'src')
  if not stale(id, token, now, state, true, {f[1], f[2], g[1]}) then
    if ARGV[13] ~= '' then redis.call('hdel', p .. 'results', ARGV[13]) end
    done = finish(id, state, now, {'res', ARGV[5], 'err', ARGV[6]}, ARGV[7], ARGV[8] == '1',
      {tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12])},
      {f[1], g[1], g[2], g[3], g[4], f[3]}, counted)
    if done == 1 and ARGV[14] ~= '' then event(id, now, state, ARGV[14]) end
  end
elseif trim_now then
  trim(p .. 'completed', now, q_age, q_count)
end
end
end
if ARGV[19] then
  if taken then return {done, unpack(taken)} end
  return {done}
end
return done
"""

# A failed attempt that Huey will retry.
# ARGV: base, id, now, frames for the blob (as finish()'s ``more``), error preview,
#       result-store field to delete ('' none), delivery token. Returns 1, 0 (no such
#       job) or 2 (a late end, ignored).
ATTEMPT_FAILED = PRELUDE + r"""
local id, now = ARGV[2], tonumber(ARGV[3])
if stale(id, ARGV[7], now, 'failed attempt', true) then return 2 end
if ARGV[6] and ARGV[6] ~= '' then redis.call('hdel', p .. 'results', ARGV[6]) end
local rec = rk(id)
local f = redis.call('hmget', rec, 'task', 'n')
local task = f[1]
if not task then return 0 end
local more, toks = added_tokens(ARGV[4])
more_tokens(tonumber(f[2]), toks)
xput(id, blob(id), more)
redis.call('hset', rec, 'err', ARGV[5])
metric(now, {'retry', 1, 'retry|' .. task, 1})
return 1
"""

# An active job goes back to the head of waiting at once (interrupted by SIGTERM).
# ARGV: base, id, now, event kind, event text, delivery token
REQUEUE = PRELUDE + r"""
local id, now = ARGV[2], tonumber(ARGV[3])
if stale(id, ARGV[6] or '', now, 'put-back', false) then return 2 end
local f = redis.call('hmget', rk(id), 'st', 'task')
if f[1] ~= 'active' then return 0 end
to_head(id, 'active', f[2] or nil, now)
event(id, now, ARGV[4], ARGV[5])
return 1
"""

# Recover jobs whose lease lapsed (their consumer died).
# ARGV: base, now, max stalls, limit, failed retention q_age, q_count
# Returns {recovered ids..., '|', failed ids...}
RECOVER_STALLED = PRELUDE + r"""
local now, max_stalls = tonumber(ARGV[2]), tonumber(ARGV[3])
local ids = redis.call('zrangebyscore', p .. 'active', '-inf', now, 'LIMIT', 0, tonumber(ARGV[4]))
local recovered, failed = {}, {}
for _, id in ipairs(ids) do
  local rec = rk(id)
  local f = redis.call('hmget', rec, 'task', 'by', 'att')
  if not f[1] then
    redis.call('zrem', p .. 'active', id)
  else
    local stalls = redis.call('hincrby', rec, 'stl', 1)
    local who = f[2] or 'unknown consumer'
    if stalls > max_stalls then
      local text = 'StalledJobError: job stalled ' .. stalls .. ' times (lease lapsed; consumer ' .. who .. ' stopped heartbeating)'
      local attempt = cjson.encode({at = now, error_class = 'StalledJobError', message = text, traceback = '', consumer = who,
                                    n = tonumber(f[3])})
      local err, whole = err_fields(text)
      finish(id, 'failed', now, {'err', err}, frame('t', attempt) .. whole, true,
             {tonumber(ARGV[5]), tonumber(ARGV[6]), 0, -1})
      event(id, now, 'failed', 'stalled too many times, failed')
      failed[#failed + 1] = id
    else
      to_head(id, 'active', f[1], now)
      event(id, now, 'stalled', 'stalled (lease lapsed on ' .. who .. '), recovered')
      recovered[#recovered + 1] = id
    end
  end
end
if #recovered > 0 then metric(now, {'stall', #recovered}) end  -- jobboard_stalled_recovered_total
recovered[#recovered + 1] = '|'
for _, id in ipairs(failed) do recovered[#recovered + 1] = id end
return recovered
"""

# Operator retry: a finished job goes back to waiting with the given message.
# ARGV: base, id, now, msg, allowed states joined by ',', event text
# Returns {'ok'} or {'state', current state} or {'missing'}
RETRY = PRELUDE + r"""
local id, now = ARGV[2], tonumber(ARGV[3])
local rec = rk(id)
local f = redis.call('hmget', rec, 'st', 'task')
if not f[1] then return {'missing'} end
local allowed = false
for s in string.gmatch(ARGV[5], '[^,]+') do if s == f[1] then allowed = true end end
if not allowed then return {'state', f[1]} end
redis.call('set', p .. 'm:' .. id, ARGV[4])
-- A new run: [start ms, its first attempt number, who, how the previous run ended]
-- (the run before the first retry is implicit: it started at enqueue with attempt 1).
local g = redis.call('hmget', rec, 'att', 'runs')
local ok_runs, runs = pcall(cjson.decode, g[2] or '[]')
if not ok_runs or type(runs) ~= 'table' then runs = {} end
runs[#runs + 1] = {now, (tonumber(g[1]) or 0) + 1, ARGV[6], f[1]}
while #runs > 50 do table.remove(runs, 1) end
redis.call('hset', rec, 'runs', cjson.encode(runs))
redis.call('hdel', rec, 'fin', 'res', 'run', 'stl', 'eta')
xput(id, blob(id), '', {r=true})
to_waiting(id, f[1], f[2] or nil, now)
event(id, now, 'retried', ARGV[6])
metric(now, {'retry', 1, 'retry|' .. (f[2] or '?'), 1})
return {'ok'}
"""

# Operator promote: scheduled -> waiting now (a waiting job with an eta ahead: its eta goes). ARGV: base, id, now, message without eta,
# timeline text (who; optional)
PROMOTE = PRELUDE + r"""
local id, now = ARGV[2], tonumber(ARGV[3])
local f = redis.call('hmget', rk(id), 'st', 'task', 'eta')
if not f[1] then return {'missing'} end
if f[1] == 'waiting' and tonumber(f[3] or 0) > now then
  -- Enqueued through Huey with an eta and not yet taken by a consumer (which would put
  -- it in the schedule): it keeps its place, without its eta.
  if ARGV[4] ~= '' then redis.call('set', p .. 'm:' .. id, ARGV[4]) end
  redis.call('hdel', rk(id), 'eta')
  event(id, now, 'promoted', ARGV[5] or 'run now by an operator')
  return {'ok'}
end
if f[1] ~= 'scheduled' then return {'state', f[1]} end
if ARGV[4] ~= '' then redis.call('set', p .. 'm:' .. id, ARGV[4]) end
redis.call('hdel', rk(id), 'eta')
to_waiting(id, 'scheduled', f[2] or nil, now)
event(id, now, 'promoted', ARGV[5] or 'run now by an operator')
return {'ok'}
"""

# Operator revoke: waiting/scheduled -> revoked. ARGV: base, id, now, q_age, q_count,
# timeline text (who; optional)
REVOKE = PRELUDE + r"""
local id, now = ARGV[2], tonumber(ARGV[3])
local st = redis.call('hget', rk(id), 'st')
if not st then return {'missing'} end
if st ~= 'waiting' and st ~= 'scheduled' then return {'state', st} end
finish(id, 'revoked', now, {}, '', true, {tonumber(ARGV[4]), tonumber(ARGV[5]), 0, -1})
event(id, now, 'revoked', ARGV[6] or 'revoked by an operator')
return {'ok'}
"""

# Remove jobs, whatever their state, except a running one: its consumer would go on and
# its outcome would be lost (BullMQ refuses to remove a locked job too). An active job
# whose lease has lapsed (no live consumer holds it) can be removed.
# ARGV: base, now, id... Returns {how many existed and were removed, refused active ids...}
REMOVE = PRELUDE + r"""
local now = tonumber(ARGV[2])
local n, out = 0, {0}
for i = 3, #ARGV do
  local id = ARGV[i]
  local st = redis.pcall('hget', rk(id), 'st')
  local lease = redis.call('zscore', p .. 'active', id)
  if st == 'active' and lease and tonumber(lease) > now then
    out[#out + 1] = id
  else
    if redis.call('exists', rk(id)) == 1 or redis.call('exists', p .. 'm:' .. id) == 1 then
      n = n + 1
    end
    purge(id)
    -- a job with a broken record may still sit in a state set
    for s, _ in pairs(FINISHED) do redis.call('zrem', p .. s, id) end
    redis.call('zrem', p .. 'waiting', id)
    redis.call('zrem', p .. 'scheduled', id)
    redis.call('zrem', p .. 'active', id)
  end
end
gc(64)
out[1] = n
return out
"""

# Remove up to limit jobs of a state finished before cutoff. ARGV: base, state, cutoff, limit
CLEAN = PRELUDE + r"""
local ids = redis.call('zrangebyscore', p .. ARGV[2], '-inf', ARGV[3], 'LIMIT', 0, tonumber(ARGV[4]))
for _, id in ipairs(ids) do purge(id); redis.call('zrem', p .. ARGV[2], id) end
if #ids > 0 then gc(64) end
return #ids
"""

# Drop the postings of every dead chunk (Huey's flush(), after every job went: the
# sequence starts again, and new numbers must not meet the old postings and dead sets).
# ARGV: base, tokens per chunk and call. Returns 1 while some are left (call again), else 0.
DROP_INDEX = PRELUDE + r"""
local budget, dropped = tonumber(ARGV[2]), 0
for _, c in ipairs(redis.call('smembers', p .. 'ix:xd')) do
  c = tonumber(c)
  if dead_chunk(c) then
    if not drop_chunk(c, budget) then return 1 end
    dropped = dropped + 1
    if dropped >= 8 then return 1 end
  end
end
return 0
"""

# Extend the leases of running jobs, each only while its delivery still holds it (see
# stale() in PRELUDE). ARGV: base, deadline, id, token, id, token...
EXTEND_LEASES = BASE + r"""
local p = ARGV[1]
local n = 0
for i = 3, #ARGV, 2 do
  if redis.call('hget', p .. 'j:' .. ARGV[i], 'att') == ARGV[i + 1] then
    n = n + redis.call('zadd', p .. 'active', 'XX', 'CH', ARGV[2], ARGV[i])
  end
end
return n
"""

# Progress from inside a task; ignored when the job is gone. ARGV: base, id, percent, text, now
PROGRESS = BASE + r"""
local rec = ARGV[1] .. 'j:' .. ARGV[2]
if redis.call('hexists', rec, 'st') == 0 then return 0 end
redis.call('hset', rec, 'pct', ARGV[3], 'pat', ARGV[5])
if ARGV[4] ~= '' then redis.call('hset', rec, 'pmsg', ARGV[4]) else redis.call('hdel', rec, 'pmsg') end
return 1
"""

# A log line from inside a task, capped. ARGV: base, id, line JSON, cap
LOG = BASE + r"""
if redis.call('hexists', ARGV[1] .. 'j:' .. ARGV[2], 'st') == 0 then return 0 end
local k = ARGV[1] .. 'l:' .. ARGV[2]
redis.call('rpush', k, ARGV[3])
redis.call('ltrim', k, -tonumber(ARGV[4]), -1)
return 1
"""

# Roll finished minutes up into daily counters, once (whoever runs it first), off the hot
# path, and trim the hour series ('hs') to the last 60 minutes. ARGV: base, current minute.
# The marker 'rolled' holds the last minute rolled up.
# Also adds every field of the minute (event counters, per task too, latency buckets and
# sums) to the 'totals' hash, which never expires, plus 'enq' (the sum of the per-task
# enq|*): lifetime counters, exact up to the last rolled minute (Queue.lifetime() adds the
# minutes since). They are what the Prometheus counters and histograms export.
ROLLUP = BASE + r"""
local p, cur = ARGV[1], tonumber(ARGV[2])
local last = tonumber(redis.call('get', p .. 'rolled') or (cur - 1))
local first = math.max(last + 1, cur - 2880)
for m = first, cur - 1 do
  -- the hour series keeps 60 minutes: each minute rolled up drops the one an hour older
  redis.call('hdel', p .. 'hs', (m - 60) .. 'done', (m - 60) .. 'fail')
  local h = redis.call('hgetall', p .. 'mx:' .. m)
  if #h > 0 then
    local dk = p .. 'md:' .. math.floor(m / 1440)
    for i = 1, #h, 2 do
      redis.call('hincrby', dk, h[i], h[i + 1])
      redis.call('hincrby', p .. 'totals', h[i], h[i + 1])
      if string.sub(h[i], 1, 4) == 'enq|' then
        redis.call('hincrby', p .. 'totals', 'enq', h[i + 1])
      end
    end
    redis.call('expire', dk, 7862400)
  end
end
redis.call('set', p .. 'rolled', math.max(last, cur - 1))
return cur - first
"""

# Search the index (INDEX above; search.py): the jobs holding every token, newest first
# (by job number) or oldest first. Reads only. The chunks that hold the rarest token are
# walked in order, WINDOW at a time (the other tokens' chunk lists tell which of them hold
# every token); each call stops after about ``budget`` commands, so its work does not
# depend on the number of jobs.
# ARGV: base, tokens (space-separated), a pending state the jobs must be in ('' any;
#       finished states are tokens), cursor (visit the chunks past this one; '' from the
#       start), skip (matches to pass over first), want (matches to return), budget,
#       'desc' (newest first) or 'asc'
# Returns {cursor ('' when every chunk was visited: the count is exact), matches counted
# in the chunks visited, commands used, id...}. ``skip`` and ``want`` count matches in this
# call's chunks; the caller carries what is left of them to the next call.
SEARCH = BASE + r"""
local p, pending = ARGV[1], ARGV[3]
local cursor, skip, want, budget = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local desc = ARGV[8] ~= 'asc'
local WINDOW = 100
local used = 0
local function call(...) used = used + 1; return redis.call(...) end
local toks, sizes = {}, {}
for t in string.gmatch(ARGV[2], '%S+') do toks[#toks + 1] = t end
for i, t in ipairs(toks) do
  sizes[t] = call('zcard', p .. 'ix:d:' .. t)
  if sizes[t] == 0 then return {'', 0, used} end  -- no job holds this word: no match at all
end
table.sort(toks, function(a, b) return sizes[a] < sizes[b] end)  -- the rarest first
local function keys_of(c)
  local keys = {}
  for i, t in ipairs(toks) do keys[i] = p .. 'ix:w:' .. t .. ':' .. c end
  return keys
end
-- The numbers in chunk c holding every token, in order (the sets hold offsets in the
-- chunk; dead ones among them are left out by ids(): their ix:n entry is gone).
local function members(c)
  local keys = keys_of(c)
  local ns
  if #keys == 1 then ns = call('smembers', keys[1]) else ns = call('sinter', unpack(keys)) end
  for j = 1, #ns do ns[j] = c * 512 + tonumber(ns[j]) end
  if desc then table.sort(ns, function(a, b) return a > b end) else table.sort(ns) end
  return ns
end
-- How many live jobs of chunk c hold every token (dirty: the chunk has a dead set,
-- whose members are taken off).
local function count(c, dirty)
  local keys = keys_of(c)
  local n
  if #keys == 1 then n = call('scard', keys[1]) else n = call('sintercard', #keys, unpack(keys)) end
  if dirty and n > 0 then
    keys[#keys + 1] = p .. 'ix:x:' .. c
    n = n - call('sintercard', #keys, unpack(keys))
  end
  return n
end
-- ids of job numbers, one read per map hash
local function ids(ns)
  local by, order = {}, {}
  for _, n in ipairs(ns) do
    local h = math.floor(n / 128)
    if not by[h] then by[h] = {}; order[#order + 1] = h end
    by[h][#by[h] + 1] = n
  end
  local out = {}
  for _, h in ipairs(order) do
    local fields = {}
    for j, n in ipairs(by[h]) do fields[j] = n % 128 end
    local got = call('hmget', p .. 'ix:n:' .. h, unpack(fields))
    for j, n in ipairs(by[h]) do out[n] = got[j] end
  end
  return out
end
local total, found, nextc = 0, {}, ''
-- '(' .. cursor: past the cursor's chunk, whose inline scores lie in (c, c + 0.5]
local function past(c) if desc then return '(' .. c end return '(' .. (c + 0.75) end
local from = '+inf'
if not desc then from = '-inf' end
if cursor then from = past(cursor) end
while true do
  if cursor and used >= budget then nextc = cursor; break end
  local got
  if desc then
    got = call('zrevrangebyscore', p .. 'ix:d:' .. toks[1], from, '-inf', 'WITHSCORES', 'LIMIT', 0, WINDOW)
  else
    got = call('zrangebyscore', p .. 'ix:d:' .. toks[1], from, '+inf', 'WITHSCORES', 'LIMIT', 0, WINDOW)
  end
  if #got == 0 then nextc = ''; break end
  local cs, one = {}, {}  -- the chunks; per chunk, the offset of an inline posting (or nil)
  local ok = {}
  for j = 1, #got / 2 do
    cs[j] = got[2 * j - 1]
    ok[j] = true
    local c, sc = tonumber(cs[j]), tonumber(got[2 * j])
    if sc > c then one[j] = math.floor((sc - c) * 1024 + 0.5) - 1 end
  end
  local setform = {}  -- per chunk, the tokens held there as sets
  for j = 1, #cs do setform[j] = {} end
  for j = 1, #cs do if one[j] == nil then setform[j][1] = toks[1] end end
  for i = 2, #toks do
    local sc = call('zmscore', p .. 'ix:d:' .. toks[i], unpack(cs))
    for j = 1, #cs do
      local c = tonumber(cs[j])
      if not sc[j] then ok[j] = false
      elseif tonumber(sc[j]) > c then
        local o = math.floor((tonumber(sc[j]) - c) * 1024 + 0.5) - 1
        if one[j] ~= nil and one[j] ~= o then ok[j] = false end
        one[j] = o
      else
        setform[j][#setform[j] + 1] = toks[i]
      end
    end
  end
  local dirty = call('smismember', p .. 'ix:xd', unpack(cs))
  local stopped = false
  for j = 1, #cs do
    local c = tonumber(cs[j])
    if ok[j] then
      if used >= budget then stopped = true; break end
      local n, ns = nil, nil
      if one[j] ~= nil then
        -- an inline posting: the one candidate, if every set-held token has it too
        ns = {c * 512 + one[j]}
        for _, t in ipairs(setform[j]) do
          if #ns > 0 and call('sismember', p .. 'ix:w:' .. t .. ':' .. c, one[j]) == 0 then ns = {} end
        end
      elseif pending == '' then
        n = count(c, dirty[j] == 1)
        if skip >= n or want == 0 then  -- none of this chunk's matches is on the page
          skip = skip - math.min(skip, n)
          total = total + n
        else
          n = nil
        end
      end
      if n == nil then  -- this chunk's matches are needed one by one
        ns = ns or members(c)
        local keep = {}
        if #ns > 0 then
          local map = ids(ns)
          for _, x in ipairs(ns) do if map[x] then keep[#keep + 1] = map[x] end end
        end
        if pending ~= '' and #keep > 0 then
          local sc = call('zmscore', p .. pending, unpack(keep))
          local left = {}
          for q = 1, #keep do if sc[q] then left[#left + 1] = keep[q] end end
          keep = left
        end
        for _, id in ipairs(keep) do
          if skip > 0 then skip = skip - 1
          elseif want > 0 then found[#found + 1] = id; want = want - 1 end
        end
        total = total + #keep
      end
    end
    cursor = c
  end
  if stopped then nextc = cursor; break end
  from = past(cursor)
end
local out = {tostring(nextc), total, used}
for _, id in ipairs(found) do out[#out + 1] = id end
return out
"""

# Counts a consumer kept in memory (counters.py), added to a minute's metrics.
# ARGV: base, minute, field, count, field, count...
METRICS = BASE + r"""
local mk = ARGV[1] .. 'mx:' .. ARGV[2]
local created = false
for i = 3, #ARGV, 2 do
  local n = tonumber(ARGV[i + 1])
  if redis.call('hincrby', mk, ARGV[i], n) == n then created = true end
  -- the hour series (keys.hour_series), as metric() keeps it
  if ARGV[i] == 'done' or ARGV[i] == 'fail' then
    redis.call('hincrby', ARGV[1] .. 'hs', ARGV[2] .. ARGV[i], n)
  end
end
-- a field seen for the first time may be the hash's first: give it its 48 h TTL then
if created then redis.call('expire', mk, 173000) end
return 1
"""
