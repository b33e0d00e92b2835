"""What must be in the home before the patient is (the logistics checklist), and the
homecoming call (hemkomstsamtal) on the first evening."""
