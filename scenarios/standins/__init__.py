"""Small HTTP services that stand in for the parts of a cloud nova and Ironic talk to."""
