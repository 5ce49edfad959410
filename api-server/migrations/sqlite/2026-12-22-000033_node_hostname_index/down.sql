DROP INDEX nodes_type_hostname;
