"""``python -m cinflow``: the same command line as the ``cinflow`` script."""

from .cli import entry

if __name__ == "__main__":
    entry()
