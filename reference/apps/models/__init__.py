"""The models the reference's model servers run, behind one loader (`loader`) and one batcher (`batcher`):
the intent classifier of seed 001 (all-MiniLM-L6-v2 sentence embeddings and a linear classifier trained
on kproof's own utterances) and the VADER sentiment of seed 002."""
