CREATE TABLE script_results_old (
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
    UNIQUE (node_id, name)
);
-- The newest result of each script per node survives.
INSERT INTO script_results_old (id, node_id, phase, name, status, exit_status, output, stdout, stderr, result,
    runtime, created_at, updated_at)
SELECT id, node_id, phase, name, status, exit_status, output, stdout, stderr, result, runtime, created_at, updated_at
FROM script_results r WHERE r.id = (SELECT MAX(x.id) FROM script_results x WHERE x.node_id = r.node_id AND x.name = r.name);
DROP TABLE script_results;
ALTER TABLE script_results_old RENAME TO script_results;
DROP TABLE script_sets;
