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

# Shared local functions (FUNCS), after the key base (PRELUDE). Every call of a script
# builds them again (Lua closures), which costs as much as a command or two: the consumer's
# per-job script (FINISH) writes its common path out and includes FUNCS only in the branches
# that need them. No tables here: three small constant tables cost more than a command.
PRELUDE_HEAD = BASE + "local p = ARGV[1]\n"

FUNCS = r"""
-- End states counted as failures (counters.FAILURE_STATES).
local function is_failure(st) return st == 'failed' or st == 'locked' or st == 'rate_limited' end
-- States with a per-task index (records.TASK_INDEXED_STATES): every end but completed.
local function indexed(st)
  return st ~= 'completed' and st ~= 'waiting' and st ~= 'active' and st ~= 'scheduled'
end

local function rk(id) return p .. 'j:' .. id end

-- Take a job out of the sets of its current state. Only indexed() states have a per-task
-- index: pending jobs move too often, completed ones are too many, for it to pay.
local function leave(id, st, task)
  if st then
    redis.call('zrem', p .. st, id)
    if task and indexed(st) then redis.call('zrem', p .. 't:' .. st .. ':' .. task, id) end
  end
end

-- Put a job in the sets of a state.
local function enter(id, st, task, score)
  redis.call('zadd', p .. st, score, id)
  if task and indexed(st) then redis.call('zadd', p .. 't:' .. st .. ':' .. task, score, id) end
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
  local f = redis.pcall('hmget', rec, 'st', 'task', 'nxt')
  if f.err then f = {} end  -- a key of another type under the record's name: delete it too
  if f[1] then leave(id, f[1], f[2] or nil) end
  if f[3] then  -- pipeline children that never ran hold only a stub ('par')
    for child in string.gmatch(f[3], '[^,]+') do
      if redis.call('hexists', rk(child), 'st') == 0 then redis.call('del', rk(child)) end
    end
  end
  -- Huey's result (field = job id) and revoke flag go with the job: the result store
  -- follows the job's retention instead of growing for ever.
  redis.call('hdel', p .. 'results', id, 'r:' .. id)
  return redis.call('del', rec, p .. 'm:' .. id, p .. 'e:' .. id, p .. 'l:' .. id, p .. 'v:' .. id)
end

-- Retention: drop the oldest beyond max_count and those older than max_age, at most
-- 16 of each per call. Called on every finish, so the work is amortised O(1).
local function trim(key, now, max_age, max_count)
  if max_count >= 0 then
    local excess = redis.call('zcard', key) - max_count
    if excess > 0 then
      for _, id in ipairs(redis.call('zrange', key, 0, math.min(excess, 16) - 1)) do purge(id) end
    end
  end
  if max_age > 0 then
    for _, id in ipairs(redis.call('zrangebyscore', key, '-inf', now - max_age, 'LIMIT', 0, 16)) do
      purge(id)
    end
  end
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
-- f: the record's {st, task, sta, per, src} when the caller has read them already.
-- counted: the caller counts this end in the minute's metrics itself (counters.py).
local function finish(id, state, now, fields, attempt, keep_msg, retention, f, counted)
  local rec = rk(id)
  f = f or redis.call('hmget', rec, 'st', 'task', 'sta', 'per', 'src')
  local st, task = f[1], f[2]
  if not st then return 0 end
  if not task then task = nil end
  leave(id, st, task)
  enter(id, state, task, now)
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
  if attempt ~= '' then
    redis.call('rpush', p .. 'e:' .. id, attempt)
    redis.call('ltrim', p .. 'e:' .. id, -25, -1)
  end
  if not keep_msg then redis.call('del', p .. 'm:' .. id) end
  if not counted then
    local name = state
    if state == 'completed' then name = 'done' elseif is_failure(state) then name = 'fail' end
    local m = {name, 1}
    if task then m[#m + 1] = name .. '|' .. task; m[#m + 1] = 1 end
    if run then
      local b = bucket(run)
      m[#m + 1] = 'r:' .. b; m[#m + 1] = 1
      if task then m[#m + 1] = 'r|' .. task .. '|' .. b; m[#m + 1] = 1 end
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

# Take the next job for a consumer, unless the queue is paused: waiting -> active under a
# lease until ``deadline``. A block of code (not a function: FUNCS only where needed),
# given locals p, now, deadline and who; it sets ``taken`` to {id, msg, task, revoke flag
# of the job, revoke flag of its task, delivery token, wait ms} ('' when a flag is unset:
# Huey's revoke check is answered from these instead of another round trip), or false when
# there is nothing to take. The caller declares the locals ``taken`` and ``revokes`` (the
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
  local g = redis.pcall('hmget', nrec, 'task', 'rdy', 'att')
  if msg and not g.err and g[1] then
    redis.call('zadd', p .. 'active', deadline, nid)
    local wait = now - (tonumber(g[2]) or now)
    if wait < 0 then wait = 0 end
    local att = tostring((tonumber(g[3]) or 0) + 1)
    redis.call('hset', nrec, 'st', 'active', 'sta', now, 'by', who, 'wait', wait, 'att', att)
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
                                    traceback = '', consumer = who})
      finish(nid, 'failed', now, {'err', 'UndecodableMessage: ' .. why}, attempt, true, nil)
    end
    end
  end
  -- A record that vanished under us (removed by an operator): skip the stray id.
end
"""

