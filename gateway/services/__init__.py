"""Services: the product logic behind the routes. They never import FastAPI."""
