"""python -m services.deadlines: build the app and run it."""

from services.deadlines.app import main

main()
