"""Messages: patient and team, staff and staff, per patient."""
