"""The learning engines: pretraining, fine-tuning, the spectral path, dense prediction, embedding, evaluation and metrics."""
