"""Pure retail rules shared by central and the stores: values in, decisions out.

Nothing here touches Flask, SQLAlchemy, paho, sqlite3, the clock or the environment.
"""
