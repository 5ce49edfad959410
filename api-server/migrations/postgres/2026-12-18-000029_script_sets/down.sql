DELETE FROM script_results r WHERE r.id <> (SELECT MAX(x.id) FROM script_results x WHERE x.node_id = r.node_id AND x.name = r.name);
DROP INDEX script_results_set;
DROP INDEX script_results_node;
ALTER TABLE script_results DROP COLUMN script_set_id, DROP COLUMN parameters, DROP COLUMN started,
    DROP COLUMN ended, DROP COLUMN suppressed, DROP COLUMN hardware_type, DROP COLUMN physical_blockdevice_id,
    DROP COLUMN interface_id;
ALTER TABLE script_results ADD CONSTRAINT script_results_node_id_name_key UNIQUE (node_id, name);
DROP TABLE script_sets;
