-- step.lua: POST / to a Sequence step (bad-word-filter or sentiment-analysis) as the broker's
-- channel does: one binary-mode CloudEvent, a review of a typical length. The argument picks
-- the event: "badword" (a new-review-comment) or "sentiment" (bad-word-filter's reply, with
-- badWordResult and the badwordfilter extension).
local kind = "badword"
local headers = {
	["Content-Type"] = "application/json",
	["Ce-Specversion"] = "1.0",
	["Ce-Source"] = "bookstore-eda",
	["Ce-Id"] = "bench-step",
	["Ce-Type"] = "new-review-comment",
}
local text = "A clear and practical book: the chapters on eventing are not bad at all, " ..
	"but the examples could be shorter!"
local body

function init(args)
	kind = args[1] or kind
	if kind == "sentiment" then
		headers["Ce-Source"] = "book-review-broker"
		headers["Ce-Badwordfilter"] = "good"
		body = string.format('{"reviewText":"%s","badWordResult":"good"}', text)
	else
		body = string.format('{"reviewText":"%s"}', text)
	end
end

function request()
	return wrk.format("POST", "/", headers, body)
end

done = dofile("bench/lua/report.lua")
