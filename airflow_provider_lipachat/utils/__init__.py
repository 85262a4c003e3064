"""What the operators, sensors, triggers and notifier share: fan-out, checkpoints, message ids, delivery decisions."""
