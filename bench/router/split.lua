-- Every request carries one of 100,000 user ids, so sticky routers hash a real key.
-- The path is the one given on wrk's command line (/, /20k, /64k, /1m).
local counter = 0
request = function()
  counter = counter + 1
  wrk.headers["x-user-id"] = "user-" .. (counter % 100000)
  return wrk.format(nil, wrk.path)
end
