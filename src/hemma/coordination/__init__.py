"""Live coordination: the event stream that keeps open pages up to date."""
