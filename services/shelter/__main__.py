"""python -m services.shelter: build the app and run it."""

from services.shelter.app import main

main()
