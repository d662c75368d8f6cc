"""python -m services.console: build the app and run it."""

from services.console.app import main

main()
