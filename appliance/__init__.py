"""cardgate: an SMS gateway appliance on a pool of USB GSM modems."""

__version__ = "0.1.0"
