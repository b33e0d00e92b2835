"""Home-ward episodes: assessment, admission, the virtual bed list, discharge, return."""