# The new-job path as a function, shared by ENQUEUE and ENQUEUE_MANY; it needs nothing of
# the PRELUDE. Returns 'new', 'paused', 'duplicate', or nil when the job exists (the caller
# then goes the slower way). ``b`` is nil for one job; for a batch, a table that gathers
# the per-batch work done once at its end: {seq = next sequence number, woken = jobs made
# waiting, enq = {task = count}}.
ENQUEUE_NEW = r"""
local function enqueue_new(p, msg, m, b)
  local id, now, task, pri, eta = m[1], m[2], m[3], m[4], m[5]
  local periodic, children = m[9], m[11]
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
  -- A new job (or a pipeline child's stub, which holds only 'par'). A read, then one
  -- HSET: cheaper than HSETNX + HSET, and atomic all the same inside the script.
  local h = {'enq', now, 'task', task, 'pri', pri}
  if m[6] ~= '' then h[#h + 1] = 'args'; h[#h + 1] = m[6] end
  if m[7] ~= '' then h[#h + 1] = 'kw'; h[#h + 1] = m[7] end
  if m[8] ~= '' then h[#h + 1] = 'opt'; h[#h + 1] = m[8] end
  if m[16] and m[16] ~= '' then h[#h + 1] = 'aj'; h[#h + 1] = m[16] end
  if m[17] and m[17] ~= '' then h[#h + 1] = 'kj'; h[#h + 1] = m[17] end
  if periodic ~= '0' then h[#h + 1] = 'per'; h[#h + 1] = 1 end
  if m[15] and m[15] ~= '' then h[#h + 1] = 'src'; h[#h + 1] = m[15] end
  if children ~= '' then h[#h + 1] = 'nxt'; h[#h + 1] = children end
  if eta > now then
    redis.call('zadd', p .. 'scheduled', eta, id)
    h[#h + 1] = 'st'; h[#h + 1] = 'scheduled'; h[#h + 1] = 'eta'; h[#h + 1] = eta
    if redis.call('rpush', p .. 'announce', id) > 10000 then redis.call('ltrim', p .. 'announce', -10000, -1) end
  else
    local seq
    if b then seq = b.seq; b.seq = seq + 1; b.woken = b.woken + 1
    else seq = redis.call('incr', p .. 'seq') end
    redis.call('zadd', p .. 'waiting', -pri * 1000000000000 + seq, id)
    h[#h + 1] = 'st'; h[#h + 1] = 'waiting'; h[#h + 1] = 'rdy'; h[#h + 1] = now
    -- wake() inlined (a batch wakes once, at its end)
    if not b and redis.call('llen', p .. 'wake') < 8 then redis.call('lpush', p .. 'wake', '1') end
  end
  redis.call('hset', rec, unpack(h))
  redis.call('set', p .. 'm:' .. id, msg)
  if m[12] == '1' then redis.call('sadd', p .. 'tasks', task) end
  if b then
    b.enq[task] = (b.enq[task] or 0) + 1
  elseif m[18] ~= '1' then  -- '1': the producer counts it itself (counters.py)
    -- metric() inlined: the minute hash gets its 48 h TTL when this field is its first
    local mk = p .. 'mx:' .. math.floor(now / 60000)
    if redis.call('hincrby', mk, 'enq|' .. task, 1) == 1 then redis.call('expire', mk, 173000) end
  end
  if children ~= '' then
    for child in string.gmatch(children, '[^,]+') do
      local crec = p .. 'j:' .. child
      if redis.call('hexists', crec, 'st') == 0 then redis.call('hset', crec, 'par', id) end
    end
  end
  if periodic ~= '0' then
    redis.call('hset', p .. 'pl', task, 'waiting|' .. now .. '|' .. id .. '|' .. (m[15] or ''))
  end
  return 'new'
end
"""

