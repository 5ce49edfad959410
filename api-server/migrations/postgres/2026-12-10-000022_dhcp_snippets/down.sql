DROP TABLE dhcp_snippet_versions;
DROP TABLE dhcp_snippets;
