"""Data sources behind one small protocol (see ``base``)."""
