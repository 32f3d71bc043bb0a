"""Fiscal printers: the device interface, the Datecs driver and its simulator."""
