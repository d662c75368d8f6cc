"""python -m services.casework: build the app and run it."""

from services.casework.app import main

main()
