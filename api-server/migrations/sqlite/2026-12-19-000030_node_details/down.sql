DROP TABLE node_details;
