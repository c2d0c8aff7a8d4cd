"""``toxft survey``: a model's most downloaded fine-tunes from the Hub's model tree, chosen by the
paper's rules, written as a study, evaluated, and ranked by how much more toxic each became."""
