-- Lists of machines are `node_type IN (..) ORDER BY id`. Through
-- (node_type, status) SQLite sorted every machine for the order (10,000
-- wide rows for the full list, and all of them for a page of 100); this
-- index hands them over in id order.
CREATE INDEX nodes_type_id ON nodes(node_type, id);

-- Allocation reads Ready machines cheapest first, a batch of 8 at a time,
-- inside the write transaction that claims one. Through (node_type,
-- status) it read and sorted every Ready machine for each claim; in this
-- index's order it reads the 8. The expression is the ORDER BY's
-- (`db::nodes::CHEAPEST`), character for character: SQLite uses an
-- expression index only for the same expression.
CREATE INDEX nodes_cheapest_first ON nodes(node_type, status, (cpu_count + memory / 1024.0), id);
