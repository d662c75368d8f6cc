"""python -m services.familycentre: build the app and run it."""

from services.familycentre.app import main

main()
