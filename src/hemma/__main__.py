"""`python -m hemma …`: the `hemma` command, where its script is not on the PATH."""

if __name__ == "__main__":  # not when uvicorn's worker processes import the main module
    from hemma.cli import main

    main(prog_name="hemma")
