DROP TABLE script_versions;
DROP TABLE scripts;
