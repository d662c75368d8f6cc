"""The console's pages, by who uses them: sign-in, agencies, operators."""
