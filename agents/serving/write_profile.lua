-- Replace one customer's profile hash and move it between audience sets, atomically.
-- A write older than the stored one (as_of_ms) is ignored, so replays, retries and a re-sync
-- racing the live stream can never put an outdated profile back.
-- KEYS[1] customer hash
-- ARGV[1] the profile as one JSON object (one argument: encoding a hundred separate arguments
-- per customer cost the worker more than the rest of the write):
--   {"as_of_ms": "<ms>", "id": "<customer id>", "audience": "<audience key prefix>",
--    "tags": {"<family>": "<value>", ...}, "fields": {"<field>": "<value>", ...}}
local key = KEYS[1]
local profile = cjson.decode(ARGV[1])
local as_of = tonumber(profile.as_of_ms)
local stored = tonumber(redis.call('HGET', key, 'as_of_ms') or '-1')
if stored > as_of then
  return 0
end
local id, prefix = profile.id, profile.audience
for family, value in pairs(profile.tags) do
  local old = redis.call('HGET', key, 'tag:' .. family)
  if old ~= value then
    if old then
      redis.call('SREM', prefix .. family .. ':' .. old, id)
    end
    redis.call('SADD', prefix .. family .. ':' .. value, id)
  end
end
local flat = {}
for field, value in pairs(profile.fields) do
  flat[#flat + 1] = field
  flat[#flat + 1] = value
end
redis.call('DEL', key)
redis.call('HSET', key, unpack(flat))
return 1
