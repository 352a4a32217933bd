"""The platform's footprint on the machine: the processes it starts and their records (so that a killed
platform's leftovers are found and stopped), private files, and one platform per state directory."""
