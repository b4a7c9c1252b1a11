-- sweep: KEYS[1] = P. ARGV: name, limit, purge ('1'|'0').
-- Keys: conf m:<id> delayed running pending completed canceled errored ix:* xq:* xr:* xc:* xrun events.
-- Promotes due delays, expires leases, and (purge) deletes finished messages older than the
-- retention, each at most `limit` per call. Returns {moved, purged, next_event_ms|false, now_ms}.
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
      redis.call('DEL', P .. 'm:' .. id_of(old[i]))
    end
    call_chunked('ZREM', P .. state, old)
    purged = purged + #old
    if purged >= limit then
      break
    end
  end
end
return {moved, purged, next_event_ms(conf), now}
