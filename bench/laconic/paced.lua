-- wrk script for bench/laconic/run.sh's "paced" case: every connection
-- thinks after each response before it sends the next request, for an
-- exponentially distributed time of mean PACE_MS milliseconds (default 4).
-- The offered load is then at most connections / PACE_MS (12 500 req/s at
-- 50 connections and 4 ms), below every balancer's saturation point on
-- the machines the benchmark runs on, so their latencies are compared at
-- about the same load rather than each at its own maximum. The pauses are
-- random because fixed ones keep the connections in lockstep: all fifty
-- requests would arrive in one burst every few milliseconds, and a
-- single-threaded balancer's latency would be the time to work through
-- the burst. Closed loop with think times, as real clients are; not a
-- fixed-rate generator (wrk2, which also corrects for coordinated
-- omission, is not in Debian). wrk's timers have millisecond resolution.
local pace = tonumber(os.getenv("PACE_MS") or "4")

math.randomseed(42)

function delay()
	-- 1 - random() is in (0, 1]: never log(0).
	return math.floor(-math.log(1 - math.random()) * pace + 0.5)
end
