"""Care requests, visits, staff shifts, travel times and the daily visit plan."""
