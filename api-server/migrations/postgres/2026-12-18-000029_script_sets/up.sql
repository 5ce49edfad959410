-- Script sets (MAAS's ScriptSet): one run of scripts on a node — a
-- commissioning (0), installation (1) or testing (2) run — with what was
-- asked for it (scripts, parameters, commission/test options). Results now
-- belong to a set, so earlier runs stay readable under
-- nodes/{system_id}/results/ after a new run starts.
CREATE TABLE script_sets (
    id BIGSERIAL PRIMARY KEY,
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

-- A node now keeps one result per script per set.
ALTER TABLE script_results DROP CONSTRAINT script_results_node_id_name_key;
ALTER TABLE script_results ADD COLUMN script_set_id BIGINT REFERENCES script_sets(id) ON DELETE CASCADE;
UPDATE script_results r SET script_set_id = (SELECT s.id FROM script_sets s WHERE s.node_id = r.node_id
    AND s.result_type = CASE r.phase WHEN 21 THEN 2 WHEN 9 THEN 1 WHEN 12 THEN 3 WHEN 14 THEN 3 ELSE 0 END);
ALTER TABLE script_results ALTER COLUMN script_set_id SET NOT NULL;
ALTER TABLE script_results ADD COLUMN parameters TEXT NOT NULL DEFAULT '{}';
ALTER TABLE script_results ADD COLUMN started TIMESTAMP;
ALTER TABLE script_results ADD COLUMN ended TIMESTAMP;
UPDATE script_results SET ended = updated_at;
ALTER TABLE script_results ADD COLUMN suppressed BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE script_results ADD COLUMN hardware_type INTEGER NOT NULL DEFAULT 0;
ALTER TABLE script_results ADD COLUMN physical_blockdevice_id BIGINT;
ALTER TABLE script_results ADD COLUMN interface_id BIGINT;
CREATE INDEX script_results_set ON script_results (script_set_id, name);
CREATE INDEX script_results_node ON script_results (node_id);
