-- report.lua: the done() every benchmark script uses. It prints one line
-- "BENCH {json}" with wrk's counts and latency percentiles (microseconds), which
-- bench/lib/wrk.mjs parses. Load it with: done = dofile("bench/lua/report.lua")
return function(summary, latency, requests)
	local e = summary.errors
	io.write(string.format(
		'BENCH {"requests":%d,"duration_us":%d,"bytes":%d,"non2xx":%d,"connect_err":%d,' ..
		'"read_err":%d,"write_err":%d,"timeout_err":%d,"p50_us":%d,"p90_us":%d,' ..
		'"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
		summary.requests, summary.duration, summary.bytes, e.status, e.connect, e.read,
		e.write, e.timeout, latency:percentile(50), latency:percentile(90),
		latency:percentile(99), latency.max, latency.mean))
end
