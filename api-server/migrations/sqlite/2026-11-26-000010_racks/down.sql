DROP TABLE rack_controllers;