# An existing job added again (after the PRELUDE: it uses its functions). Returns 'exists',
# 'again' or 'stale'.
ENQUEUE_AGAIN = r"""
local function enqueue_again(msg, m)
  local id, now, task, pri, eta = m[1], m[2], m[3], m[4], m[5]
  local rec = rk(id)
  if m[10] == '1' then return 'exists' end
  if m[13] and stale(id, m[13], now, 'retry', false) then return 'stale' end
  local st = redis.call('hget', rec, 'st')
  if not m[13] or m[13] == '' then
    -- Not Huey's retry of a running job: a second add of an id. While that job is pending
    -- it is a no-op returning the existing job (BullMQ's rule): the record describes what
    -- runs. A finished job added again runs again, with the new call's arguments.
    if st == 'waiting' or st == 'scheduled' or st == 'active' then return 'exists' end
    redis.call('hdel', rec, 'fin', 'res', 'rj', 'run', 'stl', 'err', 'args', 'kw', 'opt', 'aj', 'kj')
    local h = {'task', task}
    if m[6] ~= '' then h[#h + 1] = 'args'; h[#h + 1] = m[6] end
    if m[7] ~= '' then h[#h + 1] = 'kw'; h[#h + 1] = m[7] end
    if m[8] ~= '' then h[#h + 1] = 'opt'; h[#h + 1] = m[8] end
    if m[16] and m[16] ~= '' then h[#h + 1] = 'aj'; h[#h + 1] = m[16] end
    if m[17] and m[17] ~= '' then h[#h + 1] = 'kj'; h[#h + 1] = m[17] end
    redis.call('hset', rec, unpack(h))
    event(id, now, 'enqueued', 'added again with the same id')
  end
  redis.call('set', p .. 'm:' .. id, msg)
  redis.call('hset', rec, 'pri', pri)
  if eta > now then
    leave(id, st, task)
    enter(id, 'scheduled', task, eta)
    redis.call('hset', rec, 'st', 'scheduled', 'eta', eta)
    if redis.call('rpush', p .. 'announce', id) > 10000 then redis.call('ltrim', p .. 'announce', -10000, -1) end
  else
    to_waiting(id, st, task, now, pri)
  end
  return 'again'
end
"""

