"""python -m services.intake: build the app and run it."""

from services.intake.app import main

main()
