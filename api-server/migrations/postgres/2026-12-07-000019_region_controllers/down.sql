DROP TABLE region_controllers;
