-- e2e.lua: POST /add as the frontend sends it, with the send time (CLOCK_REALTIME, ms with
-- microseconds) in an extra data member "benchSentMs". node-server keeps extra data members,
-- so file-sink's "saved" line carries it: latency = the line's "time" - benchSentMs.
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk, bench_timespec *ts);
]]
local ts = ffi.new("bench_timespec")
local headers = {
	["Content-Type"] = "application/json",
	["Ce-Type"] = "new-review-comment",
	["Ce-Specversion"] = "1.0",
	["Ce-Source"] = "commentForm",
	["Ce-Id"] = "unique-comment-id",
}

function request()
	ffi.C.clock_gettime(0, ts) -- CLOCK_REALTIME
	local ms = tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
	return wrk.format("POST", "/add", headers, string.format(
		'{"reviewText":"An end-to-end benchmark review.","benchSentMs":%.3f}', ms))
end

done = dofile("bench/lua/report.lua")
