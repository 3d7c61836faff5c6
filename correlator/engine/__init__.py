"""The pure correlation core: alerts in arrival order and a clock in, incident changes out.
It never reads the wall clock, the network or the database."""
