-- unique.lua: shared by insert.lua and broker.lua. Every request carries a distinct ce-id
-- "<run>-<thread>-<n>" (run = the first script argument), so every /insert is a real INSERT
-- and the broker never sees a repeated id.
local M = {}
local threads = 0

function M.setup(thread)
	threads = threads + 1
	thread:set("tid", threads)
end

function M.make(path, headers, body)
	local n = 0
	local prefix = "run"
	return function(args)
		prefix = (args[1] or "run") .. "-" .. tostring(tid or 0) .. "-"
	end, function()
		n = n + 1
		headers["ce-id"] = prefix .. n
		return wrk.format("POST", path, headers, body)
	end
end

return M
