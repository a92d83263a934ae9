"""One module per tool, each implementing scanners.interface.Scanner."""
