"""The daily remote round (distansrond): the worklist ranked by risk, and decisions."""
