-- enqueue: KEYS[1] = P. ARGV: name, n, then n × (id, payload, meta_json, deadline_ms|'',
--   delay_ms, max_attempts|'', digest, fresh '1'|'0'). `fresh` marks an id the client has just
--   generated (a ULID), which cannot exist yet: its existence check is skipped.
-- Keys: conf seq m:<id> pending delayed ix:* xq:* xr:* xc:* keys xrun events; publishes wake.
-- All-or-nothing: every message is checked before anything is written. Idempotent by id: the
-- same id and digest answers the stored message (created = 0); another digest is a conflict.
-- Returns n × {id, created(0|1)}.
-- A non-fresh id whose hash is left without its digest (damaged) is replaced whole: its old
-- fields are deleted first, and its old set member is dropped by whatever reaches it.
local name = ARGV[1]
local n = tonumber(ARGV[2])
local conf = require_conf(name)
local now = now_ms()
local W = 8
local plan = {}
local seen = {}
for i = 0, n - 1 do
  local b = 3 + i * W
  local id, payload, meta_json, dg = ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 6]
  local existing = seen[id] or (ARGV[b + 7] ~= '1' and redis.call('HGET', P .. 'm:' .. id, 'dg'))
  if existing then
    if existing ~= dg then
      return fail('CONFLICT', 'message ' .. id .. ' exists in queue ' .. name .. ' with different content')
    end
    plan[#plan + 1] = {id = id, existing = true}
  else
    if string.len(payload) > conf.max_payload then
      return fail('PAYLOAD_TOO_LARGE', id .. ' ' .. string.len(payload) .. ' ' .. conf.max_payload)
    end
    local m = {id = id, payload = payload, meta_json = meta_json, dg = dg}
    if conf.exclusive or #conf.ikeys > 0 then
      local meta = cjson.decode(meta_json)
      if conf.exclusive then
        m.x = meta[conf.xkey]
        if type(m.x) ~= 'string' or m.x == '' then
          return fail('INVALID_MESSAGE', id .. ' lacks exclusivity key ' .. conf.xkey .. ' of queue ' .. name)
        end
      end
      m.ix = combos_for(conf, meta)
    else
      m.ix = ''
    end
    m.dl = ARGV[b + 3] == '' and now or tonumber(ARGV[b + 3])
    m.delay = tonumber(ARGV[b + 4])
    m.max = ARGV[b + 5] == '' and conf.max_att or tonumber(ARGV[b + 5])
    m.leftover = ARGV[b + 7] ~= '1'  -- a hash without its digest may be left: replace it whole
    plan[#plan + 1] = m
    seen[id] = dg
  end
end
local out = {}
local woke = false
local fresh = 0
for i = 1, #plan do
  if not plan[i].existing then
    fresh = fresh + 1
  end
end
-- one counter bump for the whole batch; its messages take consecutive sequence numbers
local seq = fresh > 0 and redis.call('INCRBY', P .. 'seq', fresh) - fresh or 0
for i = 1, #plan do
  local m = plan[i]
  if m.existing then
    out[#out + 1] = {m.id, 0}
  else
    seq = seq + 1
    m.seq = string.format('%016x', seq) .. m.id
    m.att = 0
    if m.leftover then
      redis.call('DEL', P .. 'm:' .. m.id)
    end
    -- empty metadata and combo lists are left out: readers take an absent field as empty
    local fields = {'HSET', P .. 'm:' .. m.id, 'seq', m.seq, 'payload', m.payload,
      'dl', fmt(m.dl), 'att', '0', 'max', fmt(m.max), 'ca', now, 'ua', now, 'dg', m.dg}
    if m.meta_json ~= '{}' then
      fields[#fields + 1] = 'meta'
      fields[#fields + 1] = m.meta_json
    end
    if m.ix ~= '' then
      fields[#fields + 1] = 'ix'
      fields[#fields + 1] = m.ix
    end
    if m.x then
      fields[#fields + 1] = 'x'
      fields[#fields + 1] = m.x
    end
    if m.delay > 0 then
      local va = now + m.delay
      fields[#fields + 1] = 'st'
      fields[#fields + 1] = 'invisible'
      fields[#fields + 1] = 'va'
      fields[#fields + 1] = fmt(va)
      redis.call(unpack(fields))
      redis.call('ZADD', P .. 'delayed', va, m.seq)
      event(conf, 'enqueued', m.id, 'invisible')
    else
      fields[#fields + 1] = 'st'
      fields[#fields + 1] = 'pending'
      redis.call(unpack(fields))
      ready_add(conf, m)
      event(conf, 'enqueued', m.id, 'pending')
      woke = true
    end
    out[#out + 1] = {m.id, 1}
  end
end
flush(conf)
if woke then
  wake()
end
return out
