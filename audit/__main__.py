"""`python -m audit`: the `clip-audit` command line without the installed entry point."""
from audit.cli import main

if __name__ == "__main__":
    main()
