"""The address book and the blacklist, as services of the running appliance."""
