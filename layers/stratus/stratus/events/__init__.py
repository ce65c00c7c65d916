"""Registry change events: their schema, how they are derived from the table's stream, and their publishing."""
