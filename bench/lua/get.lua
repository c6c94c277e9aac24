-- get.lua: a plain GET (the URL's path); only reports.
done = dofile("bench/lua/report.lua")
