DROP TABLE vm_host_machines;
DROP TABLE vm_hosts;
