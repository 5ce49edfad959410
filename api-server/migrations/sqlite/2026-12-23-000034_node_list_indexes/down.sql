DROP INDEX nodes_cheapest_first;
DROP INDEX nodes_type_id;
