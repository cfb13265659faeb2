-- wrk script: plain GETs of the URL given on the command line.
package.path = package.path .. ";./bench/?.lua"
local report = require("wrk-report")
done = report.done
