"""Where a place is: addresses looked up to positions (a geocoding service, or the bundled
table of Swedish postal codes). Depends on nothing else of Hemma's, so patients and planning
may both use it."""
