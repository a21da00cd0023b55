"""LOAD DATA LOCAL INFILE: the statement and the rows it writes (statement.py) and MySQL's field
and line rules for the client's file, read incrementally (file_format.py)."""
