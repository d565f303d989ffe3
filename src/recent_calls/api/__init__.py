"""The HTTP service: the app, its request pipeline, and one module per endpoint family."""
