-- Power parameters that came from an anonymous enlistment: no power action
-- or query uses them until an administrator accepts (or commissions, or
-- edits the power settings of) the machine. Otherwise anyone on the network
-- could make the region or a rack fetch an address of their choosing.
ALTER TABLE nodes ADD COLUMN power_quarantined BOOLEAN NOT NULL DEFAULT FALSE;
