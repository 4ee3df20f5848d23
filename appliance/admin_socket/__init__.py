"""The local admin socket: the technician console's way into the running appliance.

The appliance alone owns the serial ports, so the console (its own process) asks the appliance
over a unix socket, and every request goes through the same service functions as the HTTP API.
"""
