-- Replace customers' profile hashes and move them between audience sets, atomically.
-- A write older than the stored one (as_of_ms) is ignored, so replays, retries and a re-sync
-- racing the live stream can never put an outdated profile back.
-- KEYS[i] the customer hash of the i-th profile
-- ARGV[1] the audience key prefix
-- ARGV[2] the profiles as one JSON array (one argument for many customers: a command per
-- customer, and before that an argument per field, cost the worker more than the rest of the
-- write):
--   [{"as_of_ms": "<ms>", "id": "<customer id>", "tags": {"<family>": "<value>", ...},
--     "fields": {"<field>": "<value>", ...}}, ...]
-- Returns how many profiles were written (not older than the stored one).
local prefix = ARGV[1]

local function write(key, profile)
  local as_of = tonumber(profile.as_of_ms)
  local stored = tonumber(redis.call('HGET', key, 'as_of_ms') or '-1')
  if stored > as_of then
    return 0
  end
  local id = profile.id
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
end

local written = 0
for i, profile in ipairs(cjson.decode(ARGV[2])) do
  written = written + write(KEYS[i], profile)
end
return written
