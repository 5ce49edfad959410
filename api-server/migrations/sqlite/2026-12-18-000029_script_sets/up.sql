-- Script sets (MAAS's ScriptSet): one run of scripts on a node — a
-- commissioning (0), installation (1) or testing (2) run — with what was
-- asked for it (scripts, parameters, commission/test options). Results now
-- belong to a set, so earlier runs stay readable under
-- nodes/{system_id}/results/ after a new run starts.
CREATE TABLE script_sets (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    node_id BIGINT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
    result_type INTEGER NOT NULL,
    last_ping TIMESTAMP,
    requested_scripts TEXT NOT NULL DEFAULT '[]',
    script_parameters TEXT NOT NULL DEFAULT '{}',
    options TEXT NOT NULL DEFAULT '{}',
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX script_sets_node_type ON script_sets (node_id, result_type);

-- Existing results get one set per node and result type (testing phase 21,
-- deploying 9, releasing 12 and erasing 14 release, anything else
-- commissioning), so nothing reported is lost.
INSERT INTO script_sets (node_id, result_type, created_at)
SELECT node_id, CASE phase WHEN 21 THEN 2 WHEN 9 THEN 1 WHEN 12 THEN 3 WHEN 14 THEN 3 ELSE 0 END, MIN(created_at)
FROM script_results
GROUP BY node_id, CASE phase WHEN 21 THEN 2 WHEN 9 THEN 1 WHEN 12 THEN 3 WHEN 14 THEN 3 ELSE 0 END;

-- SQLite cannot drop the old UNIQUE (node_id, name) in place (a node now
-- keeps one result per script per set), so the table is rebuilt with the
-- new columns at its end, as PostgreSQL's ALTER TABLE leaves them.
CREATE TABLE script_results_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    node_id BIGINT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
    phase INTEGER NOT NULL,
    name TEXT NOT NULL,
    status INTEGER NOT NULL,
    exit_status INTEGER,
    output BLOB NOT NULL,
    stdout BLOB NOT NULL,
    stderr BLOB NOT NULL,
    result BLOB NOT NULL,
    runtime TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    script_set_id BIGINT NOT NULL REFERENCES script_sets(id) ON DELETE CASCADE,
    parameters TEXT NOT NULL DEFAULT '{}',
    started TIMESTAMP,
    ended TIMESTAMP,
    suppressed BOOLEAN NOT NULL DEFAULT FALSE,
    hardware_type INTEGER NOT NULL DEFAULT 0,
    physical_blockdevice_id BIGINT,
    interface_id BIGINT
);
INSERT INTO script_results_new (id, node_id, phase, name, status, exit_status, output, stdout, stderr, result,
    runtime, created_at, updated_at, script_set_id, ended)
SELECT r.id, r.node_id, r.phase, r.name, r.status, r.exit_status, r.output, r.stdout, r.stderr, r.result,
    r.runtime, r.created_at, r.updated_at,
    (SELECT s.id FROM script_sets s WHERE s.node_id = r.node_id
        AND s.result_type = CASE r.phase WHEN 21 THEN 2 WHEN 9 THEN 1 WHEN 12 THEN 3 WHEN 14 THEN 3 ELSE 0 END),
    r.updated_at
FROM script_results r;
DROP TABLE script_results;
ALTER TABLE script_results_new RENAME TO script_results;
CREATE INDEX script_results_set ON script_results (script_set_id, name);
CREATE INDEX script_results_node ON script_results (node_id);
