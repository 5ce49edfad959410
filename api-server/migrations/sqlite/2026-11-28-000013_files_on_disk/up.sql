-- files/ content leaves the database (issue 15, M3): it lives on disk under
-- <data_dir>/files/sha256/<hex> (engine/files.rs), named by its SHA-256, and
-- a row keeps the hash and size. Rows from before this migration have no
-- hash yet and keep their content in the row until the region moves it out
-- at start (content then becomes empty); new rows store empty content.
ALTER TABLE files ADD COLUMN sha256 TEXT;
ALTER TABLE files ADD COLUMN size BIGINT NOT NULL DEFAULT 0;
CREATE INDEX files_sha256 ON files(sha256);

-- A copy of the content for regions that share a PostgreSQL database: each
-- region has its own data dir, so one that lacks a file fetches it from here
-- (1 MiB per row, each written in its own short transaction). SQLite has one
-- region and never writes it.
CREATE TABLE file_chunks (
    sha256 TEXT NOT NULL,
    seq INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (sha256, seq)
);
