ALTER TABLE nodes DROP COLUMN power_quarantined;
