"""The technician's console (`cardgate console`): a line-based console for a serial line.

It runs as its own process and talks to the running appliance over the admin socket; when
the appliance is down it shows what the database file holds, read-only.
"""
