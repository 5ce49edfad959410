DROP TABLE boot_source_selections;
DROP TABLE boot_sources;
DROP INDEX boot_resource_files_sha256;
DROP TABLE boot_resource_files;
DROP TABLE boot_resource_sets;
DROP TABLE boot_resources;
