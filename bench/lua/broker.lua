-- broker.lua: POST /bookstore/bookstore-broker, a binary-mode new-review-comment CloudEvent with
-- a distinct ce-id per request (both Triggers match it).
local u = dofile("bench/lua/unique.lua")
setup = u.setup
init, request = u.make("/bookstore/bookstore-broker", {
	["content-type"] = "application/json",
	["ce-specversion"] = "1.0",
	["ce-type"] = "new-review-comment",
	["ce-source"] = "bench",
}, '{"reviewText":"A benchmark review through the broker."}')
done = dofile("bench/lua/report.lua")
