-- Machine lookups by hostname filter on node_type too. SQLite plans
-- without statistics, and took (node_type, status) for as good as the
-- (hostname, domain_id) unique index: every machine read for one. Two
-- equalities on one index win the planner's choice outright.
CREATE INDEX nodes_type_hostname ON nodes(node_type, hostname);
