"""Register: evaluate the tuned model on the test split, gate it against the champion, write
the baseline statistics and expected predictions, and create the Model Registry package."""
