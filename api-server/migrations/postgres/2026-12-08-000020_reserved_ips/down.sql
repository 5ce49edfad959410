DROP TABLE reserved_ips;
