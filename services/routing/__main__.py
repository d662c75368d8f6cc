"""python -m services.routing: build the app and run it."""

from services.routing.app import main

main()
