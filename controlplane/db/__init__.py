"""Everything that talks SQL: the engine, the tables, the queries and conditional updates, and
the migrations."""
