DROP TABLE dns_records;
DROP TABLE dns_resource_ips;
DROP TABLE dns_resources;
ALTER TABLE domains DROP COLUMN forward_dns_servers;
