-- wrk script: one click event per request to the original relay endpoint.
package.path = package.path .. ";./bench/?.lua"
local report = require("wrk-report")
wrk.method = "POST"
wrk.path = "/produceClickMessage"
wrk.headers["Content-Type"] = "application/json"
local n = 0
function request()
  n = n + 1
  local body = string.format(
    '{"topic":"edm-ui-click","uuid":"visitor-%d","event_timestamp":1795339137000,"properties":{"button_id":"product-%d","description":"button click"}}',
    n % 1000, n % 20)
  return wrk.format(nil, nil, nil, body)
end
done = report.done
