-- add.lua: POST /add exactly as the original frontend sends it (CommentForm.js): a binary-mode
-- CloudEvent whose id is the same on every request (node-server mints a fresh event id).
wrk.method = "POST"
wrk.path = "/add"
wrk.body = '{"reviewText":"A benchmark review: the book was fine."}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Ce-Type"] = "new-review-comment"
wrk.headers["Ce-Specversion"] = "1.0"
wrk.headers["Ce-Source"] = "commentForm"
wrk.headers["Ce-Id"] = "unique-comment-id"
done = dofile("bench/lua/report.lua")
