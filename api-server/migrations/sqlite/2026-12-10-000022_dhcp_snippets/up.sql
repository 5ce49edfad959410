-- MAAS's DHCPSnippet: text an administrator adds to the DHCP server's
-- configuration, for every subnet (global), one subnet (optionally one of
-- its IP ranges) or one node. At most one of node and subnet is set; an
-- iprange needs its subnet (checked by engine::dhcp_snippets, with MAAS's
-- words, and by the CHECKs below as a last line).
CREATE TABLE dhcp_snippets (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    enabled BOOLEAN NOT NULL,
    node_id BIGINT REFERENCES nodes(id) ON DELETE CASCADE,
    subnet_id BIGINT REFERENCES subnets(id) ON DELETE CASCADE,
    iprange_id BIGINT REFERENCES ip_ranges(id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CHECK (node_id IS NULL OR subnet_id IS NULL),
    CHECK (iprange_id IS NULL OR subnet_id IS NOT NULL)
);
CREATE INDEX dhcp_snippets_node ON dhcp_snippets(node_id);
CREATE INDEX dhcp_snippets_subnet ON dhcp_snippets(subnet_id);
-- Every value a snippet has had (MAAS's VersionedTextFile chain). The
-- current value is the snippet's newest row: an update that changes the
-- text appends one, a revert deletes the rows newer than its target, so
-- ids only grow along a snippet's history and the chain needs no pointer.
CREATE TABLE dhcp_snippet_versions (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    snippet_id BIGINT NOT NULL REFERENCES dhcp_snippets(id) ON DELETE CASCADE,
    data TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX dhcp_snippet_versions_snippet ON dhcp_snippet_versions(snippet_id);
