"""Rich renderables of events and state. Views read the model; they never change it."""
