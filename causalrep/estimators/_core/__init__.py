"""The private core every estimator builds on: the template, the training loop,
progress, threads, checkpoints and the networks and VAE pieces methods share."""
