"""Stand-ins for hardware that this machine does not have. They publish what a device's own
software would publish (ResourceSlices, metrics); every decision stays with the real controllers."""
