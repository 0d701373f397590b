"""The training stages, each a function that trains the encoders in place and returns its history
(``semcom_sim.training.trainer`` runs them in order and caches the result)."""
