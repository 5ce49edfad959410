-- Hardware details a commissioning reported, per node: the `lshw -xml`
-- document (MAAS's maas-lshw script) and the LLDP neighbours
-- (`lldpctl -f xml`, maas-capture-lldpd), as the bytes the machine sent.
-- `details` serves them (BSON) and tag definitions (XPath) are evaluated
-- against them. Kept apart from script_results so that tag evaluation
-- reads one row per node and does not depend on how results are kept.
CREATE TABLE node_details (
    node_id BIGINT PRIMARY KEY NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
    lshw BYTEA,
    lldp BYTEA,
    updated_at TIMESTAMP NOT NULL
);
