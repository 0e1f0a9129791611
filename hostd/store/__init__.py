"""Rows and their rules: the database and migrations, models, validation, users, projects,
config vars, password and token services.
"""
