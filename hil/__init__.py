"""Hardware in the loop: device interfaces, protocol clients, emulators and the pacer (to come)."""
