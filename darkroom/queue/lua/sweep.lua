-- sweep: KEYS[1] = P. ARGV: name, limit, purge ('1'|'0').
-- Keys: conf m:<id> delayed running pending completed canceled errored ix:* xq:* xr:* xc:* xrun events
--   keys.
-- Promotes due delays, expires leases, and (purge) deletes finished messages older than the
-- retention, each at most `limit` per call; prunes from `keys` the names of keys that are gone
-- (at most min(limit, 1000) names examined). Returns {moved, purged, next_event_ms|false, now_ms};
-- `moved` counts the due members that left their set, dropped ones included.
-- All-or-nothing at any limit: a due member whose message is missing or unusable is dropped
-- (housekeep), every set write is chunked, and a finished member whose id was enqueued again
-- loses only its member, never the new message's hash.
local name = ARGV[1]
local limit = tonumber(ARGV[2])
local conf = require_conf(name)
local now = now_ms()
local moved = housekeep(conf, now, limit)
flush(conf)
local purged = 0
if ARGV[3] == '1' then
  local before = now - conf.retention_ms
  for _, state in ipairs({'completed', 'canceled', 'errored'}) do
    local old = redis.call('ZRANGEBYSCORE', P .. state, '-inf', before, 'LIMIT', 0, limit - purged)
    for i = 1, #old do
      -- a member whose id was enqueued again names another message now: only the member goes
      local key = P .. 'm:' .. id_of(old[i])
      local seq = redis.call('HGET', key, 'seq')
      if not seq or seq == old[i] then
        redis.call('DEL', key)
      else
        touch('m:' .. id_of(old[i]))  -- not this member's: if no set names it, `keys` must
      end
    end
    call_chunked('ZREM', P .. state, old)
    purged = purged + #old
    if purged >= limit then
      break
    end
  end
end
flush(conf)
prune_keys(math.min(limit, 1000))
return {moved, purged, next_event_ms(conf), now}
