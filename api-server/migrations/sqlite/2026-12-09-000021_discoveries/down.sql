DROP TABLE discoveries;
