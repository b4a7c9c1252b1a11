-- update: KEYS[1] = P. ARGV: name, id, then field/value pairs among
--   dl (deadline ms), meta (json), payload, delay_ms ('' clears the delay).
-- Keys: conf m:<id> pending delayed ix:* xq:* xr:* xc:* keys xrun events; publishes wake.
-- Only pending or invisible messages change; the message leaves its indexes, changes, and
-- re-enters them, so order and criteria see the new values at once.
-- All-or-nothing: the message, the new metadata (exclusivity value) and the payload size are
-- checked before the first write; after it no step can fail.
-- The message's own due lease expiry or promotion (refresh) is applied first and kept when
-- the call is then refused: it is a whole transition of its own, not half of this one.
local name, id = ARGV[1], ARGV[2]
local conf = require_conf(name)
local m = require_msg(id, name)
local set = {}
for i = 3, #ARGV, 2 do
  set[ARGV[i]] = ARGV[i + 1]
end
local new = {id = m.id, seq = m.seq, dl = m.dl, x = m.x, ix = m.ix}
if set.meta then
  if conf.exclusive or #conf.ikeys > 0 then
    local meta = cjson.decode(set.meta)
    if conf.exclusive then
      new.x = meta[conf.xkey]
      if type(new.x) ~= 'string' or new.x == '' then
        return fail('INVALID_MESSAGE', id .. ' lacks exclusivity key ' .. conf.xkey .. ' of queue ' .. name)
      end
    end
    new.ix = combos_for(conf, meta)
  end
end
if set.payload and string.len(set.payload) > conf.max_payload then
  return fail('PAYLOAD_TOO_LARGE', id .. ' ' .. string.len(set.payload) .. ' ' .. conf.max_payload)
end
local now = now_ms()
refresh(conf, m, now)
if m.st ~= 'pending' and m.st ~= 'invisible' then
  flush(conf)
  return fail('CONFLICT', 'message ' .. id .. ' in queue ' .. name .. ' is ' .. m.st .. '; only pending or invisible messages can be updated')
end
if set.dl then
  new.dl = tonumber(set.dl)
end
-- leave the indexes under the old values
if m.st == 'pending' then
  ready_remove(conf, m)
else
  redis.call('ZREM', P .. 'delayed', m.seq)
end
local h = {'HSET', P .. 'm:' .. id, 'ua', now, 'dl', fmt(new.dl), 'ix', new.ix}
if new.x then
  h[#h + 1] = 'x'
  h[#h + 1] = new.x
end
if set.meta then
  h[#h + 1] = 'meta'
  h[#h + 1] = set.meta
end
if set.payload then
  h[#h + 1] = 'payload'
  h[#h + 1] = set.payload
end
redis.call(unpack(h))
local va = m.st == 'invisible' and tonumber(m.va) or nil
if set.delay_ms then
  va = set.delay_ms ~= '' and tonumber(set.delay_ms) > 0 and now + tonumber(set.delay_ms) or nil
end
if va then
  make_invisible(conf, new, now, va)
else
  make_pending(conf, new, now)
  wake()
end
event(conf, 'updated', id, new.st)
flush(conf)
return 1
