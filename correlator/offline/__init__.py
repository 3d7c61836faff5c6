"""What only offline commands use, kept out of the daemon's imports: the labeled corpus generator,
training, rule mining, the rule test runner, replay of recordings and its scores, and their commands."""
