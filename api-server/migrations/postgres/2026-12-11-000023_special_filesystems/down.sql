DROP TABLE special_filesystems;
