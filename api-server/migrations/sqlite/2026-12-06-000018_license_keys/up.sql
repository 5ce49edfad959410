-- MAAS's LicenseKey: a product key per operating system release that needs
-- one (Windows), handed to machines that deploy that release. MAAS keys the
-- row by (osystem, distro_series) and the API addresses it that way
-- (license-key/{osystem}/{distro_series}), so that pair is the primary key;
-- a second key for the same release is refused by it.
CREATE TABLE license_keys (
    osystem TEXT NOT NULL,
    distro_series TEXT NOT NULL,
    license_key TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (osystem, distro_series)
);
