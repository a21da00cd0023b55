#!/usr/bin/env sysbench
-- 10-row insert transactions: BEGIN; 10 single-row INSERTs; COMMIT.
--
-- One event = one transaction, so sysbench's "transactions" and its latency histogram are
-- per transaction (12 round trips). Each thread keeps one connection; with a comma-separated
-- --mysql-host/--mysql-port list sysbench spreads the connections over the nodes round-robin.
-- The table (txn10: id AUTO_INCREMENT, k, c CHAR(120), pad CHAR(60), as sysbench's sbtest)
-- is created by cluster_bench.py before the run. An error listed in --mysql-ignore-errors
-- (1213 by default here) makes sysbench restart the event: the hook below rolls the
-- transaction back first, and sysbench counts the restart as an "ignored error".

function thread_init()
   drv = sysbench.sql.driver()
   con = drv:connect()
end

function thread_done()
   con:disconnect()
end

local function random_chars(count)
   return sysbench.rand.string(string.rep("@", count))
end

function event()
   con:query("BEGIN")
   for i = 1, 10 do
      con:query(string.format("INSERT INTO txn10 (k, c, pad) VALUES (%d, '%s', '%s')",
                              sysbench.rand.default(1, 1000000), random_chars(120),
                              random_chars(60)))
   end
   con:query("COMMIT")
end

function sysbench.hooks.before_restart_event(err)
   con:query("ROLLBACK")
end
