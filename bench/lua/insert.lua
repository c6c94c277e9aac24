-- insert.lua: POST /insert as a Trigger delivers a moderated review (binary mode), each with a
-- distinct ce-id so that each one is a real INSERT in PostgreSQL.
local u = dofile("bench/lua/unique.lua")
setup = u.setup
init, request = u.make("/insert", {
	["content-type"] = "application/json",
	["ce-specversion"] = "1.0",
	["ce-type"] = "moderated-comment",
	["ce-source"] = "sentiment-analysis",
	["ce-badwordfilter"] = "good",
}, '{"reviewText":"A benchmark review, inserted.","sentimentResult":"positive"}')
done = dofile("bench/lua/report.lua")
