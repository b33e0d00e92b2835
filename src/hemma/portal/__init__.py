"""The patient's side: the patient's own page (`/p`) and the login codes staff hand out."""
