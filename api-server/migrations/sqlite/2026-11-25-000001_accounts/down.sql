DROP TABLE config;
DROP TABLE sslkeys;
DROP TABLE sshkeys;
DROP TABLE api_tokens;
DROP TABLE users;
