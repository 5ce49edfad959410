DROP TABLE script_results;
DROP TABLE node_tokens;
ALTER TABLE nodes DROP COLUMN enlisting;
