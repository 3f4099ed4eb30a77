-- wrk script for bench/laconic/run.sh's "paced" case: every connection waits
-- PACE_MS milliseconds (default 4) after each response before it sends the
-- next request. The offered load is then at most connections / PACE_MS
-- (12 500 req/s at 50 connections and 4 ms), below every balancer's
-- saturation point on the machines the benchmark runs on, so their
-- latencies are compared at the same load rather than each at its own
-- maximum. Closed loop with a think time, as real clients are; not a
-- fixed-rate generator (wrk2, which would also correct for coordinated
-- omission, is not in Debian).
local pace = tonumber(os.getenv("PACE_MS") or "4")

function delay()
	return pace
end
