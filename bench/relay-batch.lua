-- wrk script: 100 click events per request to the relay's batch endpoint.
package.path = package.path .. ";./bench/?.lua"
local report = require("wrk-report")
wrk.method = "POST"
wrk.path = "/api/v1/events"
wrk.headers["Content-Type"] = "application/json"
local n = 0
function request()
  local events = {}
  for i = 1, 100 do
    n = n + 1
    events[i] = string.format(
      '{"topic":"edm-ui-click","uuid":"visitor-%d","event_timestamp":1795339137000,"properties":{"button_id":"product-%d","description":"button click"}}',
      n % 1000, n % 20)
  end
  return wrk.format(nil, nil, nil, "[" .. table.concat(events, ",") .. "]")
end
done = report.done
