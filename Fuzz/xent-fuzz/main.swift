// Placeholder replaced by the fuzzing helper.
