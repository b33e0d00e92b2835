"""The visit planner's pure core: values in, values out — no database, no clock.

`vrptw` solves the classic vehicle routing problem with time windows (the literature's
benchmark, through PyVRP's hybrid genetic search)."""