# Record a job as enqueued (new) or re-enqueued (Huey's retry without delay, or a
# finished job added again by id; a pending job added again is a no-op: 'exists').
# ARGV: base, msg, and a JSON array (tracking.message_argv) of:
#       id, now, task, priority, eta_ms (0 = now), args text, kwargs text, options JSON,
#       periodic ('0' no, '1' periodic run by the scheduler, '2' periodic "run now"),
#       only_new ('1': do nothing if the job exists: idempotent submission),
#       children ids joined by ',' ('' none), add task to the task set ('1'/'0': a
#       producer sends '1' once per task name per process), and, for Huey's re-enqueue of
#       a retry, the delivery token (see stale(); absent otherwise)
#       then the minute of a periodic run's schedule tick ('' none), the consumer
#       whose scheduler enqueued it ('' none), and the whole JSON of the args and of the
#       kwargs when their previews (args text, kwargs text) are cut ('' none: see
#       display.args_fields), and '1' when the producer counts a new job in the minute's
#       metrics itself (counters.py; else counted here)
# Returns 'new', 'again', 'exists', 'paused' (a paused periodic task, not enqueued),
# 'duplicate' (that periodic tick was already enqueued by another scheduler) or
# 'stale' (the retry of a delivery that lost its lease: ignored).
#
# The new-job path is the producer's hot path, measured against a bare ZADD by
# bench/bench_throughput.py. It runs before the PRELUDE (whose tables and closures cost
# as much as a command) and inlines the little it needs: 5 writes and 2 reads. The
# fields come as one JSON argument because redis-py's packing of 14 separate arguments
# cost more than the JSON encoding and cjson decoding together.
ENQUEUE = ENQUEUE_NEW + r"""
local m = cjson.decode(ARGV[2])
local done = enqueue_new(KEYS[1], ARGV[1], m, nil)
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

# Take the next job for a consumer, unless the queue is paused: waiting -> active.
# ARGV: base, now, lease_deadline, consumer label ("host:pid/Worker-1")
# Returns TAKE's ``taken`` (see above), or false.
DEQUEUE = PRELUDE_HEAD + r"""
local now, deadline, who = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local taken, revokes
""" + TAKE + r"""
return taken
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
if ARGV[7] ~= '' then event(id, now, 'scheduled', ARGV[7]) end
return 1
"""

# Move due scheduled jobs to waiting, inside Redis (a scheduler killed mid-tick loses
# nothing). ARGV: base, now, limit.
# Returns {how many moved, their messages..., '|', messages of newly scheduled jobs...}:
# the scheduler hands them to Huey, which emits the signals its users count.
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
out[#out + 1] = '|'
-- Jobs enqueued with an eta since the last tick: the scheduler announces them
-- (SIGNAL_SCHEDULED), as Huey's consumer does when it meets a task whose eta is ahead.
for _, id in ipairs(redis.call('lpop', p .. 'announce', limit) or {}) do
  out[#out + 1] = redis.call('get', p .. 'm:' .. id) or ''
end
return out
"""

