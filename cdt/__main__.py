"""`python -m cdt` runs the command line."""

from cdt.main import main

main()
