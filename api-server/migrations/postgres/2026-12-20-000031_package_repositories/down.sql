DROP TABLE package_repositories;