# A job reached a finished state; optionally, in the same call, the consumer takes its next
# job (BullMQ's moveToFinished fetches the next job the same way): one round trip per job.
# ARGV: base, id, state, now, result, error summary, attempt JSON ('' none),
#       keep message ('1'/'0'), q_age, q_count, t_age, t_count, result-store field to
#       delete ('' none: Huey's revoke flag, deferred to save a round trip), event text,
#       delivery token ('' for none; see stale()), the whole result JSON when the result
#       (a preview) is cut ('' none), then, from a consumer that counts its ends itself (counters.py; absent: counted here): the task name, the delivery's
#       start (ms, '' unknown), periodic ('1'/'0'); then, to take the next job, its lease
#       deadline and the consumer label (absent: take nothing)
# Returns 1 done, 0 no such job, 2 a late end (ignored, counted as a duplicate run); when
# asked to take: {that number, TAKE's ``taken``...}.
#
# The revoke flag Huey deletes after a run is deleted only if the queue may have flags
# (the ``rv`` marker, read by the take). The common end (completed, by the delivery that
# holds the job, nothing else to write) is written out without FUNCS, whose closures cost
# as much as two commands per call; any other end, and a trim that retention asks for, run
# with them.
FINISH = PRELUDE_HEAD + r"""
local id, state, now, token = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[15]
-- The take first (the script is atomic: the order is not seen): its read of the revoke
-- marker tells whether the end has a flag to delete.
local revokes = true
local taken = false
if ARGV[20] then
  local deadline, who = tonumber(ARGV[20]), ARGV[21]
""" + TAKE + r"""
end
local counted = ARGV[17] ~= nil and ARGV[17] ~= ''
local rec = p .. 'j:' .. id
local q_age, q_count = tonumber(ARGV[9]), tonumber(ARGV[10])
local f = redis.call('hmget', rec, 'st', 'att')
local done, slow, trim_now = 1, true, false
local started = tonumber(ARGV[18] or '')
if counted and started and state == 'completed' and token ~= '' and f[1] == 'active'
    and f[2] == token and ARGV[7] == '' and ARGV[14] == '' and ARGV[19] == '0'
    and tonumber(ARGV[11]) <= 0 and tonumber(ARGV[12]) < 0 then
  slow = false
  if ARGV[13] ~= '' and revokes then redis.call('hdel', p .. 'results', ARGV[13]) end
  redis.call('zrem', p .. 'active', id)
  redis.call('zadd', p .. 'completed', now, id)
  local run = now - started
  if run < 0 then run = 0 end
  local h = {'st', 'completed', 'fin', now, 'run', run}
  if ARGV[5] ~= '' then h[#h + 1] = 'res'; h[#h + 1] = ARGV[5] end
  if ARGV[16] and ARGV[16] ~= '' then h[#h + 1] = 'rj'; h[#h + 1] = ARGV[16] end
  redis.call('hset', rec, unpack(h))
  if ARGV[8] ~= '1' then redis.call('del', p .. 'm:' .. id) end
  trim_now = (q_count >= 0 and redis.call('zcard', p .. 'completed') > q_count) or
    (q_age > 0 and #redis.call('zrangebyscore', p .. 'completed', '-inf', now - q_age,
                                'LIMIT', 0, 1) > 0)
end
if slow or trim_now then
do
""" + FUNCS + r"""
if slow then
  done = 2
  local g = redis.call('hmget', rec, 'task', 'sta', 'per', 'src')
  if not stale(id, token, now, state, true, {f[1], f[2], g[1]}) then
    if ARGV[13] ~= '' then redis.call('hdel', p .. 'results', ARGV[13]) end
    done = finish(id, state, now, {'res', ARGV[5], 'err', ARGV[6], 'rj', ARGV[16] or ''},
      ARGV[7], ARGV[8] == '1',
      {tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12])},
      {f[1], g[1], g[2], g[3], g[4]}, counted)
    if done == 1 and ARGV[14] ~= '' then event(id, now, state, ARGV[14]) end
  end
else
  trim(p .. 'completed', now, q_age, q_count)
end
end
end
if ARGV[20] then
  if taken then return {done, unpack(taken)} end
  return {done}
end
return done
"""

# A failed attempt that Huey will retry.
# ARGV: base, id, now, attempt JSON, error summary, result-store field to delete ('' none),
#       delivery token. Returns 1, 0 (no such job) or 2 (a late end, ignored).
ATTEMPT_FAILED = PRELUDE + r"""
local id, now = ARGV[2], tonumber(ARGV[3])
if stale(id, ARGV[7], now, 'failed attempt', true) then return 2 end
if ARGV[6] and ARGV[6] ~= '' then redis.call('hdel', p .. 'results', ARGV[6]) end
local rec = rk(id)
local task = redis.call('hget', rec, 'task')
if not task then return 0 end
redis.call('rpush', p .. 'e:' .. id, ARGV[4])
redis.call('ltrim', p .. 'e:' .. id, -25, -1)
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
  local f = redis.call('hmget', rec, 'task', 'by')
  if not f[1] then
    redis.call('zrem', p .. 'active', id)
  else
    local stalls = redis.call('hincrby', rec, 'stl', 1)
    local who = f[2] or 'unknown consumer'
    if stalls > max_stalls then
      local text = 'StalledJobError: job stalled ' .. stalls .. ' times (lease lapsed; consumer ' .. who .. ' stopped heartbeating)'
      local attempt = cjson.encode({at = now, error_class = 'StalledJobError', message = text, traceback = '', consumer = who})
      finish(id, 'failed', now, {'err', text}, attempt, true,
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
redis.call('hdel', rec, 'fin', 'res', 'rj', 'run', 'stl', 'eta')
to_waiting(id, f[1], f[2] or nil, now)
event(id, now, 'retried', ARGV[6])
metric(now, {'retry', 1, 'retry|' .. (f[2] or '?'), 1})
return {'ok'}
"""

