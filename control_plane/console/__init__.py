"""The browser console (SPEC, Console): ``GET /`` and its static files, shipped inside the package."""
