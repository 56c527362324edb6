"""`python -m gan ...` (also what torchrun runs: `torchrun ... -m gan train ...`)."""

from gan.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