# Operator promote: scheduled -> waiting now. ARGV: base, id, now, message without eta
PROMOTE = PRELUDE + r"""
local id, now = ARGV[2], tonumber(ARGV[3])
local f = redis.call('hmget', rk(id), 'st', 'task')
if not f[1] then return {'missing'} end
if f[1] ~= 'scheduled' then return {'state', f[1]} end
if ARGV[4] ~= '' then redis.call('set', p .. 'm:' .. id, ARGV[4]) end
redis.call('hdel', rk(id), 'eta')
to_waiting(id, 'scheduled', f[2] or nil, now)
event(id, now, 'promoted', 'run now by an operator')
return {'ok'}
"""

# Operator revoke: waiting/scheduled -> revoked. ARGV: base, id, now, q_age, q_count
REVOKE = PRELUDE + r"""
local id, now = ARGV[2], tonumber(ARGV[3])
local st = redis.call('hget', rk(id), 'st')
if not st then return {'missing'} end
if st ~= 'waiting' and st ~= 'scheduled' then return {'state', st} end
finish(id, 'revoked', now, {}, '', true, {tonumber(ARGV[4]), tonumber(ARGV[5]), 0, -1})
event(id, now, 'revoked', 'revoked by an operator')
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
    for _, s in ipairs({'completed', 'failed', 'revoked', 'expired', 'canceled', 'interrupted',
                        'locked', 'rate_limited'}) do redis.call('zrem', p .. s, id) end
    redis.call('zrem', p .. 'waiting', id)
    redis.call('zrem', p .. 'scheduled', id)
    redis.call('zrem', p .. 'active', id)
  end
end
out[1] = n
return out
"""

# Remove up to limit jobs of a state finished before cutoff. ARGV: base, state, cutoff, limit
CLEAN = PRELUDE + r"""
local ids = redis.call('zrangebyscore', p .. ARGV[2], '-inf', ARGV[3], 'LIMIT', 0, tonumber(ARGV[4]))
for _, id in ipairs(ids) do purge(id); redis.call('zrem', p .. ARGV[2], id) end
return #ids
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
# path, and trim the hour series ('hs') to the last 60 minutes. ARGV: base, current minute. The marker 'rolled' holds the last minute rolled up.
# Also adds the event counters (enq|*, done, fail, retry) to the 'totals' hash, which never
# expires: lifetime counters, exact up to the last rolled minute (Queue.totals() adds the
# minutes since).
ROLLUP = BASE + r"""
local p, cur = ARGV[1], tonumber(ARGV[2])
local last = tonumber(redis.call('get', p .. 'rolled') or (cur - 1))
local first = math.max(last + 1, cur - 2880)
local COUNTED = {done=true, fail=true, retry=true, dup=true}
for m = first, cur - 1 do
  -- the hour series keeps 60 minutes: each minute rolled up drops the one an hour older
  redis.call('hdel', p .. 'hs', (m - 60) .. 'done', (m - 60) .. 'fail')
  local h = redis.call('hgetall', p .. 'mx:' .. m)
  if #h > 0 then
    local dk = p .. 'md:' .. math.floor(m / 1440)
    for i = 1, #h, 2 do
      redis.call('hincrby', dk, h[i], h[i + 1])
      if COUNTED[h[i]] then
        redis.call('hincrby', p .. 'totals', h[i], h[i + 1])
      elseif string.sub(h[i], 1, 4) == 'enq|' then
        redis.call('hincrby', p .. 'totals', 'enq', h[i + 1])
      end
    end
    redis.call('expire', dk, 7862400)
  end
end
redis.call('set', p .. 'rolled', math.max(last, cur - 1))
return cur - first
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
