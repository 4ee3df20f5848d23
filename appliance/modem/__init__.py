"""modem"""
