-- Replace one customer's profile hash and move it between audience sets, atomically.
-- A write older than the stored one (as_of_ms) is ignored, so replays, retries and a re-sync
-- racing the live stream can never put an outdated profile back.
-- KEYS[1] customer hash
-- ARGV[1] as_of_ms, ARGV[2] customer id, ARGV[3] audience key prefix, ARGV[4] tag count n,
-- then n (family, value) pairs, then (field, value) pairs for the whole hash.
local key = KEYS[1]
local as_of = tonumber(ARGV[1])
local stored = tonumber(redis.call('HGET', key, 'as_of_ms') or '-1')
if stored > as_of then
  return 0
end
local id, prefix, ntags = ARGV[2], ARGV[3], tonumber(ARGV[4])
local i = 5
for _ = 1, ntags do
  local family, value = ARGV[i], ARGV[i + 1]
  local old = redis.call('HGET', key, 'tag:' .. family)
  if old ~= value then
    if old then
      redis.call('SREM', prefix .. family .. ':' .. old, id)
    end
    redis.call('SADD', prefix .. family .. ':' .. value, id)
  end
  i = i + 2
end
redis.call('DEL', key)
redis.call('HSET', key, unpack(ARGV, i))
return 1
