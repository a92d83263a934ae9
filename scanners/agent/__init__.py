"""The agent stage: checks on the change itself that no scanner makes. One module per check family."""
