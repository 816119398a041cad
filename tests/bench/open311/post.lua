-- wrk script: Open311 POST requests.xml with form bodies at varying points inside the
-- demo city (a 0.14 x 0.09 degree box around Tehran's centre: every point is in a
-- district), so the duplicate lookup and routing see spread-out points.
-- The api_key is the demo city's public key.
local key = os.getenv("OPEN311_KEY") or "o311_demo0000000000000000000000000000"
local services = { "pothole", "garbage", "streetlight", "graffiti", "violation" }
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  math.randomseed(7261 + id)
end

request = function()
  local lat = 35.645 + math.random() * 0.089
  local lon = 51.321 + math.random() * 0.138
  local svc = services[math.random(#services)]
  local body = "api_key=" .. key .. "&service_code=" .. svc ..
    string.format("&lat=%.6f&long=%.6f", lat, lon) ..
    "&description=Benchmark+report&email=bench%40example.org"
  if svc == "pothole" then
    body = body .. "&attribute%5Bsize%5D=small"
  end
  return wrk.format("POST", "/open311/v2/requests.json",
    { ["Content-Type"] = "application/x-www-form-urlencoded" }, body)
end
